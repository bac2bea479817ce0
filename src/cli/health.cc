// linkctl health: whether linkd is serving (exit 0 if so), asking again
// for up to --wait seconds.
#include <chrono>
#include <cstdio>
#include <thread>

#include "command.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace linkage::cli {
namespace {

absl::Status Health(CommandContext& ctx, double wait_seconds) {
  using grpc::health::v1::HealthCheckResponse;
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(wait_seconds * 1000));
  for (;;) {
    absl::StatusOr<HealthCheckResponse> resp =
        Call(ctx, "health check of " + ctx.global.server, &grpc::health::v1::Health::Stub::Check,
             grpc::health::v1::HealthCheckRequest(), 2);
    if (resp.ok() && resp->status() == HealthCheckResponse::SERVING) {
      std::printf("SERVING\n");
      return absl::OkStatus();
    }
    if (std::chrono::steady_clock::now() >= until) {
      if (!resp.ok()) return resp.status();
      return absl::UnavailableError(ctx.global.server + " is not serving");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void RegisterHealth(CLI::App& app, CommandContext& ctx) {
  auto wait = std::make_shared<double>(0);
  CLI::App* cmd = app.add_subcommand("health", "Ask whether linkd is serving (exit 0 if so)");
  cmd->add_option("--wait", *wait, "Keep asking for up to this many seconds");
  ctx.OnRun(cmd, [&ctx, wait] { return Health(ctx, *wait); });
}

}  // namespace

LINKCTL_COMMAND(80, RegisterHealth);

}  // namespace linkage::cli
