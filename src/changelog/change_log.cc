// ChangeLog over the NATS C client (Debian's libnats-dev 3.4) and a
// JetStream stream.
#include "linkage/change_log.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace linkage::changelog {
namespace {

// Owners of the client's objects, each freed with its own function.
template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p != nullptr) Destroy(p);
  }
};
using OptionsPtr = std::unique_ptr<natsOptions, Deleter<natsOptions, natsOptions_Destroy>>;
using ConnectionPtr =
    std::unique_ptr<natsConnection, Deleter<natsConnection, natsConnection_Destroy>>;
using ContextPtr = std::unique_ptr<jsCtx, Deleter<jsCtx, jsCtx_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Deleter<jsStreamInfo, jsStreamInfo_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Deleter<jsPubAck, jsPubAck_Destroy>>;
using SubscriptionPtr =
    std::unique_ptr<natsSubscription, Deleter<natsSubscription, natsSubscription_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, Deleter<natsMsg, natsMsg_Destroy>>;
using MetaPtr = std::unique_ptr<jsMsgMetaData, Deleter<jsMsgMetaData, jsMsgMetaData_Destroy>>;

int64_t Millis(absl::Duration d) { return std::max<int64_t>(1, absl::ToInt64Milliseconds(d)); }

// The client's status and JetStream error code in words, with the
// thread's last error text (which names the server's reason).
std::string Why(natsStatus s, jsErrCode jerr) {
  std::string out = natsStatus_GetText(s);
  if (jerr != 0) absl::StrAppend(&out, " (JetStream error ", static_cast<int>(jerr), ")");
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') absl::StrAppend(&out, ": ", text);
  return out;
}

absl::Status Failed(std::string_view what, natsStatus s,
                    jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::string message = absl::StrCat(AV(what), ": ", Why(s, jerr));
  switch (s) {
    case NATS_NOT_FOUND:
      return absl::NotFoundError(message);
    case NATS_INVALID_ARG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::UnavailableError(message);
  }
}

bool ValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

class NatsCursor final : public ChangeLog::Cursor {
 public:
  explicit NatsCursor(SubscriptionPtr sub) : sub_(std::move(sub)) {}

  absl::StatusOr<std::optional<ChangeLog::Entry>> Next(absl::Duration wait) override {
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, sub_.get(), Millis(wait));
    MsgPtr msg(raw);
    if (s == NATS_TIMEOUT) return std::optional<ChangeLog::Entry>();
    if (s != NATS_OK) return Failed("read the change log", s);
    jsMsgMetaData* meta_raw = nullptr;
    s = natsMsg_GetMetaData(&meta_raw, msg.get());
    MetaPtr meta(meta_raw);
    if (s != NATS_OK) return Failed("read a change's position", s);
    ChangeLog::Entry e;
    e.seq = meta->Sequence.Stream;
    e.pending = meta->NumPending;
    e.unix_nanos = meta->Timestamp;
    const char* data = natsMsg_GetData(msg.get());
    e.bytes.assign(data != nullptr ? data : "",
                   static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
    return std::optional<ChangeLog::Entry>(std::move(e));
  }

 private:
  SubscriptionPtr sub_;
};

