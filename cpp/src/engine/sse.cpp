// Non-template parts of the SSE parser.
#include "aiperf/engine/sse.hpp"

namespace aiperf {

bool is_done(std::string_view event_data) noexcept {
  if (!event_data.empty() && event_data.front() == '{') return false;  // every JSON event: no scan needed
  constexpr std::string_view kWhitespace = " \t\r\n";
  const std::size_t first = event_data.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return false;
  const std::size_t last = event_data.find_last_not_of(kWhitespace);
  return event_data.substr(first, last - first + 1) == "[DONE]";
}

void SseParser::reset() noexcept {
  partial_line_.clear();
  event_data_.clear();
  has_data_ = false;
  skip_lf_ = false;
  event_view_ = {};
  data_in_input_ = false;
  invalid_lines_ = 0;
  blank_lines_ = 0;
  first_invalid_line_.clear();
}

}  // namespace aiperf
