// Helpers shared by the tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "linkage/v1/record.pb.h"

namespace linkage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/linkd-test-XXXXXX";
    char* made = mkdtemp(tmpl.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A person record for tests.
inline v1::PersonRecord Person(const std::string& id, const std::string& name,
                               const std::string& dob, const std::string& cccd = "",
                               const std::string& address = "", v1::Sex sex = v1::SEX_UNSPECIFIED) {
  v1::PersonRecord r;
  r.set_record_id(id);
  r.set_full_name(name);
  r.set_birth_date(dob);
  r.set_national_id(cccd);
  r.set_address(address);
  r.set_sex(sex);
  return r;
}

}  // namespace linkage::testing
