#include "command.h"

#include <map>
#include <utility>

#include "absl/strings/cord.h"
#include "base/status_macros.h"

namespace linkage::cli {
namespace {

constexpr char kReportedPayload[] = "type.linkd/linkctl.AlreadyReported";

// Function-local, so it exists before the first LINKCTL_COMMAND runs.
std::multimap<int, RegisterFunction>& Commands() {
  static auto* commands = new std::multimap<int, RegisterFunction>();
  return *commands;
}

}  // namespace

std::shared_ptr<grpc::Channel> CommandContext::channel() {
  std::call_once(channel_once_, [this] { channel_ = Connect(global.server, global.security); });
  return channel_;
}

void CommandContext::OnRun(CLI::App* command, RunFunction run) {
  command->callback([this, run = std::move(run)] { chosen_ = run; });
}

absl::Status CommandContext::RunChosen() {
  if (!chosen_) return absl::FailedPreconditionError("no command chosen");
  return chosen_();
}

bool AddCommand(int order, RegisterFunction add) {
  Commands().emplace(order, add);
  return true;
}

void RegisterCommands(CLI::App& app, CommandContext& ctx) {
  for (const auto& [order, add] : Commands()) add(app, ctx);
}

absl::Status AlreadyReported() {
  absl::Status status = absl::UnknownError("already reported");
  status.SetPayload(kReportedPayload, absl::Cord());
  return status;
}

bool IsAlreadyReported(const absl::Status& status) {
  return status.GetPayload(kReportedPayload).has_value();
}

absl::StatusOr<v1::Model> FetchModel(CommandContext& ctx) {
  v1::GetModelResponse response;
  LINKD_ASSIGN_OR_RETURN(response,
                         Call(ctx, "GetModel", &AdminStub::GetModel, v1::GetModelRequest()));
  return std::move(*response.mutable_model());
}

void AddDateFlags(CLI::App* cmd, DateFlags* flags) {
  cmd->add_flag(
      "--lenient-dates", flags->lenient,
      "Keep what can be read of a mistyped birth_date (the default; kept for old scripts)");
  cmd->add_flag("--strict-dates", flags->strict,
                "Refuse a row whose birth_date cannot be read whole, instead of keeping its "
                "readable parts and flagging it");
}

}  // namespace linkage::cli
