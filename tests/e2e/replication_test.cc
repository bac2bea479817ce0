// The replicated log end to end (DESIGN §11): real nats-server processes
// forming a JetStream cluster on loopback, real linkd writers and readers,
// linkctl as the client. Every wait is bounded; each test stops what it
// started.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client.h"
#include "linkage/change_log.h"
#include "linkage/csv.h"
#include "linkage/store.h"
#include "linkage/v1/service.grpc.pb.h"
#include "process.h"
#include "test_util.h"
#include "tls_certs.h"

namespace linkage::testing {
namespace {

using namespace std::chrono_literals;

// A port free now (bound and released): nats-server's cluster routes need
// their ports known before the servers start.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// Polls `done` every 100 ms until it holds or `timeout` passes.
template <typename F>
bool Eventually(F done, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// `servers` nats-server processes with JetStream, clustered when more
// than one.
class NatsCluster {
 public:
  // `extra`: more configuration for every server (tls, authorization).
  NatsCluster(const std::string& dir, int servers, std::string extra = "")
      : dir_(dir), extra_(std::move(extra)) {
    for (int i = 0; i < servers; ++i) {
      client_ports_.push_back(FreePort());
      route_ports_.push_back(FreePort());
    }
    for (int i = 0; i < servers; ++i) Start(i);
  }
  ~NatsCluster() {
    for (auto& p : procs_) {
      if (p != nullptr) p->Signal(SIGKILL);
    }
  }

  std::string urls() const {
    std::string out;
    for (int port : client_ports_) absl::StrAppend(&out, out.empty() ? "" : ",", Url(port));
    return out;
  }
  int size() const { return static_cast<int>(client_ports_.size()); }
  std::string Name(int i) const { return absl::StrCat("n", i + 1); }
  void Kill(int i) {
    procs_[i]->Signal(SIGKILL);
    procs_[i]->Wait();
    procs_[i].reset();
  }
  void Start(int i) {
    const std::string conf = absl::StrCat(dir_, "/", Name(i), ".conf");
    std::string routes;
    for (int port : route_ports_)
      absl::StrAppend(&routes, routes.empty() ? "" : ", ", "nats-route://127.0.0.1:", port);
    std::string text =
        absl::StrCat("server_name: ", Name(i), "\nlisten: 127.0.0.1:", client_ports_[i],
                     "\nmax_payload: 8MB\njetstream { store_dir: \"", dir_, "/", Name(i), "\" }\n",
                     extra_, "\n");
    if (size() > 1) {
      absl::StrAppend(&text, "cluster { name: linkd-test\n  listen: 127.0.0.1:", route_ports_[i],
                      "\n  routes: [", routes, "]\n}\n");
    }
    WriteFile(conf, text);
    if (procs_.size() <= static_cast<size_t>(i)) procs_.resize(i + 1);
    procs_[i] = std::make_unique<Process>(std::vector<std::string>{NATS_SERVER_BIN, "-c", conf},
                                          absl::StrCat(dir_, "/", Name(i), ".out"),
                                          absl::StrCat(dir_, "/", Name(i), ".log"));
  }

 private:
  static std::string Url(int port) { return absl::StrCat("nats://127.0.0.1:", port); }
  std::string dir_, extra_;
  std::vector<int> client_ports_, route_ports_;
  std::vector<std::unique_ptr<Process>> procs_;
};

// One linkd of the topology.
struct Node {
  std::unique_ptr<Process> proc;
  std::string db, log, server;
  std::unique_ptr<v1::LinkageService::Stub> linkage;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(NATS_SERVER_BIN)) GTEST_SKIP() << "no " << NATS_SERVER_BIN;
  }