class NatsChangeLog final : public ChangeLog {
 public:
  static absl::StatusOr<std::unique_ptr<ChangeLog>> Open(const LogOptions& options) {
    if (options.servers.empty()) return absl::InvalidArgumentError("no NATS server given (--log)");
    if (!ValidStreamName(options.stream)) {
      return absl::InvalidArgumentError(
          absl::StrCat("log stream name \"", options.stream, "\" is not 1..64 of [A-Za-z0-9_-]"));
    }
    if (options.create_replicas < 0 || options.create_replicas > 5) {
      return absl::InvalidArgumentError(
          absl::StrCat("log replicas ", options.create_replicas, " is not 1..5"));
    }
    const absl::Time give_up = absl::Now() + options.open_timeout;
    for (;;) {
      absl::StatusOr<std::unique_ptr<ChangeLog>> log = OpenOnce(options);
      if (log.ok() || log.status().code() != absl::StatusCode::kUnavailable ||
          absl::Now() + absl::Milliseconds(500) > give_up) {
        return log;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

  static absl::StatusOr<std::unique_ptr<ChangeLog>> OpenOnce(const LogOptions& options) {
    auto log = std::unique_ptr<NatsChangeLog>(new NatsChangeLog(options));
    natsOptions* raw_opts = nullptr;
    natsStatus s = natsOptions_Create(&raw_opts);
    OptionsPtr opts(raw_opts);
    if (s != NATS_OK) return Failed("NATS options", s);
    std::vector<const char*> urls;
    for (const std::string& u : options.servers) urls.push_back(u.c_str());
    s = natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size()));
    if (s == NATS_OK) s = natsOptions_SetName(opts.get(), options.client_name.c_str());
    // Reconnect forever, quickly: a server restart or a failover must not
    // end a writer's or a replica's link to the log.
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 250);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), Millis(options.request_timeout));
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), 5000);
    // The servers refuse a publish this node's user may not make with an
    // asynchronous error, not a reply: counted here, so that Append fails
    // at once instead of waiting out its timeout.
    if (s == NATS_OK)
      s = natsOptions_SetErrorHandler(opts.get(), &NatsChangeLog::OnError, log.get());
    if (s != NATS_OK) return Failed("NATS options", s);
    if (!options.tls_ca.empty() || !options.tls_cert.empty()) {
      s = natsOptions_SetSecure(opts.get(), true);
      if (s == NATS_OK && !options.tls_ca.empty())
        s = natsOptions_LoadCATrustedCertificates(opts.get(), options.tls_ca.c_str());
      if (s == NATS_OK && !options.tls_cert.empty()) {
        s = natsOptions_LoadCertificatesChain(opts.get(), options.tls_cert.c_str(),
                                              options.tls_key.c_str());
      }
      if (s != NATS_OK) {
        return absl::InvalidArgumentError(
            absl::StrCat("the log's TLS files (--log-tls-ca, --log-tls-cert, --log-tls-key): ",
                         Why(s, static_cast<jsErrCode>(0))));
      }
    }
    if (!options.user.empty()) {
      s = natsOptions_SetUserInfo(opts.get(), options.user.c_str(), options.password.c_str());
      if (s != NATS_OK) return Failed("NATS user", s);
    }
    natsConnection* raw_nc = nullptr;
    s = natsConnection_Connect(&raw_nc, opts.get());
    log->nc_.reset(raw_nc);
    if (s != NATS_OK) {
      return absl::UnavailableError(absl::StrCat(
          "cannot connect to the change log's NATS servers (", absl::StrJoin(options.servers, ","),
          "): ", Why(s, static_cast<jsErrCode>(0))));
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = Millis(options.request_timeout);
    jsCtx* raw_js = nullptr;
    s = natsConnection_JetStream(&raw_js, log->nc_.get(), &jo);
    log->js_.reset(raw_js);
    if (s != NATS_OK) return Failed("JetStream context", s);
    LINKD_RETURN_IF_ERROR(log->EnsureStream());
    return std::unique_ptr<ChangeLog>(std::move(log));
  }

  absl::StatusOr<State> GetState() const override {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), options_.stream.c_str(), nullptr, &jerr);
    StreamInfoPtr si(raw);
    if (s != NATS_OK) return Failed(absl::StrCat("stream ", options_.stream, " info"), s, jerr);
    State st;
    st.messages = si->State.Msgs;
    st.bytes = si->State.Bytes;
    st.last_seq = si->State.LastSeq;
    st.first_seq = st.messages == 0 ? 0 : si->State.FirstSeq;
    st.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
    if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) st.leader = si->Cluster->Leader;
    return st;
  }

  absl::StatusOr<uint64_t> Append(std::string_view bytes, uint64_t expected_last,
                                  const std::string& msg_id) override {
    if (static_cast<int64_t>(bytes.size()) > max_payload()) {
      return absl::OutOfRangeError(absl::StrCat("a change of ", bytes.size(),
                                                " bytes exceeds the log servers' max_payload (",
                                                max_payload(), "): send smaller batches"));
    }
    const absl::Time give_up = absl::Now() + options_.append_timeout;
    absl::Duration backoff = absl::Milliseconds(50);
    const int64_t refusals_before = permission_errors_.load();
    std::string last_error;
    for (int attempt = 0;; ++attempt) {
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = Millis(options_.request_timeout);
      po.MsgId = msg_id.c_str();
      po.ExpectStream = options_.stream.c_str();
      // ExpectLastSeq 0 means "no expectation" to JetStream; an empty
      // stream is expected as "no message on our (only) subject yet".
      if (expected_last == 0) {
        po.ExpectNoMessage = true;
      } else {
        po.ExpectLastSeq = expected_last;
      }
      jsPubAck* raw = nullptr;
      jsErrCode jerr = static_cast<jsErrCode>(0);
      natsStatus s = js_Publish(&raw, js_.get(), subject_.c_str(), bytes.data(),
                                static_cast<int>(bytes.size()), &po, &jerr);
      PubAckPtr ack(raw);
      // A duplicate is this append's own earlier attempt (ids are unique
      // per change): its position stands.
      if (s == NATS_OK) return ack->Sequence;
      if (jerr == JSStreamWrongLastSequenceErr) {
        return absl::Status(kFencedCode,
                            absl::StrCat("the change log has another entry after ", expected_last,
                                         ": another writer appended to stream ", options_.stream,
                                         " (this writer is fenced)"));
      }
      last_error = Why(s, jerr);
      if (permission_errors_.load() > refusals_before) {
        return absl::PermissionDeniedError(
            absl::StrCat("the log's servers do not let this node append to stream ",
                         options_.stream, " (its --log-user may only read)"));
      }
      // JetStream refused it for good (too large, out of storage or of the
      // account's resources): nothing was appended, and retrying will not
      // change that. Anything else, including "no responders" while a new
      // leader is elected (which the client reports as JetStream error
      // 10076), may be passing.
      if (jerr == JSStreamMessageExceedsMaximumErr || jerr == JSStorageResourcesExceededErr ||
          jerr == JSInsufficientResourcesErr || jerr == JSAccountResourcesExceededErr ||
          jerr == JSMemoryResourcesExceededErr) {
        return absl::FailedPreconditionError(
            absl::StrCat("the change log refused the change: ", last_error));
      }
      // Anything else may be passing (a timeout, no responder while a new
      // leader is elected, a reconnect): retry with the same id until the
      // deadline. Whether the entry got in is then unknown.
      if (absl::Now() + backoff > give_up) break;
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
    return absl::UnavailableError(
        absl::StrCat("the change log did not acknowledge the change within ",
                     absl::FormatDuration(options_.append_timeout), " (", last_error,
                     "); it may or may not be in the log"));
  }

  int64_t max_payload() const override { return natsConnection_GetMaxPayload(nc_.get()); }

  absl::StatusOr<std::unique_ptr<Cursor>> Follow(uint64_t from_seq) override {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = std::max<uint64_t>(1, from_seq);
    natsSubscription* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_SubscribeSync(&raw, js_.get(), subject_.c_str(), nullptr, &so, &jerr);
    SubscriptionPtr sub(raw);
    if (s != NATS_OK) return Failed("follow the change log", s, jerr);
    // A replica far behind receives the tail as fast as the server sends
    // it; flow control keeps it within these bounds.
    (void)natsSubscription_SetPendingLimits(sub.get(), 65536, 256 << 20);
    return std::unique_ptr<Cursor>(new NatsCursor(std::move(sub)));
  }

 private:
  explicit NatsChangeLog(const LogOptions& options)
      : options_(options), subject_(absl::StrCat(options.stream, ".changes")) {}

  static void OnError(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsStatus err,
                      void* closure) {
    if (err == NATS_NOT_PERMITTED) ++static_cast<NatsChangeLog*>(closure)->permission_errors_;
  }

  absl::Status EnsureStream() {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), options_.stream.c_str(), nullptr, &jerr);
    StreamInfoPtr si(raw);
    if (s == NATS_OK) return absl::OkStatus();
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
      return Failed(absl::StrCat("stream ", options_.stream, " info"), s, jerr);
    if (options_.create_replicas == 0) {
      return absl::NotFoundError(absl::StrCat("the change log stream ", options_.stream,
                                              " does not exist (the writer creates it)"));
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = options_.stream.c_str();
    const char* subjects[] = {subject_.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.create_replicas;
    cfg.Retention = js_LimitsPolicy;
    cfg.Discard = js_DiscardNew;  // Never drop a change to make room: refuse the new one.
    cfg.Duplicates = static_cast<int64_t>(120) * 1000 * 1000 * 1000;  // Two minutes, in ns.
    cfg.DenyDelete = true;
    cfg.DenyPurge = false;  // An operator trims the log once every replica has a newer backup.
    jsStreamInfo* created = nullptr;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&created, js_.get(), &cfg, nullptr, &jerr);
    StreamInfoPtr created_ptr(created);
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
      return Failed(absl::StrCat("create stream ", options_.stream), s, jerr);
    return absl::OkStatus();
  }

  const LogOptions options_;
  const std::string subject_;
  std::atomic<int64_t> permission_errors_{0};  // Before nc_: outlives the connection's callbacks.
  ConnectionPtr nc_;
  ContextPtr js_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeLog>> ChangeLog::Open(const LogOptions& options) {
  return NatsChangeLog::Open(options);
}

absl::StatusOr<std::vector<std::string>> ParseServers(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view part :
       absl::StrSplit(AV(list), absl::ByAnyChar(", "), absl::SkipEmpty())) {
    if (!absl::StartsWith(part, "nats://") && !absl::StartsWith(part, "tls://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("log server \"", part, "\" is not nats://host:port"));
    }
    out.emplace_back(part);
  }
  if (out.empty()) return absl::InvalidArgumentError("no log server given");
  return out;
}

}  // namespace linkage::changelog
