// The mock server's replies that wait for their time (a delayed body, a token stream, an image stream): one loop
// thread's pending replies, a heap of their due times behind one libevent timer, and the stream writes.
#pragma once
#include <event2/http.h>

#include <cstdint>
#include <limits>
#include <list>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/mock/faults.hpp"
#include "aiperf/mock/responses.hpp"
#include "aiperf/mock/timing_log.hpp"
#include "counters.hpp"
#include "event_handles.hpp"
#include "fault_replies.hpp"

namespace aiperf::mock {

class ReplyScheduler;

// A reply waiting for its time: a delayed body, or a token stream whose next event is due.
struct PendingReply {
  ReplyScheduler* scheduler = nullptr;
  evhttp_request* request = nullptr;
  std::list<PendingReply>::iterator self;
  bool scheduled = false;  // has an entry in the due-time heap
  bool abandoned = false;  // the client went away; erased when its heap entry comes up
  bool streaming = false;
  std::int64_t first_due_ns = 0;  // the delayed reply, or the stream's first token
  std::string body;               // delayed reply
  ReplyHeader header;             // stream
  std::string event_prefix;
  std::int64_t next_token = 0;
  // Image streams: rounds of prepared events and when each is due (instead of token events).
  std::vector<std::string> image_events;
  std::vector<std::int64_t> image_event_due_ns;
  std::size_t next_image_event = 0;
  bool chunked = false;       // HTTP/1.1: chunked framing; HTTP/1.0 clients get the bare stream until close
  Fault fault = Fault::none;  // a fault that changes how this reply is sent (see advance())
  bool reset_sent = false;    // we reset the connection ourselves: not a client disconnect
  std::string trickle;        // trickle: the reply's text, one byte per kTrickleIntervalNs
  std::size_t trickle_sent = 0;
  bool trickling = false;
  bool head_sent = false;                    // reset-mid-stream of a non-streaming reply: head and half the body sent
  HugeReply huge;                            // huge-response: what is left to write
  int huge_stage = 0;                        // 0 head, 1 filler, 2 tail, 3 done
  std::uint64_t timing_serial = 0;           // --timing-log: the request's serial there (0 = not logged)
  std::uint32_t events_per_image_round = 0;  // image streams: SSE events in each prepared round (n images)
};

class ReplyScheduler {
 public:
  ReplyScheduler(event_base* base, std::int64_t itl_ns, std::int64_t huge_response_bytes, Counters& counters,
                 TimingRecorder* timing);
  ReplyScheduler(const ReplyScheduler&) = delete;
  ReplyScheduler& operator=(const ReplyScheduler&) = delete;

  FaultReplies& faults() { return faults_; }

  // ---- replies sent at once ----
  void send_now(evhttp_request* request, int status, std::string_view body,
                const char* content_type = "application/json");
  void send_error(evhttp_request* request, int status, const std::string& message,
                  std::string_view type = "invalid_request_error");

  // ---- replies that wait ----
  // The body at due_ns. fault: bad-json cuts the body here; trickle and reset-mid-stream take the reply over.
  void send_at(evhttp_request* request, std::int64_t due_ns, std::string body, Fault fault = Fault::none);
  // A token stream whose first token is due at first_due_ns; the response head goes out now.
  PendingReply& start_stream(evhttp_request* request, ReplyHeader header, std::int64_t first_due_ns);
  // Sends the SSE response head now; the caller fills in what the stream sends and schedules it.
  PendingReply& open_stream(evhttp_request* request);
  // A reply the caller drives (a fault); the connection's close is watched.
  PendingReply& add_pending(evhttp_request* request);
  // Sends a 200 response head; the body follows in chunks (write_stream_chunk).
  static void start_reply(PendingReply& reply, const char* content_type);
  void schedule(PendingReply& reply, std::int64_t due_ns);
  void write_stream_chunk(PendingReply& reply, const std::string& data, std::uint32_t events = 0, bool last = false);
  // Forget a reply that is about to be completed by the caller: libevent owns the request again.
  void release(PendingReply& reply);
  // release(), then the end of the reply.
  void finish(PendingReply& reply);
  // The loop has stopped: every pending reply is logged as server_stopped and forgotten, the timer freed.
  void shutdown();

  // ---- --timing-log (docs/accuracy.md): no-ops without it ----
  // The logged request whose reply this callback writes (0 = none).
  void set_timed(std::uint64_t serial) { timed_ = serial; }
  std::uint64_t timed() const { return timed_; }
  void log_shape(bool stream, Fault fault);
  void log_end(std::uint64_t serial, std::int64_t end_ns, ReplyOutcome outcome);

  evbuffer* out_buffer() { return out_buffer_.get(); }

 private:
  static void on_due(evutil_socket_t, short, void* arg);
  static void on_connection_closed(evhttp_connection*, void* arg);
  void arm(std::int64_t due_ns);
  void run_due();
  std::int64_t token_due_ns(const PendingReply& reply, std::int64_t token) const;
  void advance(PendingReply& reply, std::int64_t now);
  void advance_text_stream(PendingReply& reply, std::int64_t now);
  void advance_image_stream(PendingReply& reply, std::int64_t now);
  void abandon(PendingReply& reply);
  void log_sent(std::uint64_t serial, std::int64_t send_ns, std::uint32_t events, bool last, bool queued);
  void log_queued(std::uint64_t serial, std::uint32_t events, bool last);

  const std::int64_t itl_ns_;
  Counters& counters_;
  TimingRecorder* timing_;  // --timing-log only
  std::uint64_t timed_ = 0;
  struct Due {
    std::int64_t due_ns;
    PendingReply* reply;
  };
  static bool later(const Due& a, const Due& b) { return a.due_ns > b.due_ns; }
  std::vector<Due> due_;  // min-heap on due_ns: every scheduled reply has exactly one entry
  EventPtr due_timer_;
  std::int64_t armed_ns_ = std::numeric_limits<std::int64_t>::max();  // when due_timer_ fires
  EvbufferPtr out_buffer_;  // reused: evhttp moves its contents out on every send
  std::string text_;        // reused scratch for stream events
  std::string fault_text_;  // scratch for the events a fault breaks
  std::list<PendingReply> pending_;
  FaultReplies faults_;
};

}  // namespace aiperf::mock