  // Starts a linkd `role` on `db` against the cluster; nullptr (and a
  // test failure) if it did not come up.
  Node* StartNode(const std::string& name, const std::string& role, NatsCluster& nats,
                  const std::vector<std::string>& extra = {}) {
    auto n = std::make_unique<Node>();
    n->db = dir_.Sub(name + ".db");
    n->log = dir_.Sub(name + ".log");
    std::vector<std::string> argv = {
        LINKD_BIN,    "--db",           n->db,
        "--listen",   "127.0.0.1:0",    "--grace",
        "5",          "--role",         role,
        "--log",      nats.urls(),      "--log-stream",
        "linkd_test", "--log-replicas", std::to_string(nats.size() >= 3 ? 3 : 1)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    n->proc = std::make_unique<Process>(argv, dir_.Sub(name + ".out"), n->log);
    const int port = WaitForPort(n->log, 90s);
    EXPECT_GT(port, 0) << name << " did not start:\n"
                       << ReadFile(n->log) << "\nnats-server n1:\n"
                       << ReadFile(dir_.Sub("n1.log")).substr(0, 4000);
    if (port <= 0) return nullptr;
    n->server = absl::StrCat("127.0.0.1:", port);
    auto channel = grpc::CreateChannel(n->server, grpc::InsecureChannelCredentials());
    n->linkage = v1::LinkageService::NewStub(channel);
    n->admin = v1::AdminService::NewStub(channel);
    nodes_[name] = std::move(n);
    return nodes_[name].get();
  }
  int StopNode(const std::string& name, int sig = SIGTERM) {
    Node* n = nodes_[name].get();
    n->proc->Signal(sig);
    const int code = n->proc->Wait();
    n->proc.reset();
    return code;
  }

  int Linkctl(const Node& n, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {LINKCTL_BIN, "--server", n.server};
    argv.insert(argv.end(), args.begin(), args.end());
    const int code = testing::Run(argv, dir_.Sub("cmd.out"), dir_.Sub("cmd.err"));
    out_ = ReadFile(dir_.Sub("cmd.out"));
    err_ = ReadFile(dir_.Sub("cmd.err"));
    return code;
  }

  v1::GetStatsResponse::Replication Replication(const Node& n) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    v1::GetStatsResponse stats;
    if (!n.admin->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) return {};
    return stats.replication();
  }
  // Waits until `reader` has applied what `writer` has.
  bool CaughtUp(const Node& reader, const Node& writer, std::chrono::milliseconds timeout = 60s) {
    const uint64_t want = Replication(writer).applied_seq();
    return Eventually([&] { return Replication(reader).applied_seq() >= want; }, timeout);
  }

  // Generates `size` register people and a list of `list` rows.
  void Generate(int size, int list) {
    ASSERT_EQ(testing::Run({LINKCTL_BIN, "gen", "--size", std::to_string(size), "--province", "",
                            "--register", dir_.Sub("register.csv"), "--list", dir_.Sub("list.csv"),
                            "--truth", dir_.Sub("truth.csv"), "--list-size", std::to_string(list)},
                           dir_.Sub("gen.out"), dir_.Sub("gen.err")),
              0)
        << ReadFile(dir_.Sub("gen.err"));
  }

