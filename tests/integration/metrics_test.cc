// The metrics and probe port (--metrics-listen): a real server, a few
// Match/Verify/stream calls, then /metrics read back over HTTP and checked
// for the families, their labels, values that moved, promtool's lint, and
// the absence of any person data; /readyz while draining.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
  void SetUp() override { Start(0); }

  // (Re)starts the server on the same database; `max_block_size` 0 keeps
  // the default.
  void Start(int max_block_size) {
    if (server_) server_->Shutdown();
    server_.reset();
    v1::ServerConfig config;
    config.set_listen("127.0.0.1:0");
    config.set_metrics_listen("127.0.0.1:0");
    config.set_db(dir_.Sub("db"));
    config.set_shutdown_grace_seconds(3);
    if (max_block_size > 0) config.set_max_block_size(max_block_size);
    auto server = service::Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->metrics_port(), 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    linkage_ = v1::LinkageService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
    // The views load in the background: wait for SERVING.
    for (int i = 0; i < 500; ++i) {
      httplib::Result r = Get("/readyz");
      if (r && r->status == 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Upsert(const std::vector<v1::PersonRecord>& records) {
    v1::UpsertRecordsRequest req;
    req.set_dataset("register");
    for (const v1::PersonRecord& r : records) *req.add_records() = r;
    v1::UpsertRecordsResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->UpsertRecords(&ctx, req, &resp).ok());
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
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// The value of the sample that `text` has for `series` (the exact name and
// labels), or -1.
double Sample(const std::string& text, const std::string& series) {
  const std::string at = "\n" + series + " ";
  const size_t pos = text.find(at);
  if (pos == std::string::npos) return -1;
  return std::strtod(text.c_str() + pos + at.size(), nullptr);
}

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
    v1::MatchRequest req;  // A day past the month's end: flagged, still answered.
    req.set_dataset("register");
    *req.mutable_record() =
        Person("Q3", "Nguyễn Thị Hòa", "31/02/1948", "", "Đức Xuân", v1::SEX_FEMALE);
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Match(&ctx, req, &resp).ok());
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
          "LinkageService\",grpc_type=\"unary\"} 5"))
      << text;
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Match\","
          "grpc_service=\"linkage.v1.LinkageService\",grpc_type=\"unary\"} 4"));
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
  EXPECT_GE(Sample(text, "linkd_decisions_total{decision=\"BAND_MATCH\",rpc=\"Match\"}"), 3)
      << text;
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
  // What blocking met: every query counted (4 Match, 1 Verify, 2 stream
  // requests), candidates per query as a histogram, nothing skipped.
  EXPECT_EQ(Sample(text, "linkd_queries_total"), 7) << text;
  EXPECT_TRUE(has("# TYPE linkd_query_candidates histogram"));
  EXPECT_EQ(Sample(text, "linkd_query_candidates_count"), 7);
  EXPECT_EQ(Sample(text, "linkd_query_candidates_bucket{le=\"+Inf\"}"), 7);
  EXPECT_EQ(Sample(text, "linkd_query_candidates_bucket{le=\"0\"}"), 0);
  EXPECT_GE(Sample(text, "linkd_query_candidates_sum"), 7);
  EXPECT_EQ(Sample(text, "linkd_blocks_skipped_oversized_total"), 0);
  EXPECT_EQ(Sample(text, "linkd_candidates_capped_total"), 0);
  EXPECT_EQ(Sample(text, "linkd_answer_flags_total{flag=\"DATE_IMPOSSIBLE_DAY\",kind=\"match\"}"),
            1)
      << text;
  // RocksDB's compaction debt and stalls.
  EXPECT_TRUE(has("linkd_rocksdb_pending_compaction_bytes{cf=\"records\"}")) << text;
  EXPECT_EQ(Sample(text, "linkd_rocksdb_write_stops_total{cf=\"records\"}"), 0);
  EXPECT_TRUE(has("linkd_rocksdb_write_slowdowns_total{cf=\"records\"}"));
  EXPECT_EQ(Sample(text, "linkd_rocksdb_write_stopped"), 0);
  EXPECT_TRUE(has("linkd_rocksdb_running_compactions "));
  EXPECT_TRUE(has("linkd_rocksdb_write_stall_seconds_total "));

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

