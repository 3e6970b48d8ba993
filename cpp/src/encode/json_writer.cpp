// JsonWriter: compact JSON output matching Python's json.dumps(separators=(",", ":"), ensure_ascii=False).
#include "aiperf/encode/json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <variant>

#include "aiperf/common/error.hpp"

namespace aiperf {
namespace {

// Escape class of each byte: 0 copy as is, 1 needs a backslash escape, 2 starts a multi-byte UTF-8 sequence.
constexpr std::array<std::uint8_t, 256> make_byte_classes() {
  std::array<std::uint8_t, 256> classes{};
  for (int b = 0; b < 0x20; ++b) classes[b] = 1;
  classes['"'] = 1;
  classes['\\'] = 1;
  for (int b = 0x80; b < 0x100; ++b) classes[b] = 2;
  return classes;
}
constexpr auto kByteClasses = make_byte_classes();

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// True if any byte of the 8-byte word needs attention (control, quote, backslash or non-ASCII); lets long ASCII
// payloads such as base64 images be copied a word at a time.
inline bool word_needs_attention(std::uint64_t word) {
  const std::uint64_t below_space = (word - kOnes * 0x20) & ~word;
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t has_quote = (quote - kOnes) & ~quote;
  const std::uint64_t has_backslash = (backslash - kOnes) & ~backslash;
  return ((below_space | has_quote | has_backslash | word) & kHighBits) != 0;
}

[[noreturn]] void throw_invalid_utf8(std::string_view s, std::size_t offset) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(s[offset]);
  std::string message = "invalid UTF-8 in JSON string at byte offset " + std::to_string(offset) + " (byte 0x";
  message += kHex[byte >> 4];
  message += kHex[byte & 0xf];
  message += ')';
  throw Error(message);
}

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 if it is invalid (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto lead = at(i);
  const std::size_t remaining = s.size() - i;
  const auto is_continuation = [&](std::size_t k) { return (at(k) & 0xC0) == 0x80; };
  if (lead >= 0xC2 && lead <= 0xDF) {
    return remaining >= 2 && is_continuation(i + 1) ? 2 : 0;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (remaining < 3) return 0;
    const auto second = at(i + 1);
    const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
    return second >= low && second <= high && is_continuation(i + 2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (remaining < 4) return 0;
    const auto second = at(i + 1);
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    return second >= low && second <= high && is_continuation(i + 2) && is_continuation(i + 3) ? 4 : 0;
  }
  return 0;
}

void append_escape(std::string& out, unsigned char byte) {
  switch (byte) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default: {
      static constexpr char kHex[] = "0123456789abcdef";  // Python writes \u001f, lower case
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
      out.append(escaped, sizeof escaped);
    }
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view s, InvalidUtf8 on_invalid) {
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  std::size_t run_start = 0;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s.data() + i, sizeof word);
      if (!word_needs_attention(word)) {
        i += 8;
        continue;
      }
    }
    const auto byte = static_cast<unsigned char>(s[i]);
    switch (kByteClasses[byte]) {
      case 0: ++i; break;
      case 1:
        out.append(s.data() + run_start, i - run_start);
        append_escape(out, byte);
        run_start = ++i;
        break;
      default: {
        const std::size_t length = utf8_sequence_length(s, i);
        if (length == 0) {
          if (on_invalid == InvalidUtf8::raise) throw_invalid_utf8(s, i);
          out.append(s.data() + run_start, i - run_start);
          out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
          run_start = ++i;
          break;
        }
        i += length;
      }
    }
  }
  out.append(s.data() + run_start, n - run_start);
  out += '"';
}