  // Every stored record (record, normalized form, updated time) of the
  // stopped node's database, keyed by id.
  std::map<std::string, std::string> Records(const Node& n) {
    index::StoreOptions so;
    so.create_if_missing = false;
    so.match_view = false;
    std::map<std::string, std::string> out;
    auto store = index::Store::Open(so, n.db);
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return out;
    auto st = (*store)->ForEachRecord("register", [&out](const v1::StoredRecord& r) {
      v1::StoredRecord compared = r;
      // The key lists are the index's bookkeeping, which a replica that
      // builds its own index after a reindex may hold in another order.
      compared.clear_block_keys();
      compared.clear_next_block_keys();
      out[r.record().record_id()] = compared.SerializeAsString();
      return true;
    });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  // An import of the register through `writer` in small batches, one
  // call at a time, so that it lasts long enough to be interrupted.
  std::unique_ptr<Process> SlowImport(const Node& writer) {
    return std::make_unique<Process>(
        std::vector<std::string>{LINKCTL_BIN, "--server", writer.server, "import", "--dataset",
                                 "register", "--batch", "200", "--in-flight", "1",
                                 dir_.Sub("register.csv")},
        dir_.Sub("import.out"), dir_.Sub("import.err"));
  }
  // Stops both nodes and compares every record their stores hold.
  void StopAndCompare(const std::string& writer, const std::string& reader, size_t at_least) {
    EXPECT_EQ(StopNode(writer), 0);
    EXPECT_EQ(StopNode(reader), 0);
    const auto want = Records(*nodes_[writer]);
    EXPECT_GT(want.size(), at_least);
    EXPECT_EQ(Records(*nodes_[reader]), want);
  }

  // linkctl check on `n`: every index entry and the match view agree with
  // the records.
  void ExpectConsistent(const Node& n) {
    ASSERT_EQ(Linkctl(n, {"check"}), 0) << err_;
    EXPECT_NE(out_.find(": 0 problems"), std::string::npos) << out_;
  }
  // The stream as the NATS servers report it.
  absl::StatusOr<changelog::ChangeLog::State> LogState(const NatsCluster& nats) {
    changelog::LogOptions lo;
    lo.servers = *changelog::ParseServers(nats.urls());
    lo.stream = "linkd_test";
    auto log = changelog::ChangeLog::Open(lo);
    if (!log.ok()) return log.status();
    return (*log)->GetState();
  }

  TempDir dir_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::string out_, err_;
};

TEST_F(ReplicationTest, ReadersAnswerEveryQueryExactlyAsTheWriter) {
  NatsCluster nats(dir_.Sub(""), 3);
  Generate(20000, 2000);
  Node* writer = StartNode("writer", "writer", nats);
  ASSERT_NE(writer, nullptr);
  Node* r1 = StartNode("reader1", "reader", nats);
  Node* r2 = StartNode("reader2", "reader", nats);
  ASSERT_NE(r1, nullptr);
  ASSERT_NE(r2, nullptr);
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  ASSERT_TRUE(CaughtUp(*r1, *writer));
  ASSERT_TRUE(CaughtUp(*r2, *writer));
  EXPECT_TRUE(Replication(*r1).caught_up()) << Replication(*r1).DebugString();

  // Every list row, matched or verified, on each node: the same bytes.
  std::map<std::string, std::string> answers;
  for (const char* name : {"writer", "reader1", "reader2"}) {
    const std::string out = dir_.Sub(absl::StrCat(name, "-verified.csv"));
    ASSERT_EQ(Linkctl(*nodes_[name], {"verify", "--against", "register", "--input",
                                      dir_.Sub("list.csv"), "--output", out}),
              0)
        << err_;
    answers[name] = ReadFile(out);
    ExpectConsistent(*nodes_[name]);
  }
  EXPECT_GT(answers["writer"].size(), 100000u);
  EXPECT_EQ(answers["reader1"], answers["writer"]);
  EXPECT_EQ(answers["reader2"], answers["writer"]);

  // And every list row as a Match request (with its explanation): the
  // same response, byte for byte, from each node.
  std::vector<v1::PersonRecord> rows;
  CsvHeader header;
  ASSERT_TRUE(CsvParser::ParseAll(ReadFile(dir_.Sub("list.csv")), [&](const CsvRow& row) {
                if (row.row_index == 0) {
                  header = CsvHeader(row.fields);
                  return true;
                }
                v1::PersonRecord& p = rows.emplace_back();
                p.set_record_id(std::string(header.Get(row, "record_id")));
                p.set_full_name(std::string(header.Get(row, "full_name")));
                p.set_birth_date(std::string(header.Get(row, "birth_date")));
                p.set_national_id(std::string(header.Get(row, "national_id")));
                p.set_old_id(std::string(header.Get(row, "old_id")));
                p.set_address(std::string(header.Get(row, "address")));
                return true;
              }).ok());
  ASSERT_GE(rows.size(), 1900u);
  int differing = 0, failed = 0;
  for (const v1::PersonRecord& p : rows) {
    v1::MatchRequest m;
    m.set_dataset("register");
    *m.mutable_record() = p;
    m.set_top_k(5);
    std::string first;
    for (const char* name : {"writer", "reader1", "reader2"}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      v1::MatchResponse r;
      grpc::Status st = nodes_[name]->linkage->Match(&ctx, m, &r);
      if (!st.ok() || r.result().candidates().empty()) ++failed;
      const std::string answer = st.ok() ? r.SerializeAsString() : st.error_message();
      if (first.empty()) {
        first = answer;
      } else if (answer != first) {
        ++differing;
      }
    }
  }
  EXPECT_EQ(differing, 0) << "of " << rows.size() << " Match requests";
  EXPECT_LT(failed, static_cast<int>(rows.size()) * 3 / 20) << "answers with no candidate";

  // A write sent to a reader is refused, naming the role.
  ASSERT_NE(Linkctl(*r1, {"import", "--dataset", "register", dir_.Sub("list.csv")}), 0);
  EXPECT_NE(err_.find("FAILED_PRECONDITION"), std::string::npos) << err_;
  EXPECT_NE(err_.find("read replica"), std::string::npos) << err_;

  for (const char* name : {"writer", "reader1", "reader2"}) EXPECT_EQ(StopNode(name), 0);
  const auto want = Records(*writer);
  EXPECT_GT(want.size(), 19000u);
  EXPECT_EQ(Records(*r1), want);
  EXPECT_EQ(Records(*r2), want);
}

TEST_F(ReplicationTest, AReaderKilledDuringWritesCatchesUpToEqualState) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(20000, 100);
  Node* writer = StartNode("writer", "writer", nats);
  Node* reader = StartNode("reader", "reader", nats);
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  // The import runs while the reader is killed and restarted.
  std::unique_ptr<Process> import = SlowImport(*writer);
  ASSERT_TRUE(Eventually([&] { return Replication(*reader).applied_seq() >= 10; }, 30s));
  EXPECT_EQ(StopNode("reader", SIGKILL), 128 + SIGKILL);
  const uint64_t applied_at_kill = Replication(*writer).applied_seq();
  reader = StartNode("reader", "reader", nats);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(import->Wait(), 0) << ReadFile(dir_.Sub("import.err"));
  EXPECT_GT(Replication(*writer).applied_seq(), applied_at_kill) << "the kill came after the load";
  ASSERT_TRUE(CaughtUp(*reader, *writer));
  ASSERT_EQ(Linkctl(*reader, {"check"}), 0) << err_;
  EXPECT_NE(out_.find("checked 19,"), std::string::npos) << out_;
  EXPECT_NE(out_.find(": 0 problems"), std::string::npos) << out_;
  StopAndCompare("writer", "reader", 19000);
}

TEST_F(ReplicationTest, KillingTheStreamLeaderLosesNoAcknowledgedWrite) {
  NatsCluster nats(dir_.Sub(""), 3);
  Generate(20000, 100);
  Node* writer = StartNode("writer", "writer", nats);
  ASSERT_NE(writer, nullptr);
  std::unique_ptr<Process> import = SlowImport(*writer);
  ASSERT_TRUE(Eventually([&] { return Replication(*writer).applied_seq() >= 10; }, 30s));
  // The stream's leader, as the cluster reports it.
  auto state = LogState(nats);
  ASSERT_TRUE(state.ok()) << state.status();
  int leader = -1;
  for (int i = 0; i < nats.size(); ++i)
    if (state->leader == nats.Name(i)) leader = i;
  ASSERT_GE(leader, 0) << "leader \"" << state->leader << "\"";
  const uint64_t before = Replication(*writer).applied_seq();
  nats.Kill(leader);
  // Writes pause while a new leader is elected, then go on: the import
  // finishes with every row acknowledged.
  EXPECT_EQ(import->Wait(), 0) << ReadFile(dir_.Sub("import.err"));
  EXPECT_GT(Replication(*writer).applied_seq(), before + 5);
  const std::string summary = ReadFile(dir_.Sub("import.out"));
  EXPECT_NE(summary.find(" 0 rejected"), std::string::npos) << summary;
  // A reader that starts now, from the surviving servers, gets every one.
  nats.Start(leader);
  Node* reader = StartNode("reader", "reader", nats);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(CaughtUp(*reader, *writer));
  StopAndCompare("writer", "reader", 19000);
}

TEST_F(ReplicationTest, AWriterKilledBetweenPublishAndApplyAppliesTheLogFirst) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(200, 10);
  // The stream's first change (the writer's model) is made at the first start.
  Node* writer = StartNode("writer", "writer", nats);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(Replication(*writer).applied_seq(), 1u);
  EXPECT_EQ(StopNode("writer"), 0);
  setenv("LINKD_FAILPOINT", "crash_after_log_append", 1);
  writer = StartNode("writer", "writer", nats);
  unsetenv("LINKD_FAILPOINT");
  ASSERT_NE(writer, nullptr);
  // The first change reaches the log, then the writer dies before
  // applying it: the caller gets no answer.
  EXPECT_NE(Linkctl(*writer, {"import", "--dataset", "register", "--retries", "0",
                              dir_.Sub("register.csv")}),
            0);
  EXPECT_EQ(writer->proc->Wait(), 128 + SIGKILL);
  writer->proc.reset();
  // Restarted, it applies the log's tail before it serves.
  writer = StartNode("writer", "writer", nats);
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(Replication(*writer).applied_seq(), 2u);
  ASSERT_EQ(Linkctl(*writer, {"stats"}), 0) << err_;
  EXPECT_NE(out_.find("register"), std::string::npos) << out_;
  ExpectConsistent(*writer);
  // The import run again completes; the log holds each change once.
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  EXPECT_NE(out_.find(" 0 rejected"), std::string::npos) << out_;
  EXPECT_EQ(StopNode("writer"), 0);
}

