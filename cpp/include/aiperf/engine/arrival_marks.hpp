// When each SSE event of a response arrived, from kernel receive times of the socket's unread bytes.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace aiperf {

// The kernel stamps a socket's queued bytes with the receive time of the newest segment among them: once two events
// wait unread together, the older one can only be timed by the newer one's arrival. The event loop therefore peeks
// at a socket whenever it can (before libcurl reads it, and in sweeps while it is behind) and notes here, per peek,
// how many SSE events the newly queued bytes complete and when they arrived. The parser later asks for the time of
// its k-th blank line (an event's end) and gets the arrival of the peek that first held it.
//
// Never early: an event is counted in the raw bytes only where it certainly ends there. A blank line counts when it
// is "\n\n" preceded by a byte that cannot be chunk framing (not CR, not a hex digit), after the response headers;
// anything else (CRLF events, framing between the two line feeds, bytes read before a peek saw them) goes uncounted,
// and an uncounted event only moves later events of the same read to a later (or no) peek. Bytes are counted once:
// a peek counts only what lies beyond what earlier peeks saw, judging each line feed by the bytes before it in the
// same peek (never by remembered ones: libcurl may have read framing bytes meanwhile without delivering any), and once
// libcurl has read (delivered bytes changed) the queue starts anew, numbered from the parser's own count.
class ArrivalMarks {
 public:
  // libcurl reads at most this much per read (its default buffer): a peek that saw more cannot tell what is left.
  static constexpr std::size_t kMaxCountedQueueBytes = 12 * 1024;

  void reset() noexcept;
  // `unread`: a peek of the socket's queue (from its head); `arrived_ns` its kernel receive time; `delivered_bytes`:
  // header and body bytes libcurl has handed over for this response so far; `parsed_blank_lines`: blank lines the
  // SSE parser has seen in them (after a read, counting goes on from there: a blank line missed in the raw bytes
  // then costs the events of one read, not the rest of the response).
  void on_peek(std::string_view unread, std::int64_t arrived_ns, std::int64_t delivered_bytes,
               std::int64_t parsed_blank_lines);
  // Receive time of the segment holding the k-th blank line (1-based) of the body, or -1 when not known.
  std::int64_t time_of_blank_line(std::int64_t k) noexcept;
  std::int64_t counted_blank_lines() const noexcept { return counted_; }

 private:
  struct Mark {
    std::int64_t blank_lines_end;  // cumulative count of blank lines up to and including this peek's new bytes
    std::int64_t arrived_ns;
  };
  std::vector<Mark> marks_;
  std::size_t cursor_ = 0;  // marks_ before it answered smaller k already
  std::int64_t counted_ = 0;
  std::size_t seen_unread_ = 0;  // bytes at the queue's head already counted
  std::int64_t delivered_at_peek_ = -1;
  bool body_started_ = false;  // the response headers' end was seen
  bool off_ = false;           // a queue too long to follow: nothing more is counted for this response
  std::size_t body_from_ = 0;  // in the current queue: where the body starts (after the headers' end)
};

}  // namespace aiperf