void append_json_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    throw Error(std::isnan(d) ? "NaN cannot be written as JSON" : "infinity cannot be written as JSON");
  }
  // Shortest round-trip digits from to_chars, then laid out as Python's float repr does: fixed notation for
  // decimal exponents -4..15, otherwise d.ddde±XX.
  char scientific[32];
  const auto result = std::to_chars(scientific, scientific + sizeof scientific, d, std::chars_format::scientific);
  const std::string_view text(scientific, static_cast<std::size_t>(result.ptr - scientific));
  const std::size_t e_pos = text.find('e');
  const bool negative = text.front() == '-';
  std::string_view mantissa = text.substr(negative ? 1 : 0, e_pos - (negative ? 1 : 0));
  char digits[24];
  std::size_t digit_count = 0;
  for (char c : mantissa) {
    if (c != '.') digits[digit_count++] = c;
  }
  int exponent = 0;
  std::from_chars(text.data() + e_pos + 1 + (text[e_pos + 1] == '+' ? 1 : 0), text.data() + text.size(), exponent);

  if (negative) out += '-';
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digit_count > 1) {
      out += '.';
      out.append(digits + 1, digit_count - 1);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    const int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
  } else if (exponent >= 0) {
    const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
    if (digit_count <= integer_digits) {
      out.append(digits, digit_count);
      out.append(integer_digits - digit_count, '0');
      out += ".0";
    } else {
      out.append(digits, integer_digits);
      out += '.';
      out.append(digits + integer_digits, digit_count - integer_digits);
    }
  } else {
    out += "0.";
    out.append(static_cast<std::size_t>(-exponent - 1), '0');
    out.append(digits, digit_count);
  }
}

void JsonWriter::before_value() {
  if (stack_.empty()) {
    if (wrote_top_level_) throw Error("JsonWriter: a second top-level value");
    wrote_top_level_ = true;
    return;
  }
  Frame& frame = stack_.back();
  switch (frame.scope) {
    case Scope::kArray:
      if (frame.has_members) out_ += ',';
      frame.has_members = true;
      break;
    case Scope::kObjectExpectingValue: frame.scope = Scope::kObjectExpectingKey; break;
    case Scope::kObjectExpectingKey: throw Error("JsonWriter: a value inside an object needs a key first");
  }
}

void JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  stack_.push_back({Scope::kObjectExpectingKey, false});
}

void JsonWriter::end_object() {
  if (stack_.empty() || stack_.back().scope != Scope::kObjectExpectingKey) {
    throw Error("JsonWriter: end_object without an open object (or after a key with no value)");
  }
  stack_.pop_back();
  out_ += '}';
}

void JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  stack_.push_back({Scope::kArray, false});
}

void JsonWriter::end_array() {
  if (stack_.empty() || stack_.back().scope != Scope::kArray) {
    throw Error("JsonWriter: end_array without an open array");
  }
  stack_.pop_back();
  out_ += ']';
}

void JsonWriter::key(std::string_view name) {
  if (stack_.empty() || stack_.back().scope != Scope::kObjectExpectingKey) {
    throw Error("JsonWriter: key \"" + std::string(name) + "\" outside an object or right after another key");
  }
  Frame& frame = stack_.back();
  if (frame.has_members) out_ += ',';
  frame.has_members = true;
  frame.scope = Scope::kObjectExpectingValue;
  append_json_string(out_, name);
  out_ += ':';
}

void JsonWriter::null() {
  before_value();
  out_ += "null";
}

void JsonWriter::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
}

void JsonWriter::value(double d) {
  if (!std::isfinite(d)) append_json_double(out_, d);  // throws before anything is written
  before_value();
  append_json_double(out_, d);
}

void JsonWriter::value(std::string_view s) {
  before_value();
  append_json_string(out_, s);
}

void JsonWriter::raw_value(std::string_view json) {
  before_value();
  out_ += json;
}

void JsonWriter::write_int(std::int64_t i) {
  before_value();
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, i);
  out_.append(buffer, result.ptr);
}

void JsonWriter::write_uint(std::uint64_t u) {
  before_value();
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, u);
  out_.append(buffer, result.ptr);
}

void JsonWriter::value(const JsonValue& v) {
  std::visit(
      [this](const auto& alternative) {
        using T = std::decay_t<decltype(alternative)>;
        if constexpr (std::is_same_v<T, JsonArray>) {
          begin_array();
          for (const JsonValue& element : alternative) value(element);
          end_array();
        } else if constexpr (std::is_same_v<T, JsonObject>) {
          begin_object();
          for (const auto& [name, member] : alternative) {
            key(name);
            value(member);
          }
          end_object();
        } else {
          value(alternative);
        }
      },
      v.variant());
}

std::string to_json(const JsonValue& v) {
  std::string out;
  JsonWriter writer(out);
  writer.value(v);
  return out;
}

}  // namespace aiperf
