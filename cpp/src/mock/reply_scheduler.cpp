// The mock server's reply scheduler: pending replies on one due-time heap, advanced when due; token and image
// streams kept to an absolute schedule; stream chunks written straight to the socket where it takes them.
#include "reply_scheduler.hpp"

#include <event2/bufferevent.h>
#include <event2/http_struct.h>  // evhttp_request::chunked: the last chunk carries the terminator
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <charconv>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"

namespace aiperf::mock {
namespace {

// Rounded up to whole microseconds so a timer never fires before its due time.
timeval delay_until(std::int64_t due_ns) {
  std::int64_t delay_ns = std::max<std::int64_t>(0, due_ns - monotonic_ns());
  std::int64_t us = (delay_ns + 999) / 1000;
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

}  // namespace

ReplyScheduler::ReplyScheduler(event_base* base, std::int64_t itl_ns, std::int64_t huge_response_bytes,
                               Counters& counters, TimingRecorder* timing)
    : itl_ns_(itl_ns),
      counters_(counters),
      timing_(timing),
      due_timer_(evtimer_new(base, &ReplyScheduler::on_due, this)),
      out_buffer_(evbuffer_new()),
      faults_(*this, huge_response_bytes) {
  if (!due_timer_ || !out_buffer_) throw Error("mock server: libevent allocation failed");
}

void ReplyScheduler::on_due(evutil_socket_t, short, void* arg) { static_cast<ReplyScheduler*>(arg)->run_due(); }

void ReplyScheduler::on_connection_closed(evhttp_connection*, void* arg) {
  auto* reply = static_cast<PendingReply*>(arg);
  reply->scheduler->abandon(*reply);
}

void ReplyScheduler::send_now(evhttp_request* request, int status, std::string_view body, const char* content_type) {
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", content_type);
  evbuffer_add(out_buffer_.get(), body.data(), body.size());
  log_queued(timed_, 1, true);
  evhttp_send_reply(request, status, nullptr, out_buffer_.get());
}

void ReplyScheduler::send_error(evhttp_request* request, int status, const std::string& message,
                                std::string_view type) {
  send_now(request, status, error_body(message, type));
}

PendingReply& ReplyScheduler::add_pending(evhttp_request* request) {
  PendingReply& reply = pending_.emplace_back();
  reply.self = std::prev(pending_.end());
  reply.scheduler = this;
  reply.request = request;
  reply.timing_serial = timed_;
  evhttp_connection_set_closecb(evhttp_request_get_connection(request), &ReplyScheduler::on_connection_closed, &reply);
  return reply;
}

void ReplyScheduler::release(PendingReply& reply) {
  if (evhttp_connection* connection = evhttp_request_get_connection(reply.request)) {
    evhttp_connection_set_closecb(connection, nullptr, nullptr);
  }
  if (reply.streaming) counters_.add(kStreamsOpen, -1);
  pending_.erase(reply.self);
}

void ReplyScheduler::finish(PendingReply& reply) {
  evhttp_request* request = reply.request;
  release(reply);
  evhttp_send_reply_end(request);
}

void ReplyScheduler::send_at(evhttp_request* request, std::int64_t due_ns, std::string body, Fault fault) {
  if (fault == Fault::bad_json) body.resize(body.size() / 2);
  const bool taken_over = fault == Fault::trickle || fault == Fault::reset_mid_stream;
  if (due_ns <= monotonic_ns() && !taken_over) {
    send_now(request, 200, body);
    return;
  }
  PendingReply& reply = add_pending(request);
  reply.fault = fault;
  reply.first_due_ns = due_ns;
  reply.body = std::move(body);
  schedule(reply, due_ns);
}

PendingReply& ReplyScheduler::start_stream(evhttp_request* request, ReplyHeader header, std::int64_t first_due_ns) {
  PendingReply& reply = open_stream(request);
  reply.first_due_ns = first_due_ns;
  reply.header = std::move(header);
  reply.event_prefix = stream_event_prefix(reply.header);
  schedule(reply, first_due_ns);
  return reply;
}

PendingReply& ReplyScheduler::open_stream(evhttp_request* request) {
  PendingReply& reply = add_pending(request);
  reply.streaming = true;
  evhttp_add_header(evhttp_request_get_output_headers(reply.request), "Cache-Control", "no-cache");
  start_reply(reply, "text/event-stream");
  counters_.add(kStreamsOpen);
  return reply;
}

void ReplyScheduler::start_reply(PendingReply& reply, const char* content_type) {
  evkeyvalq* headers = evhttp_request_get_output_headers(reply.request);
  evhttp_add_header(headers, "Content-Type", content_type);
  evhttp_send_reply_start(reply.request, 200, nullptr);
  const char* encoding = evhttp_find_header(headers, "Transfer-Encoding");
  reply.chunked = encoding && std::string_view(encoding) == "chunked";
}

// One libevent timer, armed for the earliest entry of a heap of due times: a wake-up serves every reply due by
// then, and a token costs a heap operation instead of a libevent timer add/delete.
void ReplyScheduler::schedule(PendingReply& reply, std::int64_t due_ns) {
  reply.scheduled = true;
  due_.push_back({due_ns, &reply});
  std::push_heap(due_.begin(), due_.end(), later);
  if (due_ns < armed_ns_) arm(due_ns);
}

void ReplyScheduler::arm(std::int64_t due_ns) {
  armed_ns_ = due_ns;
  timeval delay = delay_until(due_ns);
  evtimer_add(due_timer_.get(), &delay);
}

void ReplyScheduler::run_due() {
  armed_ns_ = std::numeric_limits<std::int64_t>::min();  // no re-arming while the batch runs
  const std::int64_t batch_ns = monotonic_ns();
  while (!due_.empty() && due_.front().due_ns <= batch_ns) {
    std::pop_heap(due_.begin(), due_.end(), later);
    PendingReply& reply = *due_.back().reply;
    due_.pop_back();
    reply.scheduled = false;
    if (reply.abandoned) {
      pending_.erase(reply.self);
      continue;
    }
    timed_ = reply.timing_serial;
    advance(reply, monotonic_ns());
  }
  armed_ns_ = std::numeric_limits<std::int64_t>::max();
  if (!due_.empty()) arm(due_.front().due_ns);
}

std::int64_t ReplyScheduler::token_due_ns(const PendingReply& reply, std::int64_t token) const {
  return reply.first_due_ns + token * itl_ns_;
}

void ReplyScheduler::advance(PendingReply& reply, std::int64_t now) {
  if (reply.fault != Fault::none && faults_.advance(reply, now)) return;
  if (!reply.streaming) {
    evhttp_request* request = reply.request;
    std::string body = std::move(reply.body);
    release(reply);
    send_now(request, 200, body);
    return;
  }
  if (!reply.image_events.empty()) {
    advance_image_stream(reply, now);
    return;
  }
  advance_text_stream(reply, now);
}

// Every token already due goes out now (due times come from the stream start, so lateness never accumulates),
// then the stream is scheduled for its next one.
void ReplyScheduler::advance_text_stream(PendingReply& reply, std::int64_t now) {
  const std::int64_t total = reply.header.completion_tokens;
  const bool resets = reply.fault == Fault::reset_mid_stream;
  const std::int64_t stop = resets ? total / 2 : total;  // reset-mid-stream: half the tokens, then the reset
  std::int64_t last = reply.next_token;
  for (std::int64_t due; last < stop && (due = token_due_ns(reply, last)) <= now; ++last) {
    counters_.add(kTokensSent);
    if (now - due > kLateNs) counters_.add(kTokensLate);
  }
  const bool reset_now = resets && last == stop;
  const bool done = !reset_now && last == total;
  text_.clear();
  const std::uint32_t events = append_text_stream(text_, fault_text_, reply.header, reply.event_prefix, reply.fault,
                                                  reply.next_token, last, done);
  reply.next_token = last;
  if (reset_now) {
    if (!text_.empty()) write_stream_chunk(reply, text_, events);
    faults_.reset_when_flushed(reply, now);
    return;
  }
  if (!text_.empty()) write_stream_chunk(reply, text_, events, done);
  if (!done) {
    schedule(reply, token_due_ns(reply, last));
    return;
  }
  finish(reply);
}

void ReplyScheduler::advance_image_stream(PendingReply& reply, std::int64_t now) {
  text_.clear();
  std::uint32_t events = 0;
  const std::size_t rounds = reply.image_events.size();
  while (reply.next_image_event < rounds && reply.image_event_due_ns[reply.next_image_event] <= now) {
    if (reply.fault == Fault::reset_mid_stream && reply.next_image_event + 1 == rounds) {
      if (!text_.empty()) write_stream_chunk(reply, text_, events);
      faults_.reset_when_flushed(reply, now);  // before the completed events
      return;
    }
    text_ += reply.image_events[reply.next_image_event];
    std::string().swap(reply.image_events[reply.next_image_event]);  // megabytes each: free once sent
    ++reply.next_image_event;
    events += reply.events_per_image_round;
  }
  if (!text_.empty()) write_stream_chunk(reply, text_, events, reply.next_image_event == rounds);
  if (text_.capacity() > (std::size_t{1} << 20)) std::string().swap(text_);  // keep the scratch small
  if (reply.next_image_event < rounds) {
    schedule(reply, reply.image_event_due_ns[reply.next_image_event]);
    return;
  }
  finish(reply);
}

// A token chunk goes straight to the socket when evhttp has nothing queued: this saves the EPOLLOUT round
// trip (two epoll_ctl calls and a loop pass) and an evbuffer per token, which dominate at 100k tokens/s.
// Whatever the socket does not take right away (or an error, which libevent then reports through its own
// write) goes through evhttp's output buffer, after which that buffer is used until it drains.
// --timing-log: `events` SSE events end in data; `last`: data ends the reply's body.
void ReplyScheduler::write_stream_chunk(PendingReply& reply, const std::string& data, std::uint32_t events, bool last) {
  evhttp_connection* connection = evhttp_request_get_connection(reply.request);
  bufferevent* socket_buffer = connection ? evhttp_connection_get_bufferevent(connection) : nullptr;
  evbuffer* output = socket_buffer ? bufferevent_get_output(socket_buffer) : nullptr;
  const evutil_socket_t fd = socket_buffer ? bufferevent_getfd(socket_buffer) : -1;
  if (!output || fd < 0 || evbuffer_get_length(output) != 0) {
    evbuffer_add(out_buffer_.get(), data.data(), data.size());
    log_queued(reply.timing_serial, events, last);
    evhttp_send_reply_chunk(reply.request, out_buffer_.get());
    return;
  }
  char size_line[20];
  std::size_t size_length = 0;
  if (reply.chunked) {
    auto result = std::to_chars(size_line, size_line + sizeof size_line - 2, data.size(), 16);
    size_length = static_cast<std::size_t>(result.ptr - size_line);
    size_line[size_length++] = '\r';
    size_line[size_length++] = '\n';
  }
  // The reply's last chunk goes out with the terminating zero-size chunk in the same call: written by evhttp on a
  // later pass of the loop (up to ms later under load), the terminator could reach a busy client's socket before
  // it read the last events, which would then look as late as the terminator (docs/accuracy.md).
  static constexpr char kChunkEnd[] = "\r\n";
  static constexpr char kChunkEndAndTerminator[] = "\r\n0\r\n\r\n";
  const bool terminate = last && reply.chunked;
  iovec parts[3] = {
      {size_line, size_length},
      {const_cast<char*>(data.data()), data.size()},
      {const_cast<char*>(terminate ? kChunkEndAndTerminator : kChunkEnd), terminate ? sizeof kChunkEndAndTerminator - 1
                                                                          : reply.chunked ? std::size_t{2}
                                                                                          : std::size_t{0}}};
  // evhttp_send_reply_end, which the caller makes next, then finishes the reply without writing a terminator.
  if (terminate) reply.request->chunked = 0;
  msghdr message{};
  message.msg_iov = parts;
  message.msg_iovlen = 3;
  const std::size_t total = size_length + data.size() + parts[2].iov_len;
  // The send time is read just before the call: on loopback the kernel hands the bytes to the reader inside
  // sendmsg(), so a reader on another CPU can see them before the call returns.
  const std::int64_t send_ns = timing_ ? monotonic_ns() : 0;
  ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent == static_cast<ssize_t>(total)) {
    if (timing_ && reply.timing_serial != 0) log_sent(reply.timing_serial, send_ns, events, last, false);
    return;
  }
  std::size_t skip = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  for (const iovec& part : parts) {
    std::size_t take = std::min(skip, part.iov_len);
    skip -= take;
    if (part.iov_len > take) evbuffer_add(output, static_cast<const char*>(part.iov_base) + take, part.iov_len - take);
  }
  bufferevent_enable(socket_buffer, EV_WRITE);
  // Partly written: the rest waits in libevent's buffer; the time before the call still bounds it from below.
  if (timing_ && reply.timing_serial != 0) log_sent(reply.timing_serial, send_ns, events, last, true);
}

// The client went away before the reply finished: libevent has detached the request from the dying
// connection, so it is ours to free. The reply itself goes when its heap entry comes up.
void ReplyScheduler::abandon(PendingReply& reply) {
  if (!reply.reset_sent) {
    counters_.add(kClientDisconnects);
    log_end(reply.timing_serial, monotonic_ns(), ReplyOutcome::client_disconnected);
  }
  evhttp_request* request = reply.request;
  const bool detached = evhttp_request_get_connection(request) == nullptr;
  if (reply.streaming) counters_.add(kStreamsOpen, -1);
  reply.abandoned = true;
  reply.request = nullptr;
  if (!reply.scheduled) pending_.erase(reply.self);
  if (detached) evhttp_request_free(request);
}

void ReplyScheduler::shutdown() {
  for (PendingReply& reply : pending_) {
    if (reply.abandoned) continue;
    log_end(reply.timing_serial, monotonic_ns(), ReplyOutcome::server_stopped);
    if (evhttp_connection* connection = evhttp_request_get_connection(reply.request)) {
      evhttp_connection_set_closecb(connection, nullptr, nullptr);
    }
  }
  due_.clear();
  pending_.clear();
  due_timer_.reset();
  counters_.values[kStreamsOpen].store(0, std::memory_order_relaxed);
  out_buffer_.reset();
}

void ReplyScheduler::log_shape(bool stream, Fault fault) {
  if (timing_ && timed_ != 0) timing_->described(timed_, stream, static_cast<int>(fault));
}

void ReplyScheduler::log_sent(std::uint64_t serial, std::int64_t send_ns, std::uint32_t events, bool last,
                              bool queued) {
  timing_->sent(serial, send_ns, events, queued);
  if (last) timing_->ended(serial, send_ns, ReplyOutcome::complete);
}

void ReplyScheduler::log_end(std::uint64_t serial, std::int64_t end_ns, ReplyOutcome outcome) {
  if (timing_ && serial != 0) timing_->ended(serial, end_ns, outcome);
}

// Bytes handed to evhttp's output buffer: libevent writes them on a later pass of the loop, so the time they were
// queued is what the log has (a lower bound of the send time, counted per line as "queued").
void ReplyScheduler::log_queued(std::uint64_t serial, std::uint32_t events, bool last) {
  if (timing_ && serial != 0 && (events > 0 || last)) log_sent(serial, monotonic_ns(), events, last, true);
}

}  // namespace aiperf::mock
