// The mock server's fault replies that need the connection: error statuses, TCP resets, hangs, trickles and huge
// replies written as the client reads them.
#include "fault_replies.hpp"

#include <event2/bufferevent.h>
#include <sys/socket.h>

#include "aiperf/common/clock.hpp"
#include "reply_scheduler.hpp"

namespace aiperf::mock {

bool FaultReplies::serve_replacing(evhttp_request* request, Fault fault, Endpoint endpoint, bool stream) {
  switch (fault) {
    case Fault::http_500:
      replies_.send_error(request, 500, "mock fault http-500: the server had an error while processing your request",
                          "server_error");
      return true;
    case Fault::http_429:
      evhttp_add_header(evhttp_request_get_output_headers(request), "Retry-After", "1");
      replies_.send_error(request, 429, "mock fault http-429: rate limit reached, retry after 1 s",
                          "rate_limit_exceeded");
      return true;
    case Fault::http_400:
      replies_.send_error(request, 400, "mock fault http-400: the request was rejected");
      return true;
    case Fault::reset_before_response: reset_connection(replies_.add_pending(request)); return true;
    case Fault::hang:
      replies_.add_pending(request).fault = fault;  // no due time: kept until the client goes away
      return true;
    case Fault::wrong_content_type:
      replies_.send_now(request, 200, wrong_content_type_page(), "text/html; charset=utf-8");
      return true;
    case Fault::huge_response: start_huge(request, endpoint, stream); return true;
    default: return false;
  }
}

// Aborts the reply's connection with a TCP RST while libevent still owns the socket: SO_LINGER 0, then a
// disconnect (connect to AF_UNSPEC). libevent finds the socket dead, closes the connection and hands the
// request back through the scheduler's close callback.
void FaultReplies::reset_connection(PendingReply& reply) {
  reply.reset_sent = true;
  replies_.log_end(reply.timing_serial, monotonic_ns(), ReplyOutcome::reset);
  evhttp_connection* connection = evhttp_request_get_connection(reply.request);
  bufferevent* socket_buffer = connection ? evhttp_connection_get_bufferevent(connection) : nullptr;
  const evutil_socket_t fd = socket_buffer ? bufferevent_getfd(socket_buffer) : -1;
  if (fd < 0) return;
  const linger no_linger{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNSPEC;
  ::connect(fd, &unspecified, sizeof unspecified);
}

namespace {
bool output_pending(const PendingReply& reply) {
  evhttp_connection* connection = evhttp_request_get_connection(reply.request);
  bufferevent* socket_buffer = connection ? evhttp_connection_get_bufferevent(connection) : nullptr;
  return socket_buffer && evbuffer_get_length(bufferevent_get_output(socket_buffer)) != 0;
}
}  // namespace

void FaultReplies::reset_when_flushed(PendingReply& reply, std::int64_t now) {
  if (output_pending(reply)) {
    replies_.schedule(reply, now + 1'000'000);
    return;
  }
  reset_connection(reply);
}

bool FaultReplies::advance(PendingReply& reply, std::int64_t now) {
  if (reply.fault == Fault::trickle) {
    if (!reply.trickling) begin_trickle(reply);
    trickle_next(reply, now);
    return true;
  }
  if (reply.fault == Fault::reset_mid_stream && !reply.streaming) {
    if (!reply.head_sent) {  // first call: the head and half the body
      reply.head_sent = true;
      ReplyScheduler::start_reply(reply, "application/json");
      replies_.write_stream_chunk(reply, reply.body.substr(0, reply.body.size() / 2));
    }
    reset_when_flushed(reply, now);
    return true;
  }
  return false;
}

void FaultReplies::begin_trickle(PendingReply& reply) {
  reply.trickling = true;
  if (!reply.streaming) {
    reply.trickle = std::move(reply.body);
    ReplyScheduler::start_reply(reply, "application/json");
  } else if (!reply.image_events.empty()) {
    for (std::string& round : reply.image_events) reply.trickle += round;
    reply.image_events.clear();
  } else {
    std::string scratch;
    append_text_stream(reply.trickle, scratch, reply.header, reply.event_prefix, Fault::none, 0,
                       reply.header.completion_tokens, true);
  }
}

void FaultReplies::trickle_next(PendingReply& reply, std::int64_t now) {
  if (reply.trickle_sent < reply.trickle.size()) {
    byte_.assign(1, reply.trickle[reply.trickle_sent++]);
    replies_.write_stream_chunk(reply, byte_);
    replies_.schedule(reply, now + kTrickleIntervalNs);
    return;
  }
  replies_.log_end(reply.timing_serial, now, ReplyOutcome::complete);  // a fault: its last byte went out before
  replies_.finish(reply);
}

void FaultReplies::start_huge(evhttp_request* request, Endpoint endpoint, bool stream) {
  PendingReply& reply = stream ? replies_.open_stream(request) : replies_.add_pending(request);
  reply.fault = Fault::huge_response;
  if (!stream) ReplyScheduler::start_reply(reply, "application/json");
  reply.huge = huge_reply(endpoint, stream, huge_response_bytes_);
  write_huge(reply);
}

void FaultReplies::on_huge_written(evhttp_connection*, void* arg) {
  auto* reply = static_cast<PendingReply*>(arg);
  reply->scheduler->faults().write_huge(*reply);
}

// huge-response: one 1 MiB piece at a time, the next once evhttp has written the previous one, so the reply never
// sits in memory; a client that gives up closes the connection and the reply is abandoned.
void FaultReplies::write_huge(PendingReply& reply) {
  if (reply.huge_stage == 3) {
    replies_.log_end(reply.timing_serial, monotonic_ns(), ReplyOutcome::complete);  // once the tail was written
    replies_.finish(reply);
    return;
  }
  evbuffer* out = replies_.out_buffer();
  if (reply.huge_stage == 0) {
    evbuffer_add(out, reply.huge.head.data(), reply.huge.head.size());
    reply.huge_stage = 1;
  }
  if (reply.huge.filler_count > 0) {
    evbuffer_add_reference(out, reply.huge.filler.data(), reply.huge.filler.size(), nullptr, nullptr);
    --reply.huge.filler_count;
  } else {
    evbuffer_add(out, reply.huge.tail.data(), reply.huge.tail.size());
    reply.huge_stage = 3;
  }
  evhttp_send_reply_chunk_with_cb(reply.request, out, &FaultReplies::on_huge_written, &reply);
}

}  // namespace aiperf::mock