// Jobs' progress and outcomes, kept across a restart; blocks too big to
// read counted.
TEST_F(MetricsTest, JobsAndOversizedBlocks) {
  std::vector<v1::PersonRecord> people;
  for (int i = 0; i < 6; ++i) {
    people.push_back(Person("R" + std::to_string(i), i % 2 ? "Lò Văn Pọm" : "Hà Thị Mai",
                            "0" + std::to_string(i + 1) + "/03/1950", "",
                            "Xã Bằng Thành, Thái Nguyên", i % 2 ? v1::SEX_MALE : v1::SEX_FEMALE));
  }
  Upsert(people);
  const double before = std::time(nullptr);
  {
    v1::BackupRequest req;
    req.set_dest(dir_.Sub("backups"));
    v1::BackupResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->Backup(&ctx, req, &resp).ok());
  }
  {
    v1::BackupRequest req;  // Inside the database directory: refused, a failed run.
    req.set_dest(dir_.Sub("db/inside"));
    v1::BackupResponse resp;
    grpc::ClientContext ctx;
    EXPECT_FALSE(admin_->Backup(&ctx, req, &resp).ok());
  }
  {
    v1::ReindexRequest req;
    v1::ReindexResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(admin_->Reindex(&ctx, req, &resp).ok());
  }
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "linkd_job_runs_total{job=\"Backup\",outcome=\"OK\"}"), 1) << text;
  EXPECT_EQ(Sample(text, "linkd_job_runs_total{job=\"Backup\",outcome=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(Sample(text, "linkd_job_running{job=\"Backup\"}"), 0);
  EXPECT_GE(Sample(text, "linkd_job_last_success_timestamp_seconds{job=\"Backup\"}"), before - 1);
  EXPECT_GE(Sample(text, "linkd_job_last_failure_timestamp_seconds{job=\"Backup\"}"), before - 1);
  EXPECT_EQ(Sample(text, "linkd_job_runs_total{job=\"Reindex\",outcome=\"OK\"}"), 1);
  EXPECT_EQ(Sample(text, "linkd_job_total{job=\"Reindex\"}"), 6) << text;
  EXPECT_EQ(Sample(text, "linkd_job_done{job=\"Reindex\"}"), 6);

  // Restarted with blocks of at most 1 record: the commune's and the
  // year's blocks (6 records) are skipped. The last success is remembered.
  Start(1);
  text = Scrape();
  EXPECT_GE(Sample(text, "linkd_job_last_success_timestamp_seconds{job=\"Backup\"}"), before - 1)
      << text;
  EXPECT_EQ(Sample(text, "linkd_job_runs_total{job=\"Backup\",outcome=\"OK\"}"), -1);
  {
    v1::MatchRequest req;
    req.set_dataset("register");
    *req.mutable_record() =
        Person("Q", "Hà Thị Mai", "01/03/1950", "", "Xã Bằng Thành, Thái Nguyên", v1::SEX_FEMALE);
    v1::MatchResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(linkage_->Match(&ctx, req, &resp).ok());
    EXPECT_TRUE(std::count(resp.result().flags().begin(), resp.result().flags().end(),
                           "BLOCK_OVERSIZED") == 1);
  }
  text = Scrape();
  EXPECT_GT(Sample(text, "linkd_blocks_skipped_oversized_total"), 0) << text;
  EXPECT_EQ(Sample(text, "linkd_answer_flags_total{flag=\"BLOCK_OVERSIZED\",kind=\"match\"}"), 1);
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
