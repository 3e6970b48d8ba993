// JsonValue: an in-memory JSON tree (objects keep their keys in insertion order), written by JsonWriter.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace aiperf {

class JsonValue;
using JsonArray = std::vector<JsonValue>;
// A vector of members rather than a map: payload key order is part of what users see in inputs.json.
using JsonMember = std::pair<std::string, JsonValue>;
using JsonObject = std::vector<JsonMember>;

class JsonValue {
 public:
  using Variant = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, JsonArray, JsonObject>;

  JsonValue() : value_(nullptr) {}
  JsonValue(std::nullptr_t) : value_(nullptr) {}
  JsonValue(bool b) : value_(b) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) JsonValue(T i) : value_(static_cast<std::int64_t>(i)) {}
  JsonValue(double d) : value_(d) {}
  JsonValue(const char* s) : value_(std::string(s)) {}
  JsonValue(std::string s) : value_(std::move(s)) {}
  JsonValue(JsonArray a) : value_(std::move(a)) {}
  JsonValue(JsonObject o) : value_(std::move(o)) {}

  const Variant& variant() const { return value_; }
  Variant& variant() { return value_; }

  template <class T>
  bool is() const {
    return std::holds_alternative<T>(value_);
  }
  template <class T>
  const T& as() const {
    return std::get<T>(value_);
  }
  template <class T>
  T& as() {
    return std::get<T>(value_);
  }

 private:
  Variant value_;
};

}  // namespace aiperf
