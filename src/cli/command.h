// What every linkctl command is given, and how a command joins linkctl.
//
// A command lives in one file: it declares its options, adds its CLI11
// subcommand in a registration function and names that function once with
// LINKCTL_COMMAND. main.cc knows no command by name. A command's run
// returns an absl::Status: OK exits 0; an error prints "linkctl: <message>"
// on stderr and exits 1 (AlreadyReported() exits 1 without a message).
// Usage errors (exit 2) are CLI11's, found while parsing.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client.h"
#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {

// Exit codes (DESIGN.md §6).
inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kUsage = 2;

struct GlobalOptions {
  std::string server = "127.0.0.1:50051";  // --server
  double timeout_seconds = 30;             // --timeout: per unary call.
  ChannelSecurity security;                // --tls-ca, --tls-cert, --tls-key, --token-file.
};

// A command's work, run after parsing (its options are filled in then).
using RunFunction = std::function<absl::Status()>;

class CommandContext {
 public:
  GlobalOptions global;  // Filled in by parsing.

  // The channel to linkd (--server), made on first use: commands that call
  // nothing (gen, eval without --input) make none.
  std::shared_ptr<grpc::Channel> channel();

  // Deadline of an ordinary unary call: --timeout.
  double timeout() const { return global.timeout_seconds; }
  // Deadline of an admin job that works through a whole dataset (check,
  // train, dedupe, conflicts): --timeout, but at least an hour.
  double job_timeout() const { return std::max(global.timeout_seconds, 3600.0); }

  // Makes `run` what linkctl does when `command` is on the command line.
  void OnRun(CLI::App* command, RunFunction run);
  // Whether parsing chose a command, and running it. Errors: the command
  // failed (or none was chosen: FailedPrecondition).
  bool chosen() const { return static_cast<bool>(chosen_); }
  absl::Status RunChosen();

 private:
  std::once_flag channel_once_;
  std::shared_ptr<grpc::Channel> channel_;
  RunFunction chosen_;
};

// Adds a command's subcommand(s) to linkctl.
using RegisterFunction = void (*)(CLI::App& app, CommandContext& ctx);
// Adds `add` to linkctl's commands; `order` places the command in --help
// (lower first; the listing is part of the interface). Returns true so that
// it can initialise a static (LINKCTL_COMMAND).
bool AddCommand(int order, RegisterFunction add);
// Calls every added command's registration function, in order.
void RegisterCommands(CLI::App& app, CommandContext& ctx);

#define LINKCTL_CONCAT_INNER_(a, b) a##b
#define LINKCTL_CONCAT_(a, b) LINKCTL_CONCAT_INNER_(a, b)
// Registers a command from its own file, at static initialisation (the
// command files are linked into linkctl as objects, so none is dropped).
#define LINKCTL_COMMAND(order, add)                                                \
  [[maybe_unused]] static const bool LINKCTL_CONCAT_(linkctl_command_, __LINE__) = \
      ::linkage::cli::AddCommand(order, add)

// The error of a command that has already said on stdout why it failed (as
// `check` lists its problems): linkctl exits 1 and prints nothing more.
absl::Status AlreadyReported();
bool IsAlreadyReported(const absl::Status& status);

using AdminStub = v1::AdminService::Stub;
using LinkageStub = v1::LinkageService::Stub;

// One unary call to linkd: a stub of the method's service on the context's
// channel, a deadline `seconds` from now, the call. `what` names the call in
// errors, usually the method ("GetStats"). Errors: the call failed, as
// RpcError(what, status): "<what>: CODE: message", with the call's code.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(CommandContext& ctx, std::string_view what,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request, double seconds) {
  Stub stub(ctx.channel());
  grpc::ClientContext call;
  SetDeadline(call, seconds);
  Response response;
  grpc::Status status = (stub.*method)(&call, request, &response);
  if (!status.ok()) return RpcError(what, status);
  return response;
}

// The same with the --timeout deadline.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> Call(CommandContext& ctx, std::string_view what,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request) {
  return Call(ctx, what, method, request, ctx.timeout());
}

// The model in force on the server. Errors: GetModel failed.
absl::StatusOr<v1::Model> FetchModel(CommandContext& ctx);

// How a command reads birth dates: leniently unless --strict-dates (the old
// --lenient-dates is accepted and means the default). For import and verify.
struct DateFlags {
  bool lenient = false;
  bool strict = false;
};
void AddDateFlags(CLI::App* cmd, DateFlags* flags);

}  // namespace linkage::cli
