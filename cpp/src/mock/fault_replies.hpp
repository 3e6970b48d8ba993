// The faults that change how a reply is sent rather than what it says: error statuses, resets, hangs, trickles and
// huge replies (the texts they break are aiperf/mock/faults.hpp's).
#pragma once
#include <event2/http.h>

#include <cstdint>
#include <string>

#include "aiperf/mock/faults.hpp"
#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {

struct PendingReply;
class ReplyScheduler;

inline constexpr std::int64_t kTrickleIntervalNs = 100'000'000;  // trickle: one byte per 100 ms

class FaultReplies {
 public:
  FaultReplies(ReplyScheduler& replies, std::int64_t huge_response_bytes)
      : replies_(replies), huge_response_bytes_(huge_response_bytes) {}

  // Serves the faults that replace the reply; false for the others, which change how the normal reply is sent.
  bool serve_replacing(evhttp_request* request, Fault fault, Endpoint endpoint, bool stream);
  // Faults that take a reply over once it is due; false leaves the reply to the normal path.
  bool advance(PendingReply& reply, std::int64_t now);
  // reset-mid-stream: what was written reaches the client before the reset.
  void reset_when_flushed(PendingReply& reply, std::int64_t now);

 private:
  static void on_huge_written(evhttp_connection*, void* arg);
  void reset_connection(PendingReply& reply);
  void begin_trickle(PendingReply& reply);
  void trickle_next(PendingReply& reply, std::int64_t now);
  void start_huge(evhttp_request* request, Endpoint endpoint, bool stream);
  void write_huge(PendingReply& reply);

  ReplyScheduler& replies_;
  const std::int64_t huge_response_bytes_;
  std::string byte_;  // trickle: the one byte written next
};

}  // namespace aiperf::mock
