// The metrics and probe port (--metrics-listen): a real server, a few
// Match/Verify/stream calls, then /metrics read back over HTTP and checked
// for the families, their labels, values that moved, promtool's lint, and
// the absence of any person data; /readyz while draining.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "linkage/server.h"
#include "linkage/v1/service.grpc.pb.h"
#include "test_util.h"

namespace linkage {
namespace {

using testing::Person;

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::ServerConfig config;
    config.set_listen("127.0.0.1:0");
    config.set_metrics_listen("127.0.0.1:0");
    config.set_db(dir_.Sub("db"));
    config.set_shutdown_grace_seconds(3);
    auto server = service::Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    linkage_ = v1::LinkageService::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->metrics_port());
    client.set_read_timeout(5, 0);
    return client.Get(path);
  }

  std::string Scrape() {
    httplib::Result r = Get("/metrics");
    EXPECT_TRUE(r) << "no answer from /metrics";
    if (!r) return "";
    EXPECT_EQ(r->status, 200);
    return r->body;
  }

  testing::TempDir dir_;
  std::unique_ptr<service::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::LinkageService::Stub> linkage_;
};

TEST_F(MetricsTest, FamiliesLabelsValuesAndNoPersonData) {
  {
    v1::UpsertRecordsRequest req;
    req.set_dataset("register");
    *req.add_records() = Person("R1", "Nguyễn Thị Hòa", "12/05/1948", "006148003121",
                                "Phường Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
    *req.add_records() = Person("R2", "Triệu Văn Sơn", "02/02/1930", "006030000517",
                                "Xã Bằng Thành, Thái Nguyên", v1::SEX_MALE);
    v1::UpsertRecordsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->UpsertRecords(&ctx, req, &resp).ok());
  }
  for (int i = 0; i < 3; ++i) {
    v1::MatchRequest req;
    req.set_dataset("register");
    *req.mutable_record() =
        Person("Q1", "Nguyễn Thị Hoà", "12/05/1948", "", "Đức Xuân, Thái Nguyên", v1::SEX_FEMALE);
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Match(&ctx, req, &resp).ok());
  }
  {
    v1::VerifyRequest req;
    req.set_dataset("register");
    *req.mutable_claim() = Person("C1", "Triệu Văn Sơn", "02/02/1930", "006030000517",
                                  "Xã Bằng Thành, Thái Nguyên", v1::SEX_MALE);
    v1::VerifyResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Verify(&ctx, req, &resp).ok());
  }
  {
    v1::MatchRequest req;  // No dataset: InvalidArgument, counted with its code.
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    EXPECT_FALSE(linkage_->Match(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    auto stream = linkage_->MatchStream(&ctx);
    for (int i = 0; i < 2; ++i) {
      v1::MatchStreamRequest req;
      req.set_request_id("s" + std::to_string(i));
      req.set_dataset("register");
      *req.mutable_record() =
          Person("Q2", "Triệu Văn Sơn", "02/02/1930", "", "Bằng Thành", v1::SEX_MALE);
      ASSERT_TRUE(stream->Write(req));
    }
    stream->WritesDone();
    v1::MatchStreamResponse resp;
    int answers = 0;
    while (stream->Read(&resp)) ++answers;
    EXPECT_EQ(answers, 2);
    ASSERT_TRUE(stream->Finish().ok());
  }

  const std::string text = Scrape();
  auto has = [&](const std::string& s) { return text.find(s) != std::string::npos; };
  EXPECT_TRUE(has("# TYPE grpc_server_started_total counter")) << text;
  EXPECT_TRUE(has("# TYPE grpc_server_handled_total counter"));
  EXPECT_TRUE(has("# TYPE grpc_server_handling_seconds histogram"));
  EXPECT_TRUE(
      has("grpc_server_started_total{grpc_method=\"Match\",grpc_service=\"linkage.v1."
          "LinkageService\",grpc_type=\"unary\"} 4"))
      << text;
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Match\","
          "grpc_service=\"linkage.v1.LinkageService\",grpc_type=\"unary\"} 3"));
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"Match\","
          "grpc_service=\"linkage.v1.LinkageService\",grpc_type=\"unary\"} 1"));
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"MatchStream\","
          "grpc_service=\"linkage.v1.LinkageService\",grpc_type=\"bidi_stream\"} 1"));
  EXPECT_TRUE(has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Verify\""));
  EXPECT_TRUE(has("grpc_server_handling_seconds_count{grpc_method=\"Verify\""));
  EXPECT_TRUE(has("linkd_model_info{version=\""));
  EXPECT_TRUE(has("# TYPE linkd_decisions_total counter"));
  EXPECT_TRUE(has("linkd_decisions_total{decision=\"BAND_MATCH\",rpc=\"Match\"} 3")) << text;
  EXPECT_TRUE(has("linkd_decisions_total{decision=\"VERIFIED\",rpc=\"Verify\"} 1"));
  EXPECT_TRUE(has("rpc=\"MatchStream\"}"));
  EXPECT_TRUE(has("linkd_ready 1"));
  EXPECT_TRUE(has("linkd_dataset_records{dataset=\"register\"} 2"));
  EXPECT_TRUE(has("linkd_match_view_ready{dataset=\"register\"} 1"));
  EXPECT_TRUE(has("linkd_match_view_records{dataset=\"register\"} 2"));
  EXPECT_TRUE(has("linkd_rocksdb_sst_bytes{cf="));
  EXPECT_TRUE(has("linkd_storage_writable 1"));
  EXPECT_TRUE(has("linkd_storage_background_errors 0"));
  EXPECT_TRUE(has("linkd_audit_entries "));

  // No person data: no record id, name, ID number or address.
  for (const char* secret : {"R1", "R2", "Q1", "C1", "Nguy", "Triệu", "Sơn", "006148003121",
                             "006030000517", "Thái Nguyên", "1948", "1930"}) {
    EXPECT_FALSE(has(secret)) << secret;
  }

  // promtool's lint, when the Prometheus package is installed.
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus): lint skipped";
  }
  const std::string file = dir_.Sub("metrics.txt");
  std::ofstream(file) << text;
  const std::string command = "promtool check metrics < " + file + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  EXPECT_EQ(pclose(pipe), 0) << out;
  EXPECT_EQ(out, "") << out;
}

TEST_F(MetricsTest, ProbesAndNotServingWhileDraining) {
  httplib::Result live = Get("/healthz");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  httplib::Result ready = Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "SERVING\n");

  // An open stream keeps the server draining for the grace period.
  grpc::ClientContext ctx;
  auto stream = linkage_->MatchStream(&ctx);
  v1::MatchStreamRequest req;
  req.set_request_id("s");
  req.set_dataset("register");
  *req.mutable_record() = Person("Q", "Lý Kim", "01/01/1950", "", "Bắc Kạn", v1::SEX_MALE);
  ASSERT_TRUE(stream->Write(req));
  v1::MatchStreamResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::thread stopper([this] { server_->Shutdown(); });
  int status = 0;
  for (int i = 0; i < 200 && status != 503; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    httplib::Result r = Get("/readyz");
    if (r) status = r->status;
  }
  EXPECT_EQ(status, 503);
  ctx.TryCancel();
  stopper.join();
}

}  // namespace
}  // namespace linkage