TEST_F(ReplicationTest, ASecondWriterFencesTheFirst) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(300, 10);
  Node* first = StartNode("first", "writer", nats);
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(Linkctl(*first, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  Node* second = StartNode("second", "writer", nats);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Replication(*second).applied_seq(), Replication(*first).applied_seq());
  ASSERT_EQ(Linkctl(*second, {"import", "--dataset", "register", dir_.Sub("list.csv")}), 0) << err_;
  // The first one's next write meets the second's entry: refused, and
  // refused from then on; nothing of it reaches the log.
  const uint64_t log_end = Replication(*second).applied_seq();
  for (int attempt = 0; attempt < 2; ++attempt) {
    EXPECT_NE(Linkctl(*first,
                      {"import", "--dataset", "register", "--retries", "0", dir_.Sub("list.csv")}),
              0);
    EXPECT_NE(err_.find("FAILED_PRECONDITION"), std::string::npos) << err_;
    EXPECT_NE(err_.find("fenced"), std::string::npos) << err_;
  }
  EXPECT_TRUE(Replication(*first).fenced());
  // The log itself ends where the second writer left it.
  auto state = LogState(nats);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->last_seq, log_end);
  Node* reader = StartNode("reader", "reader", nats);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(CaughtUp(*reader, *second));
  EXPECT_EQ(Replication(*reader).applied_seq(), log_end);
  for (const char* name : {"first", "second", "reader"}) EXPECT_EQ(StopNode(name), 0);
  EXPECT_EQ(Records(*reader), Records(*second));
}

