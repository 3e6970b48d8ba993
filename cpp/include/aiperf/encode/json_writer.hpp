// JsonWriter: the engine's one JSON writer; appends compact UTF-8 JSON (Python json.dumps-compatible) to a string.
#pragma once
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/encode/json_value.hpp"

namespace aiperf {

// Streaming use: w.begin_object(); w.key("model"); w.value("m"); w.end_object();
// Misuse (a key outside an object, a value without its key, unbalanced ends), invalid UTF-8 and NaN/inf throw
// aiperf::Error; after a throw the output holds a partial document.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view name);

  void null();
  void value(std::nullptr_t) { null(); }
  void value(bool b);
  void value(double d);
  void value(std::string_view s);
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  template <std::integral T>
  requires(!std::same_as<T, bool>) void value(T i) {
    if constexpr (std::is_signed_v<T>) {
      write_int(static_cast<std::int64_t>(i));
    } else {
      write_uint(static_cast<std::uint64_t>(i));
    }
  }
  void value(const JsonValue& v);

  // Inserts already-serialized JSON as one value (e.g. a cached fragment); it is not validated.
  void raw_value(std::string_view json);

  // True once exactly one top-level value has been completed.
  bool complete() const { return stack_.empty() && wrote_top_level_; }

 private:
  enum class Scope : std::uint8_t { kArray, kObjectExpectingKey, kObjectExpectingValue };
  struct Frame {
    Scope scope;
    bool has_members;
  };

  void before_value();
  void write_int(std::int64_t i);
  void write_uint(std::uint64_t u);

  std::string& out_;
  std::vector<Frame> stack_;
  bool wrote_top_level_ = false;
};

enum class InvalidUtf8 { raise, replace };
// Appends s as a quoted JSON string (escaping as Python's json with ensure_ascii=False). Invalid UTF-8 throws, or
// with InvalidUtf8::replace becomes U+FFFD per bad byte (for echoing untrusted bytes, e.g. in the mock server).
void append_json_string(std::string& out, std::string_view s, InvalidUtf8 on_invalid = InvalidUtf8::raise);
// Appends d as Python's repr(float) does (shortest round-trip, "4.0", "1e-07", "1e+300"); throws on NaN/inf.
void append_json_double(std::string& out, double d);

// Convenience: the compact JSON text of a whole tree.
std::string to_json(const JsonValue& v);

}  // namespace aiperf
