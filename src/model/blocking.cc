// Blocking keys: the index entries a record gets under a spec's rules.
#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "levels.h"
#include "linkage/domain.h"
#include "linkage/model.h"
#include "linkage/names.h"

namespace linkage::model {

using internal::Attribute;
using internal::DateDigits;

std::vector<BlockingKey> ComputeBlockingKeys(const v1::LinkageSpec& spec,
                                             const v1::NormalizedRecord& r) {
  std::vector<BlockingKey> keys;
  const v1::NormalizedName& name = r.name();
  for (int ri = 0; ri < spec.blocking_rules_size(); ++ri) {
    const v1::BlockingRule& rule = spec.blocking_rules(ri);
    std::vector<std::string> partial = {""};
    int attribute_part = 0;
    for (int pi = 0; pi < rule.parts_size(); ++pi) {
      std::vector<std::string> values;
      switch (rule.parts(pi)) {
        case v1::KEY_NATIONAL_ID:
          if (r.national_id().kind() == v1::ID_KIND_CCCD)
            values.push_back(r.national_id().digits());
          break;
        case v1::KEY_OLD_ID:
          if (r.old_id().kind() == v1::ID_KIND_CMND) values.push_back(r.old_id().digits());
          break;
        case v1::KEY_FAMILY_FOLDED:
          if (name.family_len() > 0) values.push_back(text::FoldedFamily(name));
          break;
        case v1::KEY_FAMILY_GROUP:
          if (name.family_len() > 0) values.push_back(name.family_group());
          break;
        case v1::KEY_GIVEN_FOLDED:
          if (name.folded_tokens_size() > 0) values.push_back(text::FoldedGiven(name));
          break;
        case v1::KEY_GIVEN_PHONETIC:
          if (name.phonetic_tokens_size() > 0)
            values.push_back(name.phonetic_tokens(name.phonetic_tokens_size() - 1));
          break;
        case v1::KEY_FULL_NAME_FOLDED:
          if (name.folded_tokens_size() > 0)
            values.push_back(absl::StrJoin(name.folded_tokens(), " "));
          break;
        case v1::KEY_NAME_DROP_ONE: {
          const int n = name.folded_tokens_size();
          if (n < 3) break;  // Two parts less one is one part: no key at all.
          for (int skip = 0; skip < n; ++skip) {
            std::vector<absl::string_view> rest;
            for (int t = 0; t < n; ++t) {
              if (t != skip) rest.emplace_back(name.folded_tokens(t));
            }
            std::sort(rest.begin(), rest.end());
            std::string key = absl::StrJoin(rest, " ");
            if (std::find(values.begin(), values.end(), key) == values.end())
              values.push_back(std::move(key));
          }
          break;
        }
        case v1::KEY_NAME_ENDS: {
          const int n = name.folded_tokens_size();
          if (n < 2) break;
          absl::string_view first = name.folded_tokens(0), last = name.folded_tokens(n - 1);
          if (last < first) std::swap(first, last);
          values.push_back(absl::StrCat(first, " ", last));
          break;
        }
        case v1::KEY_FAMILY_PHONETIC:
          if (name.family_len() > 0) values.push_back(name.phonetic_tokens(0));
          break;
        case v1::KEY_BIRTH_YEAR:
          if (r.birth_date().year() != 0) values.push_back(absl::StrCat(r.birth_date().year()));
          break;
        case v1::KEY_BIRTH_DATE:
          if (domain::IsFullDate(r.birth_date())) {
            std::array<char, 8> buf;
            values.emplace_back(DateDigits(r.birth_date(), buf));
          }
          break;
        case v1::KEY_BIRTH_DAY_MONTH:
          if (domain::IsFullDate(r.birth_date())) {
            std::array<char, 8> buf;
            values.emplace_back(DateDigits(r.birth_date(), buf).substr(4));
          }
          break;
        case v1::KEY_PHONETIC_SORTED: {
          std::vector<std::string> p(name.phonetic_tokens().begin(), name.phonetic_tokens().end());
          std::sort(p.begin(), p.end());
          if (!p.empty()) values.push_back(absl::StrJoin(p, " "));
          break;
        }
        case v1::KEY_COMMUNE_2025:
          values.assign(r.address().commune_codes_2025().begin(),
                        r.address().commune_codes_2025().end());
          break;
        case v1::KEY_PROVINCE_2025:
          if (!r.address().province_code_2025().empty())
            values.push_back(r.address().province_code_2025());
          break;
        case v1::KEY_ATTRIBUTE: {
          const std::string& attribute = rule.attributes_size() > attribute_part
                                             ? rule.attributes(attribute_part)
                                             : rule.attribute();
          ++attribute_part;
          std::string_view v = Attribute(r, attribute);
          if (rule.attribute_prefix() > 0)
            v = v.substr(0, static_cast<size_t>(rule.attribute_prefix()));
          if (!v.empty()) values.emplace_back(v);
          break;
        }
        default:
          break;
      }
      std::vector<std::string> next;
      for (const std::string& p : partial) {
        for (const std::string& v : values) next.push_back(pi == 0 ? v : absl::StrCat(p, "|", v));
      }
      partial = std::move(next);
      if (partial.empty()) break;
    }
    for (std::string& k : partial) keys.push_back({ri, std::move(k)});
  }
  return keys;
}

}  // namespace linkage::model
