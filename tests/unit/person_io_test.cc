#include "linkage/person_io.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace linkage::domain {
namespace {

TEST(PersonJson, NumbersAreTakenDigitForDigit) {
  auto a =
      PersonFromJson(R"({"record_id": 1234567, "full_name": "A", "national_id": 19128007932})", 1);
  auto b = PersonFromJson(R"({"record_id": 1234568, "full_name": "A"})", 2);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->record_id(), "1234567");
  EXPECT_EQ(b->record_id(), "1234568");
  EXPECT_EQ(a->national_id(), "19128007932");
  auto big =
      PersonFromJson(R"({"record_id":"x","full_name":"A","phone":123456789012345678901})", 3);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->phone(), "123456789012345678901");
  auto frac = PersonFromJson(R"({"record_id":"x","full_name":"A","score":-1.50e+3})", 4);
  ASSERT_TRUE(frac.ok());
  EXPECT_EQ(frac->attributes().at("score"), "-1.50e+3");
}

TEST(PersonJson, NumberThatCannotBeKeptAsWrittenIsRefusedNamingLineAndField) {
  auto lead = PersonFromJson(R"({"record_id":"x","full_name":"A","national_id":0012345})", 7);
  ASSERT_FALSE(lead.ok());
  EXPECT_NE(lead.status().message().find("line 7"), std::string::npos) << lead.status();
  EXPECT_NE(lead.status().message().find("national_id"), std::string::npos) << lead.status();
  EXPECT_FALSE(PersonFromJson(R"({"record_id": 12., "full_name":"A"})", 1).ok());
  EXPECT_FALSE(PersonFromJson(R"({"record_id": 1e, "full_name":"A"})", 1).ok());
  EXPECT_FALSE(PersonFromJson(R"({"record_id": -, "full_name":"A"})", 1).ok());
}

TEST(PersonJson, StringsBoolsNullAndEscapes) {
  auto r = PersonFromJson(
      R"({"record_id":"a\"b","full_name":"L\u00ea V\u0103n \ud83d\ude00","sex":"F","x":true,)"
      R"("y":null,"address":"1\/2\n"})",
      1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->record_id(), "a\"b");
  EXPECT_EQ(r->full_name(), "Lê Văn \xF0\x9F\x98\x80");
  EXPECT_EQ(r->sex(), v1::SEX_FEMALE);
  EXPECT_EQ(r->attributes().at("x"), "true");
  EXPECT_EQ(r->attributes().count("y"), 0u);
  EXPECT_EQ(r->address(), "1/2\n");
}

TEST(PersonJson, MalformedLinesAreRefusedWithTheLine) {
  for (const char* bad : {"", "[]", "{", R"({"a":"b")", R"({"a":"b"} x)", R"({"a" "b"})",
                          R"({a:"b"})", R"({"a":"\x"})", R"({"a":"\ud800"})", "{\"a\":\"\x01\"}",
                          R"({"a":tru})", R"({"a":"b",})"}) {
    auto r = PersonFromJson(bad, 12);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind("line 12: ", 0), 0u) << r.status();
  }
  auto twice = PersonFromJson(R"({"record_id":"1","full_name":"A","record_id":"2"})", 3);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("\"record_id\" appears twice"), std::string::npos);
}

TEST(PersonJson, DeepNestingAndLongLinesAreRefusedQuickly) {
  // 100,000 levels (a 200 KB line): protobuf's parser took over a minute.
  std::string deep = R"({"record_id":"1","full_name":"A","extra":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  const auto start = std::chrono::steady_clock::now();
  auto r = PersonFromJson(deep, 5);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 5: field \"extra\" is an array"), std::string::npos)
      << r.status();
  auto obj = PersonFromJson(R"({"record_id":"1","full_name":"A","extra":{"k":"v"}})", 1);
  ASSERT_FALSE(obj.ok());
  EXPECT_NE(obj.status().message().find("is an object"), std::string::npos);

  std::string huge =
      R"({"record_id":"1","full_name":")" + std::string(kMaxJsonLineBytes, 'a') + R"("})";
  auto h = PersonFromJson(huge, 9);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("line 9: longer than"), std::string::npos) << h.status();
}

}  // namespace
}  // namespace linkage::domain
