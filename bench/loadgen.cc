// Load generator for linkd over gRPC.
//
//   linkd_loadgen --server 127.0.0.1:50051 --input list.csv --rpc match
//       --mode open --rate 1000 --duration 30
//
// Open loop (--mode open): requests are issued on a fixed schedule of
// --rate per second whatever the server does, and each latency is measured
// from the request's scheduled time, so a server that falls behind shows it
// in the tail instead of slowing the generator down (no coordinated
// omission). Closed loop (--mode closed): --concurrency workers each send
// the next request when the previous answer arrives (maximum throughput).
// Requests cycle through the records of --input (a person CSV). The run
// stops by itself after --duration seconds (plus a bounded drain).
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "linkage/csv.h"
#include "linkage/person_io.h"
#include "linkage/v1/service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Results {
  std::mutex mu;
  std::vector<double> latencies_ms;
  int64_t errors = 0;
  std::map<int, int64_t> codes;
  void Add(double ms, const grpc::Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    if (st.ok()) {
      latencies_ms.push_back(ms);
    } else {
      ++errors;
      ++codes[static_cast<int>(st.error_code())];
    }
  }
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linkd load generator"};
  std::string server = "127.0.0.1:50051", input, rpc = "match", mode = "open", dataset = "register";
  std::string tls_ca, tls_cert, tls_key;
  double rate = 500, duration = 20, warmup = 2;
  int concurrency = 8;
  int64_t max_outstanding = 20000;
  app.add_option("--server", server)->capture_default_str();
  std::string read_back;
  app.add_option("--read-back", read_back,
                 "With --rpc upsert: a replica (linkd --role reader) each written record is read "
                 "back from at once with min_log_seq; reports how long after the write's answer "
                 "it was readable there");
  app.add_option("--input", input, "Person CSV whose records are the queries")->required();
  app.add_option("--dataset", dataset)->capture_default_str();
  app.add_option("--rpc", rpc,
                 "match, verify (uses rows with a national_id) or upsert (one new record per call: "
                 "the row with its record_id made unique)")
      ->capture_default_str();
  app.add_option("--mode", mode, "open (fixed rate) or closed (concurrency)")
      ->capture_default_str();
  app.add_option("--rate", rate, "Requests per second (open loop)")->capture_default_str();
  app.add_option("--concurrency", concurrency, "Workers (closed loop)")->capture_default_str();
  app.add_option("--duration", duration, "Seconds measured")->capture_default_str();
  app.add_option("--warmup", warmup, "Seconds run before measuring")->capture_default_str();
  app.add_option("--max-outstanding", max_outstanding,
                 "Open loop: calls in flight before new ones are dropped")
      ->capture_default_str();
  app.add_option("--tls-ca", tls_ca, "CA (PEM) to verify linkd's certificate; turns TLS on");
  app.add_option("--tls-cert", tls_cert, "Client certificate (PEM), with --tls-key");
  app.add_option("--tls-key", tls_key, "Client private key (PEM)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // Queries.
  std::vector<linkage::v1::PersonRecord> queries;
  {
    std::ifstream in(input);
    std::stringstream ss;
    ss << in.rdbuf();
    std::optional<linkage::domain::PersonCsvSchema> schema;
    (void)linkage::CsvParser::ParseAll(ss.str(), [&](const linkage::CsvRow& row) {
      if (row.row_index == 0) {
        auto s = linkage::domain::PersonCsvSchema::Create(row.fields);
        if (!s.ok()) return false;
        schema = *s;
        return true;
      }
      auto r = schema->ToRecord(row);
      if (r.ok() && (rpc != "verify" || !r->national_id().empty())) queries.push_back(*r);
      return true;
    });
  }
  if (queries.empty()) {
    std::fprintf(stderr, "loadgen: no usable query in %s\n", input.c_str());
    return 1;
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!tls_ca.empty()) {
    auto read = [](const std::string& path) {
      std::ifstream in(path);
      if (!in) {
        std::fprintf(stderr, "loadgen: cannot read %s\n", path.c_str());
        std::exit(1);
      }
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read(tls_ca);
    if (!tls_cert.empty()) ssl.pem_cert_chain = read(tls_cert);
    if (!tls_key.empty()) ssl.pem_private_key = read(tls_key);
    creds = grpc::SslCredentials(ssl);
  } else if (!tls_cert.empty() || !tls_key.empty()) {
    std::fprintf(stderr, "loadgen: --tls-cert and --tls-key need --tls-ca\n");
    return 2;
  }
  // Several nodes behind one target (readers): round-robin over those
  // SERVING, as linkctl does (src/cli/client.cc).
  if (server.rfind("dns:", 0) == 0 || server.find(',') != std::string::npos) {
    args.SetServiceConfigJSON(
        R"({"loadBalancingConfig":[{"round_robin":{}}],)"
        R"("healthCheckConfig":{"serviceName":"linkage.v1.LinkageService"}})");
  }
  auto channel = grpc::CreateCustomChannel(server, creds, args);
  auto stub = linkage::v1::LinkageService::NewStub(channel);
  // Upserts make new records each run.
  const std::string run_id = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
  std::unique_ptr<linkage::v1::LinkageService::Stub> replica;
  if (!read_back.empty()) {
    replica =
        linkage::v1::LinkageService::NewStub(grpc::CreateCustomChannel(read_back, creds, args));
  }
  Results results, read_backs;
  std::atomic<int64_t> outstanding{0}, dropped{0}, issued{0};
  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::milliseconds(static_cast<int64_t>(warmup * 1000));
  const auto stop_at =
      measure_from + std::chrono::milliseconds(static_cast<int64_t>(duration * 1000));

  // Issues one call; `scheduled` is when it should have started.
  auto issue = [&](size_t i, Clock::time_point scheduled, std::function<void()> done) {
    struct Call {
      grpc::ClientContext ctx;
      linkage::v1::MatchRequest match;
      linkage::v1::MatchResponse match_resp;
      linkage::v1::VerifyRequest verify;
      linkage::v1::VerifyResponse verify_resp;
      linkage::v1::UpsertRecordsRequest upsert;
      linkage::v1::UpsertRecordsResponse upsert_resp;
    };
    auto* call = new Call();
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto on_done = [&, call, scheduled, done](grpc::Status st) {
      auto now = Clock::now();
      const bool measured = scheduled >= measure_from && scheduled < stop_at;
      if (measured) {
        results.Add(std::chrono::duration<double, std::milli>(now - scheduled).count(), st);
      }
      if (replica != nullptr && st.ok() && call->upsert_resp.log_seq() > 0) {
        // The write, read back from the replica as soon as it has it.
        struct ReadBack {
          grpc::ClientContext ctx;
          linkage::v1::GetRecordRequest req;
          linkage::v1::GetRecordResponse resp;
        };
        auto* rb = new ReadBack();
        rb->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        rb->req.set_dataset(dataset);
        rb->req.set_record_id(call->upsert.records(0).record_id());
        rb->req.set_min_log_seq(call->upsert_resp.log_seq());
        ++outstanding;
        replica->async()->GetRecord(
            &rb->ctx, &rb->req, &rb->resp, [&, rb, now, measured](grpc::Status rst) {
              if (measured) {
                read_backs.Add(
                    std::chrono::duration<double, std::milli>(Clock::now() - now).count(), rst);
              }
              delete rb;
              --outstanding;
            });
      }
      delete call;
      --outstanding;
      if (done) done();
    };
    ++outstanding;
    ++issued;
    const linkage::v1::PersonRecord& q = queries[i % queries.size()];
    if (rpc == "upsert") {
      call->upsert.set_dataset(dataset);
      linkage::v1::PersonRecord* r = call->upsert.add_records();
      *r = q;
      r->set_record_id(q.record_id() + "-load-" + std::to_string(i) + "-" + run_id);
      stub->async()->UpsertRecords(&call->ctx, &call->upsert, &call->upsert_resp, on_done);
    } else if (rpc == "verify") {
      call->verify.set_dataset(dataset);
      *call->verify.mutable_claim() = q;
      stub->async()->Verify(&call->ctx, &call->verify, &call->verify_resp, on_done);
    } else {
      call->match.set_dataset(dataset);
      *call->match.mutable_record() = q;
      call->match.set_top_k(5);
      stub->async()->Match(&call->ctx, &call->match, &call->match_resp, on_done);
    }
  };

  if (mode == "open") {
    const auto period = std::chrono::duration<double>(1.0 / rate);
    for (size_t i = 0;; ++i) {
      auto scheduled =
          start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
      if (scheduled >= stop_at) break;
      std::this_thread::sleep_until(scheduled);
      if (outstanding.load() >= max_outstanding) {
        ++dropped;
        continue;
      }
      issue(i, scheduled, nullptr);
    }
  } else {
    std::vector<std::thread> workers;
    std::atomic<size_t> next{0};
    for (int w = 0; w < concurrency; ++w) {
      workers.emplace_back([&] {
        while (Clock::now() < stop_at) {
          std::mutex m;
          std::condition_variable cv;
          bool finished = false;
          issue(next++, Clock::now(), [&] {
            std::lock_guard<std::mutex> lock(m);
            finished = true;
            cv.notify_one();
          });
          std::unique_lock<std::mutex> lock(m);
          cv.wait(lock, [&] { return finished; });
        }
      });
    }
    for (auto& t : workers) t.join();
  }
  // Drain, bounded by the per-call deadline.
  auto drain_until = Clock::now() + std::chrono::seconds(15);
  while (outstanding.load() > 0 && Clock::now() < drain_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  std::lock_guard<std::mutex> lock(results.mu);
  std::vector<double>& v = results.latencies_ms;
  const double achieved = static_cast<double>(v.size()) / duration;
  std::printf("%s %s-loop%s: %zu ok, %lld errors, %lld dropped in %.0fs = %.0f ok/s\n", rpc.c_str(),
              mode.c_str(),
              mode == "open" ? (" at " + std::to_string(static_cast<int>(rate)) + "/s").c_str()
                             : (" x" + std::to_string(concurrency)).c_str(),
              v.size(), static_cast<long long>(results.errors),
              static_cast<long long>(dropped.load()), duration, achieved);
  for (const auto& [code, n] : results.codes)
    std::printf("  error code %d: %lld\n", code, static_cast<long long>(n));
  if (!v.empty()) {
    double p50 = Percentile(v, 50), p90 = Percentile(v, 90), p99 = Percentile(v, 99),
           p999 = Percentile(v, 99.9);
    double max = *std::max_element(v.begin(), v.end());
    std::printf("  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", p50, p90, p99,
                p999, max);
  }
  if (replica != nullptr) {
    std::lock_guard<std::mutex> rb_lock(read_backs.mu);
    std::vector<double>& r = read_backs.latencies_ms;
    std::printf("  read back from %s: %zu ok, %lld errors\n", read_back.c_str(), r.size(),
                static_cast<long long>(read_backs.errors));
    if (!r.empty()) {
      const double p50 = Percentile(r, 50), p99 = Percentile(r, 99);
      std::printf(
          "  readable on the replica after the write's answer, ms: p50 %.2f  p99 %.2f  max %.2f\n",
          p50, p99, *std::max_element(r.begin(), r.end()));
    }
  }
  return results.errors > 0 || dropped.load() > 0 ? 1 : 0;
}
