// The options table (src/service/config.cc): it covers ServerConfig, its
// defaults and ranges are the ones WithDefaults and ValidateConfig apply
// and the ones config.proto's comments state, and --help is written from it.
#include "config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "linkage/server.h"

namespace linkage::service {
namespace {

const google::protobuf::FieldDescriptor* Descriptor(const ConfigField& f) {
  return v1::ServerConfig::descriptor()->FindFieldByName(std::string(f.name));
}

const ConfigField& Row(std::string_view name) {
  for (const ConfigField& f : ConfigFields()) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no row for " << name;
  static const ConfigField none{};
  return none;
}

std::string RangeText(const ConfigField& f) {
  if (TypeOf(f) == ConfigType::kDouble) return absl::StrCat(f.min, "..", f.max);
  return absl::StrCat(static_cast<int32_t>(f.min), "..", static_cast<int32_t>(f.max));
}

TEST(ConfigTableTest, EveryServerConfigFieldHasExactlyOneRow) {
  std::set<std::string> rows;
  for (const ConfigField& f : ConfigFields()) {
    EXPECT_NE(Descriptor(f), nullptr) << f.name << " is not a ServerConfig field";
    EXPECT_TRUE(rows.insert(std::string(f.name)).second) << f.name << " has two rows";
  }
  const google::protobuf::Descriptor* d = v1::ServerConfig::descriptor();
  EXPECT_EQ(rows.size(), static_cast<size_t>(d->field_count()));
  for (int i = 0; i < d->field_count(); ++i) EXPECT_EQ(rows.count(d->field(i)->name()), 1u);
}

TEST(ConfigTableTest, RowsAreConsistent) {
  int last_ranged = 0;
  for (const ConfigField& f : ConfigFields()) {
    SCOPED_TRACE(std::string(f.name));
    const ConfigType type = TypeOf(f);
    // ValidateConfig names the first field out of range in declaration order.
    if (f.has_range()) {
      EXPECT_TRUE(type == ConfigType::kInt32 || type == ConfigType::kDouble);
      EXPECT_LT(f.min, f.max);
      EXPECT_GT(Descriptor(f)->number(), last_ranged);
      last_ranged = Descriptor(f)->number();
      if (f.compute == nullptr) {
        EXPECT_GE(f.number, f.min);
        EXPECT_LE(f.number, f.max);
      }
    }
    if (type == ConfigType::kInt32) {
      EXPECT_EQ(f.number, static_cast<int32_t>(f.number));
    }
    if (type != ConfigType::kString) {
      EXPECT_TRUE(f.text.empty());
    }
    if (type == ConfigType::kString || type == ConfigType::kEnum) {
      EXPECT_EQ(f.number, 0);
    }
    if (type == ConfigType::kBool && !Descriptor(f)->has_presence()) {
      EXPECT_EQ(f.number, 0) << "a plain bool cannot default to true";
    }
    EXPECT_EQ(f.note.empty(), f.compute == nullptr);
    EXPECT_EQ(f.flag.empty(), f.help.empty());
    if (!f.flag.empty()) {
      EXPECT_NE(type, ConfigType::kEnum);
    }
  }
}

TEST(ConfigTableTest, WithDefaultsFillsEveryUnsetFieldFromTheTable) {
  const v1::ServerConfig c = WithDefaults(v1::ServerConfig());
  EXPECT_EQ(c.listen(), "127.0.0.1:50051");
  EXPECT_EQ(c.db(), "./linkd-data");
  EXPECT_EQ(c.workers(), static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(c.max_message_mib(), 16);
  EXPECT_EQ(c.max_batch_records(), 10000);
  EXPECT_EQ(c.max_candidates(), 200);
  EXPECT_EQ(c.max_block_size(), 2000);
  EXPECT_EQ(c.max_stream_in_flight(), 256);
  EXPECT_EQ(c.max_queued_calls(), 4096);
  EXPECT_EQ(c.shutdown_grace_seconds(), 10);
  EXPECT_TRUE(c.has_sync_writes());
  EXPECT_TRUE(c.sync_writes());
  EXPECT_EQ(c.block_cache_mib(), 256);
  EXPECT_EQ(c.default_unit_version(), v1::UNIT_VERSION_UNSPECIFIED);
  EXPECT_EQ(c.model_file(), "");
  EXPECT_FALSE(c.no_match_view());
  EXPECT_FALSE(c.accept_wal_loss());
  EXPECT_EQ(c.disk_reserve_mib(), 256);
  EXPECT_EQ(c.max_stream_records(), 4096);
  EXPECT_EQ(c.max_stream_mib(), 64);
  EXPECT_EQ(c.max_concurrent_streams(), 64);
  EXPECT_EQ(c.max_transport_mib(), 1024);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
}

TEST(ConfigTableTest, WithDefaultsKeepsWhatIsSet) {
  v1::ServerConfig in;
  in.set_listen("[::1]:7");
  in.set_workers(3);
  in.set_shutdown_grace_seconds(0.5);
  in.set_sync_writes(false);
  in.set_max_transport_mib(64);
  const v1::ServerConfig c = WithDefaults(in);
  EXPECT_EQ(c.listen(), "[::1]:7");
  EXPECT_EQ(c.workers(), 3);
  EXPECT_EQ(c.shutdown_grace_seconds(), 0.5);
  EXPECT_FALSE(c.sync_writes());
  EXPECT_EQ(c.max_transport_mib(), 64);
  EXPECT_EQ(c.max_message_mib(), 16);
}

TEST(ConfigTableTest, ValidateConfigNamesTheFirstOptionOutOfRange) {
  v1::ServerConfig c = WithDefaults(v1::ServerConfig());
  c.set_max_message_mib(4096);
  EXPECT_EQ(ValidateConfig(c).message(), "option max_message_mib is 4096; it must be in 1..1024");
  c.set_workers(-1);  // Declared before max_message_mib.
  EXPECT_EQ(ValidateConfig(c).message(), "option workers is -1; it must be in 1..256");
  c = WithDefaults(v1::ServerConfig());
  c.set_shutdown_grace_seconds(4000);
  EXPECT_EQ(ValidateConfig(c).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateConfig(c).message(),
            "option shutdown_grace_seconds is 4000; it must be in 0.001..3600");
  // Each end of each range is accepted and one step past it is not.
  for (const ConfigField& f : ConfigFields()) {
    if (!f.has_range()) continue;
    SCOPED_TRACE(std::string(f.name));
    const double step = TypeOf(f) == ConfigType::kDouble ? 0.0005 : 1;
    for (auto [value, ok] : {std::pair{f.min, true}, std::pair{f.max, true},
                             std::pair{f.min - step, false}, std::pair{f.max + step, false}}) {
      v1::ServerConfig v = WithDefaults(v1::ServerConfig());
      if (TypeOf(f) == ConfigType::kDouble) {
        SetField(f, value, &v);
      } else {
        SetField(f, static_cast<int32_t>(value), &v);
      }
      EXPECT_EQ(ValidateConfig(v).ok(), ok) << value;
    }
  }
}

TEST(ConfigTableTest, FlagHelpStatesTheDefault) {
  EXPECT_EQ(FlagHelp(Row("listen")),
            "host:port to listen on (default 127.0.0.1:50051; port 0 picks one)");
  EXPECT_EQ(FlagHelp(Row("workers")), "Scoring threads (default: number of cores)");
  EXPECT_EQ(FlagHelp(Row("max_message_mib")), "Largest gRPC message, MiB (default 16)");
  EXPECT_EQ(FlagHelp(Row("shutdown_grace_seconds")),
            "Seconds in-flight calls get on shutdown (default 10)");
  EXPECT_EQ(FlagHelp(Row("sync_writes")),
            "Sync acknowledged writes to disk (default on; --no-sync-writes survives process "
            "crashes only)");
  // Off unless given, or no default of its own: nothing to state.
  EXPECT_EQ(FlagHelp(Row("accept_wal_loss")),
            "Start even if the write-ahead log is damaged, dropping what follows the damage");
  EXPECT_EQ(FlagHelp(Row("model_file")), "Model to install at start (text format or .json)");
}

// Each field's comment in config.proto, its lines joined by spaces.
std::map<std::string, std::string> ProtoComments() {
  std::ifstream in(LINKD_SOURCE_DIR "/proto/linkage/v1/config.proto");
  EXPECT_TRUE(in) << "config.proto not found";
  std::map<std::string, std::string> comments;
  std::string line, comment;
  bool in_message = false;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos) continue;
    line = line.substr(start);
    if (line.rfind("message ServerConfig", 0) == 0) {
      in_message = true;
      comment.clear();
    } else if (!in_message) {
      continue;
    } else if (line.rfind("//", 0) == 0) {
      std::string text = line.substr(2);
      if (!text.empty() && text[0] == ' ') text.erase(0, 1);
      absl::StrAppend(&comment, comment.empty() ? "" : " ", text);
    } else if (line == "}") {
      break;
    } else {
      // "[optional] type name = number;"
      std::istringstream words(line);
      std::string type, name;
      words >> type;
      if (type == "optional") words >> type;
      words >> name;
      comments[name] = comment;
      comment.clear();
    }
  }
  return comments;
}

// True if `text` holds `phrase` not followed by another character of a
// number (so "Default 10" is not found in "Default 1024").
bool HasPhrase(const std::string& text, const std::string& phrase) {
  for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
    const size_t end = at + phrase.size();
    if (end == text.size()) return true;
    const char next = text[end];
    if (!std::isdigit(static_cast<unsigned char>(next)) &&
        !(next == '.' && end + 1 < text.size() &&
          std::isdigit(static_cast<unsigned char>(text[end + 1])))) {
      return true;
    }
  }
  return false;
}

TEST(ConfigTableTest, ProtoCommentsStateTheTablesDefaultsAndRanges) {
  const std::map<std::string, std::string> comments = ProtoComments();
  ASSERT_EQ(comments.size(), ConfigFields().size());
  for (const ConfigField& f : ConfigFields()) {
    SCOPED_TRACE(std::string(f.name));
    auto it = comments.find(std::string(f.name));
    ASSERT_NE(it, comments.end());
    const std::string& comment = it->second;
    std::string value = DefaultText(f);
    if (TypeOf(f) == ConfigType::kString && !value.empty()) value = absl::StrCat("\"", value, "\"");
    if (value.empty()) {
      EXPECT_NE(comment.find("Default:"), std::string::npos) << comment;
    } else {
      EXPECT_TRUE(HasPhrase(comment, "Default " + value))
          << "wants \"Default " << value << "\": " << comment;
    }
    if (f.has_range()) {
      EXPECT_TRUE(HasPhrase(comment, "Range " + RangeText(f)))
          << "wants \"Range " << RangeText(f) << "\": " << comment;
    } else {
      EXPECT_EQ(comment.find("Range"), std::string::npos) << comment;
    }
  }
}

}  // namespace
}  // namespace linkage::service
