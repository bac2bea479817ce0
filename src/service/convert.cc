#include "convert.h"

namespace linkage::service {

engine::MatchOptions MatchOptionsFrom(int32_t top_k, bool include_records, bool omit_explanation,
                                      const std::string& exclude_record_id, bool lenient_dates) {
  engine::MatchOptions mo;
  mo.top_k = top_k == 0 ? 5 : top_k;
  mo.include_records = include_records;
  mo.explain = !omit_explanation;
  mo.include_query = !omit_explanation;
  mo.exclude_record_id = exclude_record_id;
  mo.lenient_dates = lenient_dates;
  return mo;
}

}  // namespace linkage::service
