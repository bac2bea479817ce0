// linkctl's bulk-matching pipeline against a fake LinkageService over a
// real channel: answers that come back out of order, on several streams,
// reach the sink in input order; a stream the server drops and a sink that
// refuses stop the run with what was handed on a prefix of the input.
#include "bulk_match.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "linkage/v1/service.grpc.pb.h"

namespace linkage::cli {
namespace {

// Answers each request with the record's id in result.model_version.
// Holds up to two batches per stream and answers the later one first, the
// requests of a batch in reverse order, after a random pause. With
// `stop_after` > 0 it ends the stream once it has answered that many
// batches, leaving the rest unanswered.
class ScramblingService final : public v1::LinkageService::Service {
 public:
  explicit ScramblingService(int stop_after = 0) : stop_after_(stop_after) {}

  grpc::Status MatchBatchStream(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::MatchBatchResponse, v1::MatchBatchRequest>* stream) override {
    std::mt19937 random(std::hash<std::thread::id>()(std::this_thread::get_id()));
    std::vector<v1::MatchBatchRequest> held;
    int answered = 0;
    auto answer = [&](const v1::MatchBatchRequest& batch) {
      std::this_thread::sleep_for(std::chrono::microseconds(random() % 2000));
      v1::MatchBatchResponse out;
      for (int i = batch.requests_size() - 1; i >= 0; --i) {
        v1::MatchStreamResponse* r = out.add_responses();
        r->set_request_id(batch.requests(i).request_id());
        r->mutable_result()->set_model_version(batch.requests(i).record().record_id());
        {
          std::lock_guard<std::mutex> lock(mu_);
          datasets_.push_back(batch.requests(i).dataset());
        }
      }
      ++answered;
      return stream->Write(out);
    };
    v1::MatchBatchRequest batch;
    while (stream->Read(&batch)) {
      held.push_back(batch);
      if (held.size() == 2) {
        if (!answer(held[1]) || !answer(held[0])) break;
        held.clear();
      }
      if (stop_after_ > 0 && answered >= stop_after_) return grpc::Status::OK;
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) answer(*it);
    return grpc::Status::OK;
  }

  std::vector<std::string> datasets() {
    std::lock_guard<std::mutex> lock(mu_);
    return datasets_;
  }