// The other order: a writer started beside a running one is fenced when
// the running one appends first. Whichever writes on a stale position is
// refused; the log never holds both.
TEST_F(ReplicationTest, AWriterStartedBesideARunningOneIsFencedIfThatOneWritesFirst) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(300, 10);
  Node* first = StartNode("first", "writer", nats);
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(Linkctl(*first, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  Node* second = StartNode("second", "writer", nats);
  ASSERT_NE(second, nullptr);
  ASSERT_EQ(Linkctl(*first, {"import", "--dataset", "register", dir_.Sub("list.csv")}), 0) << err_;
  EXPECT_NE(
      Linkctl(*second, {"import", "--dataset", "register", "--retries", "0", dir_.Sub("list.csv")}),
      0);
  EXPECT_NE(err_.find("fenced"), std::string::npos) << err_;
  EXPECT_TRUE(Replication(*second).fenced());
  EXPECT_FALSE(Replication(*first).fenced());
  auto state = LogState(nats);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->last_seq, Replication(*first).applied_seq());
  for (const char* name : {"first", "second"}) EXPECT_EQ(StopNode(name), 0);
}

TEST_F(ReplicationTest, MinLogSeqReadsTheCallersOwnWrite) {
  NatsCluster nats(dir_.Sub(""), 1);
  Node* writer = StartNode("writer", "writer", nats);
  Node* reader = StartNode("reader", "reader", nats, {"--max-log-wait-ms", "500"});
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  v1::UpsertRecordsRequest up;
  up.set_dataset("register");
  v1::PersonRecord* p = up.add_records();
  p->set_record_id("R1");
  p->set_full_name("Nguyễn Thị Lan");
  p->set_birth_date("12/03/1948");
  p->set_sex(v1::SEX_FEMALE);
  p->set_national_id("001148000123");
  p->set_address("Xã Tân Dân, Huyện Sóc Sơn, Hà Nội");
  v1::UpsertRecordsResponse written;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(writer->linkage->UpsertRecords(&ctx, up, &written).ok());
  }
  ASSERT_GT(written.log_seq(), 0u);
  // Read from the reader at the write's position: it is there.
  v1::GetRecordRequest get;
  get.set_dataset("register");
  get.set_record_id("R1");
  get.set_min_log_seq(written.log_seq());
  v1::GetRecordResponse got;
  {
    grpc::ClientContext ctx;
    grpc::Status s = reader->linkage->GetRecord(&ctx, get, &got);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(got.record().full_name(), "Nguyễn Thị Lan");
  // A position not reached: UNAVAILABLE after the bounded wait.
  v1::MatchRequest m;
  m.set_dataset("register");
  *m.mutable_record() = *p;
  m.set_min_log_seq(written.log_seq() + 100);
  v1::MatchResponse matched;
  grpc::ClientContext ctx;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status s = reader->linkage->Match(&ctx, m, &matched);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("min_log_seq"), std::string::npos) << s.error_message();
  EXPECT_GE(waited, 400ms);
  EXPECT_LT(waited, 5s);
  for (const char* name : {"writer", "reader"}) EXPECT_EQ(StopNode(name), 0);
}

