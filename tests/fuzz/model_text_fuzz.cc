// The model/spec text format: ParseTextFormat into a Model, then
// ValidateModel (and ValidateSpec), and for a model that validates,
// CompiledModel::Create and scoring of two fixed records with it. A valid
// model must compile and score without crashing, to a probability in [0, 1].
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "linkage/model.h"
#include "linkage/normalize.h"

namespace {

linkage::v1::NormalizedRecord Normalized(const char* id, const char* name, const char* dob,
                                         const char* cccd, const char* address) {
  linkage::v1::PersonRecord r;
  r.set_record_id(id);
  r.set_full_name(name);
  r.set_birth_date(dob);
  r.set_national_id(cccd);
  r.set_address(address);
  r.set_phone("0912345678");
  r.set_sex(linkage::v1::SEX_FEMALE);
  auto n = linkage::domain::NormalizeRecord(r);
  if (!n.ok()) linkage::fuzz::Fail("fixture record normalizes", n.status().ToString());
  return *n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  static const linkage::v1::NormalizedRecord* a = new linkage::v1::NormalizedRecord(
      Normalized("A", "Nguyễn Thị Hoa", "12/03/1948", "006148012345", "P. Đức Xuân, TP Bắc Kạn"));
  static const linkage::v1::NormalizedRecord* b = new linkage::v1::NormalizedRecord(
      Normalized("B", "Nguyen Thi Hoa", "1948", "", "Tổ 12, P. Đức Xuân, TP. Bắc Kạn"));

  std::string text(linkage::fuzz::AsText(data, size));
  linkage::v1::Model model;
  if (!linkage::model::ParseTextFormat(text, &model).ok()) return 0;
  absl::Status spec_ok = linkage::model::ValidateSpec(model.spec());
  absl::Status model_ok = linkage::model::ValidateModel(model);
  if (!model_ok.ok()) return 0;
  Check(spec_ok.ok(), "a valid model has a valid spec", spec_ok.ToString());

  auto compiled = linkage::model::CompiledModel::Create(model);
  Check(compiled.ok(), "a valid model compiles", compiled.status().ToString());
  const linkage::model::CompiledModel& m = **compiled;
  std::vector<linkage::model::FieldOutcome> out(m.num_fields());
  for (const auto* q : {a, b}) {
    for (const auto* c : {a, b}) {
      double bits = m.Compare(*q, *c, out.data());
      Check(!std::isnan(bits), "match weight is a number");
      double p = m.Probability(bits + m.PriorBits(1000));
      Check(p >= 0.0 && p <= 1.0, "probability in [0, 1]");
      google::protobuf::RepeatedPtrField<linkage::v1::FieldContribution> explained;
      m.Explain(*q, *c, out.data(), &explained);
      for (size_t i = 0; i < m.num_fields(); ++i) {
        (void)m.LevelKindOf(i, out[i].level);
        (void)m.TermKey(i, *q);
      }
    }
    (void)linkage::model::ComputeBlockingKeys(model.spec(), *q);
  }
  return 0;
}
