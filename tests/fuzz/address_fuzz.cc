// Address resolution against the embedded gazetteer. Input: a mode byte
// (unit version and import default), then "text\ncommune\ndistrict\n
// province". Whatever resolves names units that exist in the lists.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "linkage/address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using linkage::fuzz::Check;
  namespace domain = linkage::domain;
  std::string_view in = linkage::fuzz::AsText(data, size);
  const unsigned char mode = linkage::fuzz::TakeByte(in);
  std::string_view pieces[4];
  for (std::string_view& piece : pieces) {
    size_t nl = in.find('\n');
    piece = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  }
  domain::AddressInput input;
  input.text = pieces[0];
  input.commune_code = pieces[1];
  input.district_code = pieces[2];
  input.province_code = pieces[3];
  input.version = static_cast<linkage::v1::UnitVersion>(mode % 3);
  input.default_version = static_cast<linkage::v1::UnitVersion>((mode / 3) % 3);

  const domain::Gazetteer& g = domain::Gazetteer::Default();
  std::vector<std::string> flags;
  linkage::v1::NormalizedAddress out = g.Resolve(input, flags);
  for (const std::string& code : out.commune_codes_2025()) {
    Check(g.Commune2025(code) != nullptr, "resolved communes exist", code);
  }
  for (const std::string& code : out.old_district_codes()) {
    Check(g.DistrictPre2025(code) != nullptr, "resolved districts exist", code);
  }
  if (!out.old_commune_code().empty()) {
    Check(g.CommunePre2025(out.old_commune_code()) != nullptr, "old commune exists",
          out.old_commune_code());
  }
  if (!out.province_code_2025().empty()) {
    Check(!g.ProvinceName2025(out.province_code_2025()).empty(), "province exists",
          out.province_code_2025());
  }

  // The lookups on raw codes.
  for (const std::string& code : g.CurrentCommunes(input.commune_code)) {
    Check(g.Commune2025(code) != nullptr, "crosswalk targets exist", code);
  }
  for (const std::string& code : g.PreviousCommunes(input.commune_code)) {
    Check(g.CommunePre2025(code) != nullptr, "crosswalk sources exist", code);
  }
  (void)g.CurrentProvince(input.province_code);
  (void)g.ProvinceNamePre2025(input.province_code);
  (void)domain::UnitNameKey(input.text);
  return 0;
}
