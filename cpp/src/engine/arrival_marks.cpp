// ArrivalMarks: SSE event ends counted in peeked socket bytes, with the kernel receive time of each peek.
#include "aiperf/engine/arrival_marks.hpp"

#include <algorithm>
#include <cstring>

namespace aiperf {
namespace {

bool may_be_framing(char c) noexcept {
  return c == '\r' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// End of the response headers in `bytes` (index after "\r\n\r\n" or "\n\n"), npos when not there.
std::size_t headers_end(std::string_view bytes) noexcept {
  const std::size_t crlf = bytes.find("\r\n\r\n");
  const std::size_t lf = bytes.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf + 2 < lf)) return crlf + 4;
  return lf + 2;
}

}  // namespace

void ArrivalMarks::reset() noexcept {
  marks_.clear();
  cursor_ = 0;
  counted_ = 0;
  seen_unread_ = 0;
  delivered_at_peek_ = -1;
  body_started_ = false;
  off_ = false;
  body_from_ = 0;
}

void ArrivalMarks::on_peek(std::string_view unread, std::int64_t arrived_ns, std::int64_t delivered_bytes,
                           std::int64_t parsed_blank_lines) {
  if (off_) return;
  if (delivered_bytes != delivered_at_peek_) {
    // libcurl read since the last peek: it took everything that peek saw (at most kMaxCountedQueueBytes, less
    // than one read) and perhaps more, so the queue starts at bytes not counted yet, after the blank lines the
    // parser has seen; what came before them is unknown, so no blank line is completed across the junction.
    delivered_at_peek_ = delivered_bytes;
    seen_unread_ = 0;
    body_from_ = 0;
    counted_ = std::max(counted_, parsed_blank_lines);
  }
  if (unread.size() > kMaxCountedQueueBytes) {
    off_ = true;
    return;
  }
  if (unread.size() <= seen_unread_) return;
  std::size_t from = seen_unread_;
  seen_unread_ = unread.size();
  if (!body_started_) {
    // The headers end inside this peek (they were not over before it: earlier peeks would have seen it), perhaps
    // straddling what the previous peek saw.
    const std::size_t look_from = from >= 3 ? from - 3 : 0;
    const std::size_t end = headers_end(unread.substr(look_from));
    if (end == std::string_view::npos) return;
    body_started_ = true;
    from = std::max(from, look_from + end);
    body_from_ = from;
  }
  // The bytes before a new one are read from this peek itself (they precede it in the queue, whatever happened to
  // the queue since the last peek); before the queue's head nothing is known, so nothing matches there.
  const char* const base = unread.data();
  auto byte_at = [&](std::ptrdiff_t i) { return i >= 0 ? base[i] : '\r'; };
  std::int64_t found = 0;
  for (std::size_t i = from; i < unread.size();) {
    const void* lf = std::memchr(base + i, '\n', unread.size() - i);
    if (lf == nullptr) break;
    const std::ptrdiff_t j = static_cast<const char*>(lf) - base;
    if (byte_at(j - 1) == '\n' && !may_be_framing(byte_at(j - 2)) && static_cast<std::size_t>(j - 1) >= body_from_) {
      ++found;
    }
    i = static_cast<std::size_t>(j) + 1;
  }
  if (found == 0) return;
  counted_ += found;
  marks_.push_back(Mark{counted_, arrived_ns});
}

std::int64_t ArrivalMarks::time_of_blank_line(std::int64_t k) noexcept {
  while (cursor_ < marks_.size() && marks_[cursor_].blank_lines_end < k) ++cursor_;
  return cursor_ < marks_.size() ? marks_[cursor_].arrived_ns : -1;
}

}  // namespace aiperf
