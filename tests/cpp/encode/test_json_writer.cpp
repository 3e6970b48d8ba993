// Tests of JsonWriter / JsonValue: escaping, UTF-8 checks, Python-compatible doubles, streaming misuse.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/json_value.hpp"
#include "aiperf/encode/json_writer.hpp"

using aiperf::JsonArray;
using aiperf::JsonObject;
using aiperf::JsonValue;
using aiperf::JsonWriter;

namespace {
std::string json_of_double(double d) {
  std::string out;
  aiperf::append_json_double(out, d);
  return out;
}
std::string json_of_string(std::string_view s) {
  std::string out;
  aiperf::append_json_string(out, s);
  return out;
}
}  // namespace

TEST(JsonWriter, ObjectKeepsInsertionOrderAndIsCompact) {
  const JsonValue payload =
      JsonObject{{"model", "m"},       {"messages", JsonArray{JsonObject{{"role", "user"}, {"content", "hi"}}}},
                 {"stream", true},     {"max_tokens", 16},
                 {"temperature", 0.5}, {"stop", nullptr},
                 {"a", JsonArray{}},   {"b", JsonObject{}}};
  EXPECT_EQ(aiperf::to_json(payload),
            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":16,)"
            R"("temperature":0.5,"stop":null,"a":[],"b":{}})");
}

TEST(JsonWriter, StreamingApiWritesTheSameAsTheTree) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("n");
  w.value(1);
  w.key("list");
  w.begin_array();
  w.value(false);
  w.null();
  w.value(std::int64_t{-9223372036854775807LL - 1});
  w.value(std::uint64_t{18446744073709551615ULL});
  w.value("text");
  w.raw_value(R"({"cached":1})");
  w.end_array();
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out, R"({"n":1,"list":[false,null,-9223372036854775808,18446744073709551615,"text",{"cached":1}]})");
}

TEST(JsonWriter, EscapesLikePythonJsonWithoutEnsureAscii) {
  EXPECT_EQ(json_of_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_of_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_of_string(std::string("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(json_of_string("\x7f/"), "\"\x7f/\"");  // DEL and '/' are not escaped by Python either
  EXPECT_EQ(json_of_string("héllo 日本 🎉"), "\"héllo 日本 🎉\"");
}

TEST(JsonWriter, LongAsciiRunsWithEscapesAtEveryPosition) {
  // Exercises the 8-byte fast path: an escape at each offset of a 40-byte ASCII run.
  for (std::size_t position = 0; position < 40; ++position) {
    std::string text(40, 'x');
    text[position] = '"';
    std::string expected = "\"" + std::string(position, 'x') + "\\\"" + std::string(39 - position, 'x') + "\"";
    EXPECT_EQ(json_of_string(text), expected) << position;
  }
}

TEST(JsonWriter, InvalidUtf8IsRejectedWithItsOffset) {
  const std::string invalid[] = {
      "\x80", "ab\xc3",      "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
      "\xff", "xxxxxxxx\xfe"};
  for (const auto& s : invalid) {
    EXPECT_THROW(json_of_string(s), aiperf::Error) << s;
  }
  try {
    json_of_string("abcdefghij\xc3(");
    FAIL();
  } catch (const aiperf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte offset 10"), std::string::npos) << e.what();
  }
  // The largest valid code points of each length pass.
  EXPECT_NO_THROW(json_of_string("\xc2\x80\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xed\x9f\xbf"));
}

TEST(JsonWriter, DoublesMatchPythonRepr) {
  EXPECT_EQ(json_of_double(4.0), "4.0");
  EXPECT_EQ(json_of_double(0.1), "0.1");
  EXPECT_EQ(json_of_double(-0.0), "-0.0");
  EXPECT_EQ(json_of_double(0.0), "0.0");
  EXPECT_EQ(json_of_double(1e-7), "1e-07");
  EXPECT_EQ(json_of_double(1.5e-5), "1.5e-05");
  EXPECT_EQ(json_of_double(0.0001), "0.0001");
  EXPECT_EQ(json_of_double(1e300), "1e+300");
  EXPECT_EQ(json_of_double(1e16), "1e+16");
  EXPECT_EQ(json_of_double(1e15), "1000000000000000.0");
  EXPECT_EQ(json_of_double(123456789012345680.0), "1.2345678901234568e+17");
  EXPECT_EQ(json_of_double(-2.5), "-2.5");
  EXPECT_EQ(json_of_double(5e-324), "5e-324");
  EXPECT_EQ(json_of_double(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(json_of_double(0.30000000000000004), "0.30000000000000004");
}

TEST(JsonWriter, NanAndInfinityAreRejected) {
  std::string out;
  JsonWriter w(out);
  EXPECT_THROW(w.value(std::nan("")), aiperf::Error);
  EXPECT_THROW(w.value(std::numeric_limits<double>::infinity()), aiperf::Error);
  EXPECT_THROW(aiperf::to_json(JsonValue(JsonArray{-std::numeric_limits<double>::infinity()})), aiperf::Error);
  EXPECT_TRUE(out.empty());
}

TEST(JsonWriter, MisuseOfTheStreamingApiThrows) {
  std::string out;
  JsonWriter w(out);
  EXPECT_THROW(w.key("outside"), aiperf::Error);
  w.begin_object();
  EXPECT_THROW(w.value(1), aiperf::Error);  // no key
  EXPECT_THROW(w.end_array(), aiperf::Error);
  w.key("k");
  EXPECT_THROW(w.key("again"), aiperf::Error);
  EXPECT_THROW(w.end_object(), aiperf::Error);  // key without value
  w.value(1);
  w.end_object();
  EXPECT_THROW(w.value(2), aiperf::Error);  // second top-level value
}

TEST(JsonWriter, InvalidUtf8CanBeReplacedInsteadOfThrown) {
  std::string out;
  EXPECT_THROW(aiperf::append_json_string(out, std::string_view("a\xff"
                                                                "b",
                                                                3)),
               aiperf::Error);
  out.clear();
  aiperf::append_json_string(out,
                             std::string_view("a\xff"
                                              "b\"",
                                              4),
                             aiperf::InvalidUtf8::replace);
  EXPECT_EQ(out,
            "\"a\xEF\xBF\xBD"
            "b\\\"\"");
}