 private:
  const int stop_after_;
  std::mutex mu_;
  std::vector<std::string> datasets_;
};

class BulkMatchTest : public ::testing::Test {
 protected:
  void Start(int stop_after = 0) {
    service_ = std::make_unique<ScramblingService>(stop_after);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  // Rows R0..R(n-1); every `bad`-th row (if bad > 0) could not be read.
  static std::vector<ReadRow> Rows(int n, int bad = 0) {
    std::vector<ReadRow> rows(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      rows[static_cast<size_t>(i)].line = i + 2;
      rows[static_cast<size_t>(i)].record.set_record_id("R" + std::to_string(i));
      if (bad > 0 && i % bad == 0) rows[static_cast<size_t>(i)].error = "unreadable";
    }
    return rows;
  }
  // A source over `rows`, `chunk` at a time.
  static RowSource Source(std::vector<ReadRow> rows, size_t chunk) {
    auto held = std::make_shared<std::vector<ReadRow>>(std::move(rows));
    auto next = std::make_shared<size_t>(0);
    return [held, next, chunk](std::vector<ReadRow>* out) -> absl::StatusOr<bool> {
      for (size_t end = std::min(held->size(), *next + chunk); *next < end; ++*next)
        out->push_back((*held)[*next]);
      return *next < held->size();
    };
  }
  static void Fill(const ReadRow&, v1::MatchStreamRequest* request) {
    request->set_dataset("register");
  }

  std::unique_ptr<ScramblingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BulkMatchTest, AnswersReachTheSinkInInputOrderWithTheirRows) {
  Start();
  BulkMatchOptions options;
  options.streams = 3;
  options.batch = 7;
  options.in_flight = 21;  // Three batches per stream.
  std::vector<BulkResult> seen;
  BulkMatchRun run =
      BulkMatch(channel_, options, Source(Rows(1000, 37), 50), Fill, [&](BulkResult result) {
        seen.push_back(std::move(result));
        return absl::OkStatus();
      });
  ASSERT_TRUE(run.status().ok()) << run.status();
  EXPECT_EQ(run.rows_read, 1000);
  EXPECT_EQ(run.rows_done, 1000);
  ASSERT_EQ(seen.size(), 1000u);
  for (size_t i = 0; i < seen.size(); ++i) {
    const BulkResult& r = seen[i];
    EXPECT_EQ(r.index, static_cast<int64_t>(i));
    EXPECT_EQ(r.row.record.record_id(), "R" + std::to_string(i));
    EXPECT_EQ(r.row.line, static_cast<int64_t>(i) + 2);
    if (i % 37 == 0) {
      EXPECT_FALSE(r.response.has_value()) << i;  // Unreadable: never sent.
      EXPECT_EQ(r.row.error, "unreadable");
    } else {
      ASSERT_TRUE(r.response.has_value()) << i;
      EXPECT_EQ(r.response->result().model_version(), r.row.record.record_id());
    }
  }
  std::vector<std::string> datasets = service_->datasets();
  EXPECT_EQ(datasets.size(), 1000u - 28u);  // 28 rows of 1000 are multiples of 37.
  EXPECT_TRUE(std::all_of(datasets.begin(), datasets.end(),
                          [](const std::string& d) { return d == "register"; }));
}

TEST_F(BulkMatchTest, ARecordSourceKeepsItsOrder) {
  Start();
  std::vector<v1::PersonRecord> records(300);
  for (size_t i = 0; i < records.size(); ++i) records[i].set_record_id("P" + std::to_string(i));
  int64_t next = 0;
  BulkMatchRun run =
      BulkMatch(channel_, BulkMatchOptions(), RecordSource(records), Fill, [&](BulkResult result) {
        EXPECT_EQ(result.index, next);
        EXPECT_EQ(result.row.record.record_id(), "P" + std::to_string(next));
        EXPECT_EQ(result.response->result().model_version(), result.row.record.record_id());
        ++next;
        return absl::OkStatus();
      });
  ASSERT_TRUE(run.status().ok()) << run.status();
  EXPECT_EQ(next, 300);
}

TEST_F(BulkMatchTest, AStreamEndedEarlyFailsTheRunAfterAnInOrderPrefix) {
  Start(/*stop_after=*/2);
  BulkMatchOptions options;
  options.streams = 2;
  options.batch = 10;
  options.in_flight = 40;
  options.what = "test";
  int64_t next = 0;
  BulkMatchRun run =
      BulkMatch(channel_, options, Source(Rows(500), 64), Fill, [&](BulkResult result) {
        EXPECT_EQ(result.index, next++);
        return absl::OkStatus();
      });
  EXPECT_FALSE(run.match_status.ok());
  EXPECT_NE(run.match_status.message().find("test stream"), std::string::npos) << run.match_status;
  EXPECT_FALSE(run.status().ok());
  EXPECT_EQ(run.rows_done, next);
  EXPECT_LT(run.rows_done, 500);
}

TEST_F(BulkMatchTest, ASinkErrorStopsTheRunAndIsReturned) {
  Start();
  int64_t handed = 0;
  BulkMatchRun run = BulkMatch(channel_, BulkMatchOptions(), Source(Rows(50000), 512), Fill,
                               [&](BulkResult result) {
                                 if (result.index == 100) return absl::DataLossError("disk gone");
                                 ++handed;
                                 return absl::OkStatus();
                               });
  EXPECT_EQ(run.match_status, absl::DataLossError("disk gone"));
  EXPECT_EQ(run.status(), absl::DataLossError("disk gone"));
  EXPECT_EQ(run.rows_done, 100);
  EXPECT_EQ(handed, 100);
  EXPECT_LT(run.rows_read, 50000);
}

TEST_F(BulkMatchTest, AReadErrorStillMatchesTheRowsReadBeforeIt) {
  Start();
  auto rows = std::make_shared<RowSource>(Source(Rows(120), 50));
  int calls = 0;
  RowSource failing = [&](std::vector<ReadRow>* out) -> absl::StatusOr<bool> {
    if (++calls == 3) return absl::InvalidArgumentError("bad bytes");
    return (*rows)(out);
  };
  int64_t handed = 0;
  BulkMatchRun run = BulkMatch(channel_, BulkMatchOptions(), failing, Fill, [&](BulkResult) {
    ++handed;
    return absl::OkStatus();
  });
  EXPECT_EQ(run.read_status, absl::InvalidArgumentError("bad bytes"));
  EXPECT_TRUE(run.match_status.ok()) << run.match_status;
  EXPECT_EQ(run.rows_read, 100);
  EXPECT_EQ(handed, 100);
}

}  // namespace
}  // namespace linkage::cli
