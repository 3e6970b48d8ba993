// Small text helpers shared by the engine's parts.
#pragma once
#include <cctype>
#include <string_view>

namespace aiperf {

// Case-insensitive ASCII prefix test (header names, URL schemes).
inline bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto a = static_cast<unsigned char>(text[i]);
    const auto b = static_cast<unsigned char>(prefix[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

}  // namespace aiperf