// The log's own promises, below linkd: an append retried with the same id
// answers the first one's position; a stale expectation is a fence.
TEST_F(ReplicationTest, ChangeLogRetriesAreIdempotentAndStaleAppendsFenced) {
  NatsCluster nats(dir_.Sub(""), 1);
  changelog::LogOptions lo;
  lo.servers = *changelog::ParseServers(nats.urls());
  lo.stream = "log_test";
  lo.create_replicas = 1;
  auto log = changelog::ChangeLog::Open(lo);
  ASSERT_TRUE(log.ok()) << log.status();
  auto first = (*log)->Append("a", 0, "w/1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u);
  // The same append again (a retry after a lost acknowledgement).
  auto again = (*log)->Append("a", 0, "w/1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 1u);
  // Another writer's append on a stale expectation: fenced, nothing added.
  auto stale = (*log)->Append("b", 0, "v/1");
  EXPECT_EQ(stale.status().code(), changelog::kFencedCode) << stale.status();
  auto second = (*log)->Append("c", 1, "w/2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 2u);
  auto state = (*log)->GetState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->messages, 2u);
  // Read back in order.
  auto cursor = (*log)->Follow(1);
  ASSERT_TRUE(cursor.ok()) << cursor.status();
  std::vector<std::string> got;
  while (got.size() < 2) {
    auto e = (*cursor)->Next(absl::Seconds(5));
    ASSERT_TRUE(e.ok() && e->has_value());
    got.push_back((*e)->bytes);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"a", "c"}));
  // Too big for the servers: refused before it is sent.
  auto big =
      (*log)->Append(std::string(static_cast<size_t>((*log)->max_payload()) + 1, 'x'), 2, "w/3");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange) << big.status();
}

// The log over TLS with users: only the writer's user may append; a
// reader's user follows the stream but cannot write to it, and a client
// without a certificate or a password gets nothing.
TEST_F(ReplicationTest, TheLogTakesOnlyTheWritersAppendsOverTls) {
  TestCerts certs(dir_.path());
  ASSERT_TRUE(certs.ok());
  ASSERT_TRUE(certs.MakeClient("node", "linkd-node"));
  WriteFile(dir_.Sub("writer.password"), "w-secret\n");
  WriteFile(dir_.Sub("reader.password"), "r-secret\n");
  const std::string extra = absl::StrCat(
      "tls { cert_file: \"", certs.Crt("server"), "\", key_file: \"", certs.Key("server"),
      "\", ca_file: \"", certs.Crt("ca"), "\", verify: true }\n", "authorization { users: [\n",
      "  { user: writer, password: w-secret }\n",
      "  { user: reader, password: r-secret, permissions: { publish: { deny: [",
      "\"linkd_test.changes\", \"$JS.API.STREAM.DELETE.>\", \"$JS.API.STREAM.PURGE.>\", ",
      "\"$JS.API.STREAM.UPDATE.>\", \"$JS.API.STREAM.MSG.DELETE.>\"] } } } ] }\n");
  NatsCluster nats(dir_.Sub(""), 1, extra);
  Generate(300, 20);
  const std::vector<std::string> tls = {"--log-tls-ca",    certs.Crt("ca"), "--log-tls-cert",
                                        certs.Crt("node"), "--log-tls-key", certs.Key("node")};
  auto with = [&tls](std::vector<std::string> more) {
    more.insert(more.end(), tls.begin(), tls.end());
    return more;
  };
  Node* writer =
      StartNode("writer", "writer", nats,
                with({"--log-user", "writer", "--log-password-file", dir_.Sub("writer.password")}));
  ASSERT_NE(writer, nullptr);
  Node* reader =
      StartNode("reader", "reader", nats,
                with({"--log-user", "reader", "--log-password-file", dir_.Sub("reader.password")}));
  ASSERT_NE(reader, nullptr);
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  ASSERT_TRUE(CaughtUp(*reader, *writer));

  changelog::LogOptions lo;
  lo.servers = *changelog::ParseServers(nats.urls());
  lo.stream = "linkd_test";
  lo.open_timeout = absl::Seconds(2);
  lo.append_timeout = absl::Seconds(5);
  lo.request_timeout = absl::Seconds(1);
  // Without a client certificate, or without the password: refused.
  lo.tls_ca = certs.Crt("ca");
  lo.user = "reader";
  lo.password = "r-secret";
  EXPECT_FALSE(changelog::ChangeLog::Open(lo).ok());
  lo.tls_cert = certs.Crt("node");
  lo.tls_key = certs.Key("node");
  lo.password = "wrong";
  EXPECT_FALSE(changelog::ChangeLog::Open(lo).ok());
  // The reader's user reads the stream but cannot append to it.
  lo.password = "r-secret";
  auto as_reader = changelog::ChangeLog::Open(lo);
  ASSERT_TRUE(as_reader.ok()) << as_reader.status();
  auto state = (*as_reader)->GetState();
  ASSERT_TRUE(state.ok()) << state.status();
  const uint64_t last = state->last_seq;
  const auto before_append = std::chrono::steady_clock::now();
  EXPECT_EQ((*as_reader)->Append("rogue", last, "rogue/1").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_LT(std::chrono::steady_clock::now() - before_append, 1500ms) << "refused at once";
  state = (*as_reader)->GetState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->last_seq, last);
  // The writer goes on writing, and the reader applying.
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("list.csv")}), 0) << err_;
  ASSERT_TRUE(CaughtUp(*reader, *writer));
  StopAndCompare("writer", "reader", 300);
}

