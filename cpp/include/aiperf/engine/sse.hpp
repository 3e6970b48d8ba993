// Incremental Server-Sent Events parser: fed arbitrary byte chunks, calls back with each event's data.
#pragma once
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace aiperf {

// True for the OpenAI end-of-stream marker `[DONE]` (surrounding whitespace tolerated).
bool is_done(std::string_view event_data) noexcept;

// Follows the WHATWG event-stream rules that matter for inference servers: CRLF/LF/CR line endings, `data:` with or
// without one leading space, several data lines joined with '\n', ':' comments and other fields ignored, an event
// dispatched on a blank line. Buffers are reused, so steady-state feeding does not allocate.
class SseParser {
 public:
  // on_event(std::string_view data) is called once per complete event; the view is valid during the call only. An
  // event whose single data line arrived in one feed() is passed as a view of that feed's bytes (no copy).
  template <class OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event);

  // Forget any partial line or event (e.g. before reusing the parser for the next response).
  void reset() noexcept;

  // Blank lines seen since reset(): the k-th event dispatched (or skipped for want of data) ends at the k-th.
  std::int64_t blank_lines() const noexcept { return blank_lines_; }

  // Bytes held for an event or line that has not been completed yet.
  std::size_t pending_bytes() const noexcept { return partial_line_.size() + event_data_.size(); }

  // Lines that are not an SSE field (data, event, id, retry) or a comment, e.g. bare JSON: bad framing, which the
  // parser skips as the standard says but the caller may report. The first one's start is kept.
  std::size_t invalid_lines() const noexcept { return invalid_lines_; }
  const std::string& first_invalid_line() const noexcept { return first_invalid_line_; }

 private:
  // line_in_input: `line` points into the bytes of the current feed() call (not into partial_line_).
  template <class OnEvent>
  void process_line(std::string_view line, bool line_in_input, OnEvent& on_event);

  std::string partial_line_;     // a line split across feeds
  std::string event_data_;       // data lines of the event being assembled
  bool has_data_ = false;        // a `data` field was seen (an empty `data:` still dispatches an empty event)
  bool skip_lf_ = false;         // the previous feed ended on CR: a leading LF completes that CRLF
  std::string_view event_view_;  // the event's only data line, inside the current feed's input
  bool data_in_input_ = false;   // event_view_ holds the event's data (event_data_ is then unused)
  std::size_t invalid_lines_ = 0;
  std::int64_t blank_lines_ = 0;
  std::string first_invalid_line_;  // at most kInvalidLineKeptBytes
  static constexpr std::size_t kInvalidLineKeptBytes = 80;
};

template <class OnEvent>
void SseParser::feed(std::string_view bytes, OnEvent&& on_event) {
  const char* const p = bytes.data();
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  if (skip_lf_ && n > 0) {
    if (p[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  // memchr (vectorised) finds line ends; the next CR is looked up once and reused, since most servers send none.
  const char* next_cr = i < n ? static_cast<const char*>(std::memchr(p + i, '\r', n - i)) : nullptr;
  while (i < n) {
    const char* line_end = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
    if (next_cr != nullptr && (line_end == nullptr || next_cr < line_end)) line_end = next_cr;
    if (line_end == nullptr) {
      partial_line_.append(p + i, n - i);
      break;
    }
    std::size_t j = static_cast<std::size_t>(line_end - p);
    if (partial_line_.empty()) {
      process_line(std::string_view(p + i, j - i), true, on_event);
    } else {
      partial_line_.append(p + i, j - i);
      process_line(std::string_view(partial_line_), false, on_event);
      partial_line_.clear();
    }
    if (p[j] == '\r') {
      if (j + 1 < n) {
        if (p[j + 1] == '\n') ++j;
      } else {
        skip_lf_ = true;
      }
      next_cr = j + 1 < n ? static_cast<const char*>(std::memchr(p + j + 1, '\r', n - j - 1)) : nullptr;
    }
    i = j + 1;
  }
  // The input dies with this call: an event still in progress keeps its own copy.
  if (data_in_input_) {
    event_data_.assign(event_view_);
    data_in_input_ = false;
  }
}

template <class OnEvent>
void SseParser::process_line(std::string_view line, bool line_in_input, OnEvent& on_event) {
  if (line.empty()) {
    ++blank_lines_;
    if (has_data_) {
      if (data_in_input_) {
        data_in_input_ = false;
        on_event(event_view_);
      } else {
        on_event(std::string_view(event_data_));
      }
      event_data_.clear();
      has_data_ = false;
    }
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive pings)
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  if (field != "data") {  // event:, id:, retry: do not change what is measured
    if (field != "event" && field != "id" && field != "retry" && invalid_lines_++ == 0) {
      first_invalid_line_.assign(line.substr(0, kInvalidLineKeptBytes));
    }
    return;
  }
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (!has_data_ && line_in_input) {
    // The common case, one data line per event: the event is a view of the input, not a copy.
    event_view_ = value;
    data_in_input_ = true;
    has_data_ = true;
    return;
  }
  if (data_in_input_) {
    event_data_.assign(event_view_);
    data_in_input_ = false;
  }
  if (has_data_) event_data_.push_back('\n');
  event_data_.append(value);
  has_data_ = true;
}

}  // namespace aiperf
