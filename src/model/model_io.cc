#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "linkage/model.h"

namespace linkage::model {
namespace {

class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty())
      first = absl::StrCat("line ", line + 1, " column ", column + 1, ": ", message);
  }
  std::string first;
};

}  // namespace

absl::Status ParseTextFormat(const std::string& text, google::protobuf::Message* message) {
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, message)) return absl::InvalidArgumentError(errors.first);
  return absl::OkStatus();
}

absl::StatusOr<v1::Model> LoadModelFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("model file ", path, " cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  v1::Model model;
  if (absl::EndsWith(path, ".json")) {
    auto st = google::protobuf::util::JsonStringToMessage(ss.str(), &model);
    if (!st.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("model file ", path, ": ", st.message().as_string()));
    return model;
  }
  absl::Status st = ParseTextFormat(ss.str(), &model);
  if (!st.ok())
    return absl::InvalidArgumentError(absl::StrCat("model file ", path, ": ", st.message()));
  return model;
}

}  // namespace linkage::model