// Every kind of change reaches the readers: a model installed, a record
// deleted, a reindex switched.
TEST_F(ReplicationTest, ModelsDeletesAndReindexesReachTheReaders) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(300, 20);
  Node* writer = StartNode("writer", "writer", nats);
  Node* reader = StartNode("reader", "reader", nats);
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  auto model_of = [](const Node& n) {
    grpc::ClientContext ctx;
    v1::GetModelResponse r;
    EXPECT_TRUE(n.admin->GetModel(&ctx, v1::GetModelRequest(), &r).ok());
    return r.model();
  };
  v1::SetModelRequest set;
  *set.mutable_model() = model_of(*writer);
  set.mutable_model()->set_version("replicated-model-2");
  v1::SetModelResponse installed;
  {
    grpc::ClientContext ctx;
    grpc::Status st = writer->admin->SetModel(&ctx, set, &installed);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_GT(installed.log_seq(), 0u);
  // A model install on a reader is refused.
  {
    grpc::ClientContext ctx;
    v1::SetModelResponse refused;
    EXPECT_EQ(reader->admin->SetModel(&ctx, set, &refused).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  v1::DeleteRecordRequest del;
  del.set_dataset("register");
  // The first record of the register file.
  const std::string first_row = ReadFile(dir_.Sub("register.csv"));
  const size_t line = first_row.find('\n') + 1;
  del.set_record_id(first_row.substr(line, first_row.find(',', line) - line));
  v1::DeleteRecordResponse deleted;
  {
    grpc::ClientContext ctx;
    grpc::Status st = writer->linkage->DeleteRecord(&ctx, del, &deleted);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(deleted.log_seq(), installed.log_seq() + 1);
  ASSERT_EQ(Linkctl(*writer, {"reindex"}), 0) << err_;
  ASSERT_TRUE(CaughtUp(*reader, *writer));
  EXPECT_EQ(model_of(*reader).version(), "replicated-model-2");
  {
    v1::GetRecordRequest get;
    get.set_dataset("register");
    get.set_record_id(del.record_id());
    get.set_min_log_seq(deleted.log_seq());
    grpc::ClientContext ctx;
    v1::GetRecordResponse got;
    EXPECT_EQ(reader->linkage->GetRecord(&ctx, get, &got).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  grpc::ClientContext wctx, rctx;
  v1::GetStatsResponse wstats, rstats;
  ASSERT_TRUE(writer->admin->GetStats(&wctx, v1::GetStatsRequest(), &wstats).ok());
  ASSERT_TRUE(reader->admin->GetStats(&rctx, v1::GetStatsRequest(), &rstats).ok());
  EXPECT_EQ(rstats.index_generation(), wstats.index_generation());
  EXPECT_GT(wstats.index_generation(), 1u);
  ExpectConsistent(*reader);
  StopAndCompare("writer", "reader", 250);
}

TEST_F(ReplicationTest, AReaderBootstrapsFromABackupAndFollowsTheLogFromItsPosition) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(2000, 300);
  Node* writer = StartNode("writer", "writer", nats);
  ASSERT_NE(writer, nullptr);
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  const std::string backups = dir_.Sub("backups");
  ASSERT_EQ(Linkctl(*writer, {"backup", "create", "--dest", backups}), 0) << err_;
  const uint64_t at_backup = Replication(*writer).applied_seq();
  ASSERT_GT(at_backup, 0u);
  // Changes after the backup reach the reader through the log.
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("list.csv")}), 0) << err_;
  Node* reader = StartNode("reader", "reader", nats, {"--bootstrap", backups});
  ASSERT_NE(reader, nullptr);
  const std::string log = ReadFile(reader->log);
  EXPECT_NE(log.find("\"event\":\"bootstrapped\""), std::string::npos) << log;
  EXPECT_NE(log.find(absl::StrCat("\"applied_seq\":", at_backup)), std::string::npos)
      << "the reader starts at the backup's position, not at the log's first change\n"
      << log;
  ASSERT_TRUE(CaughtUp(*reader, *writer));
  ExpectConsistent(*reader);
  StopAndCompare("writer", "reader", 2000);
}

TEST_F(ReplicationTest, ClientsSpreadOverReadersAndSkipOneOutOfTouchWithTheLog) {
  NatsCluster nats(dir_.Sub(""), 1);
  Generate(2000, 400);
  Node* writer = StartNode("writer", "writer", nats);
  Node* patient = StartNode("patient", "reader", nats, {"--max-lag-seconds", "600"});
  Node* strict = StartNode("strict", "reader", nats, {"--max-lag-seconds", "2"});
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(patient, nullptr);
  ASSERT_NE(strict, nullptr);
  ASSERT_EQ(Linkctl(*writer, {"import", "--dataset", "register", dir_.Sub("register.csv")}), 0)
      << err_;
  ASSERT_TRUE(CaughtUp(*patient, *writer));
  ASSERT_TRUE(CaughtUp(*strict, *writer));
  const std::string both = absl::StrCat("ipv4:", patient->server, ",", strict->server);
  auto calls = [this](const Node& n) {
    grpc::ClientContext ctx;
    v1::GetStatsResponse stats;
    EXPECT_TRUE(n.admin->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok());
    int64_t total = 0;
    for (const auto& [method, count] : stats.calls())
      if (method != "GetStats") total += count;
    return total;
  };
  auto verify_through = [&](const std::string& target, const std::string& out) {
    return testing::Run({LINKCTL_BIN, "--server", target, "verify", "--against", "register",
                         "--input", dir_.Sub("list.csv"), "--output", out, "--streams", "4"},
                        dir_.Sub("v.out"), dir_.Sub("v.err"));
  };
  // linkctl's channel to both (cli::Connect): once it has connected to
  // both readers, calls alternate between them.
  auto channel = cli::Connect(both);
  auto stub = v1::LinkageService::NewStub(channel);
  auto match_many = [&stub](int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      v1::MatchRequest m;
      m.set_dataset("register");
      m.mutable_record()->set_full_name("Nguyễn Văn An");
      v1::MatchResponse r;
      if (stub->Match(&ctx, m, &r).ok()) ++ok;
    }
    return ok;
  };
  const int64_t patient_at_start = calls(*patient), strict_at_start = calls(*strict);
  ASSERT_TRUE(Eventually(
      [&] {
        match_many(10);
        return calls(*patient) > patient_at_start && calls(*strict) > strict_at_start;
      },
      10s))
      << "calls went to one reader only";
  const int64_t patient_before = calls(*patient), strict_before_rr = calls(*strict);
  EXPECT_EQ(match_many(100), 100);
  EXPECT_NEAR(calls(*patient) - patient_before, 50, 2);
  EXPECT_NEAR(calls(*strict) - strict_before_rr, 50, 2);
  // linkctl verify through both gives the writer's answers.
  ASSERT_EQ(verify_through(both, dir_.Sub("both.csv")), 0) << ReadFile(dir_.Sub("v.err"));
  ASSERT_EQ(verify_through(writer->server, dir_.Sub("writer.csv")), 0);
  EXPECT_EQ(ReadFile(dir_.Sub("both.csv")), ReadFile(dir_.Sub("writer.csv")));

  // The log's server goes: the strict reader, out of touch for over two
  // seconds, reports NOT_SERVING and gets no more calls; the other goes on.
  nats.Kill(0);
  ASSERT_TRUE(Eventually([&] { return Linkctl(*strict, {"health"}) != 0; }, 15s)) << out_;
  EXPECT_EQ(Linkctl(*patient, {"health"}), 0) << out_ << err_;
  // The channel learns of it from its health watch within a moment (and
  // the last calls counted settle).
  std::this_thread::sleep_for(1s);
  const int64_t strict_before = calls(*strict);
  EXPECT_EQ(match_many(50), 50);
  EXPECT_EQ(calls(*strict), strict_before) << "the channel's unary calls";
  ASSERT_EQ(verify_through(both, dir_.Sub("one.csv")), 0) << ReadFile(dir_.Sub("v.err"));
  EXPECT_EQ(calls(*strict), strict_before) << "linkctl verify";
  EXPECT_EQ(ReadFile(dir_.Sub("one.csv")), ReadFile(dir_.Sub("writer.csv")));
  // Back in touch, it serves again.
  nats.Start(0);
  EXPECT_TRUE(Eventually([&] { return Linkctl(*strict, {"health"}) == 0; }, 30s)) << out_;
  for (const char* name : {"writer", "patient", "strict"}) EXPECT_EQ(StopNode(name), 0);
}

}  // namespace
}  // namespace linkage::testing
