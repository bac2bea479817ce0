// Vietnamese administrative units before and after the 1 July 2025 reform,
// the old -> new commune crosswalk, and resolution of addresses (codes and/or
// free text) to current units.
//
// Every unit code is meaningful only with its version: most 2025 commune
// codes reuse a pre-2025 code for a different place. Resolution therefore
// always ends in current (2025) communes, with a split old commune mapping to
// several, plus the pre-2025 districts the place lies in.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "linkage/v1/record.pb.h"

namespace linkage::domain {

// One administrative unit of either list.
struct AdminUnit {
  std::string code;
  std::string name;           // As published, e.g. "Phường Đức Xuân".
  std::string type;           // "Xã", "Phường", "Thị trấn", "Huyện", ...
  std::string district_code;  // Pre-2025 communes only.
  std::string province_code;  // In the same list as the unit.
};

// What is known of an address, as a record gives it.
struct AddressInput {
  std::string_view text;           // "Tổ 12, P. Đức Xuân, TP. Bắc Kạn"
  std::string_view commune_code;   // Zero-padded GSO code, any version.
  std::string_view district_code;  // Pre-2025 only.
  std::string_view province_code;
  v1::UnitVersion version = v1::UNIT_VERSION_UNSPECIFIED;
  // Used when neither `version` nor the text decides (an import-wide default).
  v1::UnitVersion default_version = v1::UNIT_VERSION_UNSPECIFIED;
};

// The reference tables, built once from the data compiled into the binary.
// Immutable after construction and safe to share between threads.
class Gazetteer {
 public:
  // The tables shipped with linkd (see data/vn/README.md for sources).
  static const Gazetteer& Default();

  ~Gazetteer();
  Gazetteer(const Gazetteer&) = delete;
  Gazetteer& operator=(const Gazetteer&) = delete;

  // Resolves an address. Never fails: what cannot be resolved stays empty,
  // and `flags` receives "ADDRESS_UNRESOLVED", "UNIT_VERSION_GUESSED",
  // "UNKNOWN_COMMUNE_CODE" or "ADDRESS_AMBIGUOUS" as they apply.
  v1::NormalizedAddress Resolve(const AddressInput& input, std::vector<std::string>& flags) const;

  // Current communes an old (pre-2025) commune became; several if it was
  // split, empty if the code is unknown.
  std::vector<std::string> CurrentCommunes(std::string_view old_commune_code) const;

  const AdminUnit* Commune2025(std::string_view code) const;
  const AdminUnit* CommunePre2025(std::string_view code) const;
  const AdminUnit* DistrictPre2025(std::string_view code) const;
  // Current province of a pre-2025 province code ("06" -> "19").
  std::string CurrentProvince(std::string_view old_province_code) const;

  // Pre-2025 communes that became (part of) a current commune.
  std::vector<std::string> PreviousCommunes(std::string_view commune_2025_code) const;
  // Province names as published ("Thành phố Hà Nội", "Tỉnh Bắc Kạn").
  std::string ProvinceName2025(std::string_view code) const;
  std::string ProvinceNamePre2025(std::string_view code) const;

  // All current commune codes, in file order (for generators and tests).
  const std::vector<std::string>& Commune2025Codes() const;
  // All pre-2025 commune codes, in file order.
  const std::vector<std::string>& CommunePre2025Codes() const;

  struct Tables;

 private:
  explicit Gazetteer(std::unique_ptr<Tables> tables);
  std::unique_ptr<Tables> t_;
};

// The lookup key of a unit name: folded, without its type word, numbers
// without leading zeros ("Phường 09" -> "9", "Thành Phố Bắc Kạn" -> "bac kan").
std::string UnitNameKey(std::string_view name);

}  // namespace linkage::domain
