// linkctl's command plumbing: the registry lists commands in their order,
// parsing chooses the command to run with its options filled in, the
// failure that was already reported is told apart, and a failed call reads
// "<what>: CODE: message".
#include "command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace linkage::cli {
namespace {

std::vector<std::string>& Ran() {
  static std::vector<std::string> ran;
  return ran;
}

void AddLater(CLI::App& app, CommandContext& ctx) {
  auto n = std::make_shared<int>(0);
  CLI::App* cmd = app.add_subcommand("later", "Listed second");
  cmd->add_option("--n", *n, "A number");
  ctx.OnRun(cmd, [n] {
    Ran().push_back("later " + std::to_string(*n));
    return absl::OkStatus();
  });
}

void AddEarlier(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("earlier", "Listed first");
  CLI::App* sub = cmd->add_subcommand("sub", "A nested command");
  cmd->require_subcommand(1);
  ctx.OnRun(sub, [&ctx] {
    Ran().push_back("earlier sub " + ctx.global.server);
    return AlreadyReported();
  });
}

const bool kAdded = AddCommand(20, AddLater) && AddCommand(10, AddEarlier);

struct Parsed {
  CLI::App app{"test"};
  CommandContext ctx;
  explicit Parsed(std::vector<std::string> args) {
    app.add_option("--server", ctx.global.server);
    RegisterCommands(app, ctx);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first.
    app.parse(args);
  }
};

TEST(CommandTest, CommandsAreListedInTheirOrder) {
  ASSERT_TRUE(kAdded);
  CLI::App app{"test"};
  CommandContext ctx;
  RegisterCommands(app, ctx);
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  EXPECT_EQ(names, (std::vector<std::string>{"earlier", "later"}));
  EXPECT_FALSE(ctx.chosen());
}

TEST(CommandTest, TheParsedCommandRunsWithItsOptions) {
  Ran().clear();
  Parsed later({"later", "--n", "7"});
  ASSERT_TRUE(later.ctx.chosen());
  EXPECT_TRUE(later.ctx.RunChosen().ok());
  Parsed nested({"--server", "h:1", "earlier", "sub"});
  const absl::Status status = nested.ctx.RunChosen();
  EXPECT_TRUE(IsAlreadyReported(status)) << status;
  EXPECT_EQ(Ran(), (std::vector<std::string>{"later 7", "earlier sub h:1"}));
}

TEST(CommandTest, OnlyAlreadyReportedIsSilent) {
  EXPECT_TRUE(IsAlreadyReported(AlreadyReported()));
  EXPECT_FALSE(IsAlreadyReported(absl::UnknownError("already reported")));
  EXPECT_FALSE(IsAlreadyReported(absl::OkStatus()));
}

TEST(CommandTest, AFailedCallReadsWhatCodeAndMessage) {
  const absl::Status st =
      RpcError("GetStats", grpc::Status(grpc::StatusCode::UNAVAILABLE, "linkd is down"));
  EXPECT_EQ(st, absl::UnavailableError("GetStats: UNAVAILABLE: linkd is down"));

  CommandContext ctx;
  ctx.global.server = "127.0.0.1:1";  // Nothing listens there.
  absl::StatusOr<v1::GetStatsResponse> r =
      Call(ctx, "GetStats", &AdminStub::GetStats, v1::GetStatsRequest(), 5);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().substr(0, 10), "GetStats: ") << r.status();
}

}  // namespace
}  // namespace linkage::cli
