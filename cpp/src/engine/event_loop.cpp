// The libcurl multi event loop: curl_multi_socket_action driven by epoll (libcurl's timeouts become epoll_wait's
// timeout), a timerfd for scheduler deadlines and an eventfd for stop(). Callbacks only copy bytes and parse; nothing
// here throws out.
#include "aiperf/engine/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/common/text.hpp"
#include "aiperf/engine/response.hpp"

namespace aiperf {

namespace {

constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;  // kept from an error response; the message quotes 500
constexpr std::size_t kStreamSniffBytes = 4 * 1024;    // kept from a stream to explain one without events
constexpr std::size_t kRetainedBufferBytes = 1 << 20;  // larger per-slot buffers (image bodies) are freed after use
constexpr int kMaxEpollEvents = 64;
// Requests started per loop pass: each costs ~15 us (libcurl writes it at once); between passes the loop reads and
// stamps what arrived. 1,000 streams ending together would otherwise hold every arrival back for ~15 ms.
constexpr int kMaxStartsPerPass = 16;
constexpr std::size_t kSlotsPerCurlShard = 32;
constexpr std::uint32_t kSocketIdle = 1u << 31;  // in socket_events_: registered, but libcurl is not watching it

FileDescriptor checked_fd(int fd, const char* what) {
  if (fd < 0) throw Error(std::string("cannot create ") + what + ": " + std::strerror(errno));
  return FileDescriptor(fd);
}

template <class Value>
void set_option(CURL* easy, CURLoption option, Value value) {
  const CURLcode code = curl_easy_setopt(easy, option, value);
  if (code != CURLE_OK) throw Error(std::string("libcurl option failed: ") + curl_easy_strerror(code));
}

template <class Value>
void set_multi_option(CURLM* multi, CURLMoption option, Value value) {
  const CURLMcode code = curl_multi_setopt(multi, option, value);
  if (code != CURLM_OK) throw Error(std::string("libcurl multi option failed: ") + curl_multi_strerror(code));
}

void write_hex12(char* out, std::int64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  auto bits = static_cast<std::uint64_t>(value);
  for (int i = 11; i >= 0; --i) {
    out[i] = kDigits[bits & 0xF];
    bits >>= 4;
  }
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

void drain_fd(int fd) {
  std::uint64_t count = 0;
  while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

// kernel_timestamps: every connection records when its bytes arrived (read back with SCM_TIMESTAMPNS).
int enable_receive_timestamps(void*, curl_socket_t socket, curlsocktype) {
  const int on = 1;
  ::setsockopt(socket, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);  // without it, bytes are timed by the clock
  return CURL_SOCKOPT_OK;
}

}  // namespace

EventLoop::EventLoop(RunShared& run, std::int32_t worker_id, std::size_t slot_count, std::size_t max_slots)
    : run_(run),
      worker_id_(worker_id),
      scheduler_(run, worker_id, static_cast<std::int64_t>(std::max(slot_count, max_slots))),
      max_slots_(std::max(slot_count, max_slots)),
      store_(run.config.keep_raw) {
  if (run.config.kernel_timestamps) stamper_.emplace(run.config.streaming);
  epoll_fd_ = checked_fd(::epoll_create1(EPOLL_CLOEXEC), "epoll");
  scheduler_timer_fd_ = checked_fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd");
  wake_fd_ = checked_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd");
  for (int fd : {scheduler_timer_fd_.get(), wake_fd_.get()}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      throw Error(std::string("epoll_ctl failed: ") + std::strerror(errno));
    }
  }

  // libcurl 7.88 parses CURLOPT_URL again for every transfer (~8 us of CPU per request); a parsed CURLU is only
  // copied. A URL that curl_url cannot parse stays a string, so it fails per request as a record, as before.
  url_.reset(curl_url());
  if (url_ && curl_url_set(url_.get(), CURLUPART_URL, run_.config.url.c_str(), 0) != CURLUE_OK) url_.reset();
  // The first slots spread evenly over as few shards as hold them; slots added later fill shards of the full size.
  const std::size_t shard_count = std::max<std::size_t>((slot_count + kSlotsPerCurlShard - 1) / kSlotsPerCurlShard, 1);
  const std::size_t slots_per_shard = (std::max<std::size_t>(slot_count, 1) + shard_count - 1) / shard_count;
  for (std::size_t i = 0; i < shard_count; ++i) add_shard(slots_per_shard);
  slots_.reserve(slot_count);
  free_slots_.reserve(slot_count);
  for (std::size_t i = 0; i < slot_count; ++i) free_slots_.push_back(add_slot());
  std::reverse(free_slots_.begin(), free_slots_.end());  // slot 0 is used first
}

CurlShard& EventLoop::add_shard(std::size_t capacity) {
  auto shard = std::make_unique<CurlShard>();
  shard->loop = this;
  shard->capacity = capacity;
  shard->multi.reset(curl_multi_init());
  if (!shard->multi) throw Error("curl_multi_init failed");
  CURLM* multi = shard->multi.get();
  set_multi_option(multi, CURLMOPT_SOCKETFUNCTION, &EventLoop::on_socket);
  set_multi_option(multi, CURLMOPT_SOCKETDATA, static_cast<void*>(shard.get()));
  set_multi_option(multi, CURLMOPT_TIMERFUNCTION, &EventLoop::on_timer);
  set_multi_option(multi, CURLMOPT_TIMERDATA, static_cast<void*>(shard.get()));
  // HTTP/1.1 only: no transfer waits to see whether a new connection could be multiplexed.
  set_multi_option(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
  set_multi_option(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(capacity));
  shards_.push_back(std::move(shard));
  return *shards_.back();
}

// A new slot (not in free_slots_), in the first shard with room.
RequestSlot* EventLoop::add_slot() {
  CurlShard* shard = nullptr;
  for (auto& candidate : shards_) {
    if (candidate->slots < candidate->capacity) {
      shard = candidate.get();
      break;
    }
  }
  if (shard == nullptr) shard = &add_shard(kSlotsPerCurlShard);
  auto slot = std::make_unique<RequestSlot>();
  slot->loop = this;
  slot->shard = shard;
  configure_slot(*slot);
  ++shard->slots;
  slots_.push_back(std::move(slot));
  return slots_.back().get();
}

// A free slot, or a new one while the loop may grow; null when all max_slots_ are busy.
RequestSlot* EventLoop::acquire_slot() {
  if (!free_slots_.empty()) {
    RequestSlot* slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (slots_.size() >= max_slots_) return nullptr;
  return add_slot();
}

EventLoop::~EventLoop() {
  for (auto& slot : slots_) {
    if (slot->in_flight) curl_multi_remove_handle(slot->shard->multi.get(), slot->easy.get());
  }
}

void EventLoop::configure_slot(RequestSlot& slot) {
  const EngineConfig& config = run_.config;
  slot.easy.reset(curl_easy_init());
  if (!slot.easy) throw Error("curl_easy_init failed");
  CURL* easy = slot.easy.get();

  // X-Request-ID first: its value is rewritten in place for every request, so sending allocates nothing.
  const std::string request_id = "X-Request-ID: " + config.request_id_prefix + "000000000000";
  curl_slist* list = curl_slist_append(nullptr, request_id.c_str());
  if (!list) throw Error("curl_slist_append failed");
  slot.headers.reset(list);
  slot.request_id_hex = list->data + request_id.size() - 12;
  auto append_header = [&slot](const std::string& line) {
    if (!curl_slist_append(slot.headers.get(), line.c_str())) throw Error("curl_slist_append failed");
  };
  bool has_content_type = false;
  for (const std::string& header : config.headers) {
    has_content_type = has_content_type || starts_with_ignoring_case(header, "content-type:");
    append_header(header);
  }
  if (!has_content_type) append_header("Content-Type: " + config.content_type);
  append_header("Expect:");  // no 100-continue round trip before large bodies

  if (url_) {
    set_option(easy, CURLOPT_CURLU, url_.get());
  } else {
    set_option(easy, CURLOPT_URL, config.url.c_str());
  }
  set_option(easy, CURLOPT_HTTPHEADER, slot.headers.get());
  set_option(easy, CURLOPT_POST, 1L);
  set_option(easy, CURLOPT_WRITEFUNCTION, &EventLoop::on_write);
  set_option(easy, CURLOPT_WRITEDATA, static_cast<void*>(&slot));
  set_option(easy, CURLOPT_HEADERFUNCTION, &EventLoop::on_header);
  set_option(easy, CURLOPT_HEADERDATA, static_cast<void*>(&slot));
  set_option(easy, CURLOPT_PRIVATE, static_cast<void*>(&slot));
  set_option(easy, CURLOPT_CLOSESOCKETFUNCTION, &EventLoop::on_close_socket);
  set_option(easy, CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
  set_option(easy, CURLOPT_ERRORBUFFER, slot.curl_error);
  set_option(easy, CURLOPT_NOSIGNAL, 1L);
  set_option(easy, CURLOPT_TCP_NODELAY, 1L);
  if (config.kernel_timestamps) set_option(easy, CURLOPT_SOCKOPTFUNCTION, &enable_receive_timestamps);
  if (config.keep_raw) {
    // The raw export's request headers are the ones libcurl wrote; its debug hook is the only place that sees them.
    set_option(easy, CURLOPT_DEBUGFUNCTION, &EventLoop::on_debug);
    set_option(easy, CURLOPT_DEBUGDATA, static_cast<void*>(&slot));
    set_option(easy, CURLOPT_VERBOSE, 1L);
  }
  set_option(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  set_option(easy, CURLOPT_PROXY, config.proxy.c_str());  // "" also ignores the *_proxy environment variables
  // Without a proxy, no_proxy cannot matter; setting it spares libcurl two getenv() scans per transfer.
  if (config.proxy.empty()) set_option(easy, CURLOPT_NOPROXY, "");
  set_option(easy, CURLOPT_SSL_VERIFYPEER, config.verify_tls ? 1L : 0L);
  set_option(easy, CURLOPT_SSL_VERIFYHOST, config.verify_tls ? 2L : 0L);
  if (config.request_timeout_s > 0) {
    const double timeout_ms = std::ceil(config.request_timeout_s * 1000.0);
    set_option(easy, CURLOPT_TIMEOUT_MS,
               timeout_ms >= static_cast<double>(LONG_MAX) ? LONG_MAX : static_cast<long>(timeout_ms));
  }
  // A Content-Length over the limit fails before the body; on_write holds every body to it.
  if (config.max_response_bytes > 0) {
    set_option(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(config.max_response_bytes));
  }
}

void EventLoop::wake() noexcept {
  const std::uint64_t one = 1;
  while (::write(wake_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

RecordStore EventLoop::take_records() {
  RecordStore::Extent taken;
  {
    std::lock_guard lock(store_mutex_);
    taken = store_.extent();
  }
  // The next batch is sized like this one with a quarter more room, and its memory is touched here, on the caller's
  // thread: appending a streamed record with its raw text would otherwise grow multi-MB columns by copying them, and
  // fault their new pages in, on the loop thread with the lock held (a 1,000-stream run measured stalls of 2-5 ms,
  // long enough for a stream's next token to arrive before the last one was read; docs/accuracy.md).
  auto with_room = [](std::size_t n) { return n + n / 4; };
  RecordStore::Extent next{with_room(taken.records), with_room(taken.chunks), {}};
  for (std::size_t i = 0; i < next.text_bytes.size(); ++i) next.text_bytes[i] = with_room(taken.text_bytes[i]);
  RecordStore fresh(run_.config.keep_raw);
  fresh.reserve_touched(next);
  std::lock_guard lock(store_mutex_);
  std::swap(fresh, store_);
  return fresh;
}

void EventLoop::run() noexcept {
  bool arrived_at_barrier = false;
  try {
    std::unique_lock store_lock(store_mutex_);
    store_.reserve(static_cast<std::size_t>(
                       std::clamp<std::int64_t>((run_.config.request_count + run_.config.warmup_request_count) /
                                                        std::max<std::int64_t>(run_.config.num_threads, 1) +
                                                    1,
                                                16, 1 << 16)),
                   run_.config.streaming ? 1024 : 16);
    store_lock.unlock();
    run_phase(Phase::warmup);
    arrived_at_barrier = true;
    run_.warmup_finished.arrive_and_wait();
    run_phase(Phase::profiling);
  } catch (const std::exception& error) {
    fatal_error_ = error.what();
  } catch (...) {
    fatal_error_ = "unknown error in the event loop";
  }
  if (!fatal_error_.empty()) {
    try {
      cancel_in_flight("cancelled: event loop failed");
    } catch (...) {
    }
    if (!arrived_at_barrier) run_.warmup_finished.arrive_and_drop();
  }
}

void EventLoop::run_phase(Phase phase) {
  scheduler_.begin_phase(phase, monotonic_ns());
  start_and_collect();
  arm_scheduler_timer();
  epoll_event events[kMaxEpollEvents];
  while (in_flight_ > 0 || !scheduler_.exhausted()) {
    const int count = ::epoll_wait(epoll_fd_.get(), events, kMaxEpollEvents, starts_deferred_ ? 0 : epoll_timeout_ms());
    if (count < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("epoll_wait failed: ") + std::strerror(errno));
    }
    if (stamper_) stamper_->on_wake(count, kMaxEpollEvents);
    bool cancel_now = false;
    for (int i = 0; i < count; ++i) {
      const int fd = events[i].data.fd;
      if (fd == scheduler_timer_fd_.get()) {
        drain_fd(fd);
        armed_wake_ns_ = -2;  // expired: set it again below, even to the same time
        const std::int64_t now_ns = monotonic_ns();
        cancel_now = scheduler_.on_wake(now_ns) || cancel_now;
        cancel_due_requests(now_ns);
      } else if (fd == wake_fd_.get()) {
        drain_fd(fd);
      } else {
        handle_socket_event(fd, events[i].events);
        sweep_if_behind();
      }
    }
    run_curl_timeout_if_due();
    drain_completions();
    sweep_if_behind();
    if (run_.stop_requested.load(std::memory_order_relaxed)) {
      scheduler_.stop_sending();
      cancel_now = true;
    }
    if (cancel_now) {
      const bool stopped = run_.stop_requested.load(std::memory_order_relaxed);
      cancel_in_flight(stopped ? "cancelled: benchmark stopped" : "cancelled: grace period ended");
    }
    start_and_collect();
    arm_scheduler_timer();
  }
  while (!planned_cancels_.empty()) planned_cancels_.pop();
}

int EventLoop::epoll_timeout_ms() const {
  std::int64_t deadline_ns = -1;
  for (const auto& shard : shards_) {
    if (shard->deadline_ns >= 0 && (deadline_ns < 0 || shard->deadline_ns < deadline_ns)) {
      deadline_ns = shard->deadline_ns;
    }
  }
  if (deadline_ns < 0) return -1;
  const std::int64_t remaining_ns = deadline_ns - monotonic_ns();
  if (remaining_ns <= 0) return 0;
  // Round up: waking before the deadline would only spin back into epoll_wait.
  return static_cast<int>(std::min<std::int64_t>((remaining_ns + 999'999) / 1'000'000, INT32_MAX));
}

void EventLoop::run_curl_timeout_if_due() {
  std::int64_t now_ns = -1;
  for (const auto& shard : shards_) {
    if (shard->deadline_ns < 0) continue;
    if (now_ns < 0) now_ns = monotonic_ns();
    if (now_ns < shard->deadline_ns) continue;
    shard->deadline_ns = -1;  // libcurl sets a new one from inside the call when it still needs one
    int running = 0;
    curl_multi_socket_action(shard->multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

void EventLoop::arm_scheduler_timer() {
  std::int64_t wake_ns = scheduler_.next_wake_ns();
  if (!planned_cancels_.empty()) {
    const std::int64_t cancel_ns = planned_cancels_.top().deadline_ns;
    if (wake_ns < 0 || cancel_ns < wake_ns) wake_ns = cancel_ns;
  }
  if (wake_ns == armed_wake_ns_) return;  // a timerfd_settime saved on most iterations
  armed_wake_ns_ = wake_ns;
  itimerspec spec{};
  if (wake_ns >= 0) {
    spec.it_value.tv_sec = wake_ns / 1'000'000'000;
    spec.it_value.tv_nsec = wake_ns % 1'000'000'000;
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  ::timerfd_settime(scheduler_timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

// libcurl 8.x may finish a transfer inside the curl_multi_socket_action of its start (the whole response was already
// there) and then arm neither a timer nor a socket: a blocking epoll_wait would not return for it.
void EventLoop::start_and_collect() {
  start_requests();
  if (drain_completions()) starts_deferred_ = true;  // their successors start after a look at the sockets
}

void EventLoop::start_requests() {
  starts_deferred_ = false;
  int started = 0;
  while (!free_slots_.empty() || slots_.size() < max_slots_) {
    if (started++ == kMaxStartsPerPass) {
      starts_deferred_ = true;  // the rest after a look at the sockets (epoll_wait does not block then)
      return;
    }
    const std::int64_t now_ns = monotonic_ns();
    // --concurrency-ramp-duration: an open loop's due requests wait for the ramp (they are recorded as late)
    if (static_cast<std::int64_t>(in_flight_) >= scheduler_.concurrency_cap(now_ns)) return;
    const std::optional<RequestTicket> ticket = scheduler_.next(now_ns);
    if (!ticket) return;
    RequestSlot* slot = acquire_slot();
    start_request(*slot, *ticket);
    sweep_if_behind();
  }
}

void EventLoop::start_request(RequestSlot& slot, const RequestTicket& ticket) {
  RequestRecord& record = slot.record;
  record.reset();
  record.request_index = ticket.request_index;
  record.body_index = ticket.body_index;
  record.worker_id = worker_id_;
  record.phase = ticket.phase;
  record.session_num = ticket.session_num;
  record.turn_index = ticket.turn_index;
  record.intended_ns = ticket.intended_ns;
  slot.ticket = ticket;
  slot.sse.reset();
  slot.body.clear();
  slot.sse_events = 0;
  slot.last_byte_ns = -1;
  slot.extraction.clear();
  slot.write_failed = false;
  slot.too_large = false;
  slot.done_seen = false;
  slot.retry_after.clear();
  slot.curl_error[0] = '\0';
  slot.peek_errno = 0;
  slot.arrival_marks.reset();
  slot.delivered_bytes = 0;
  write_hex12(slot.request_id_hex, ticket.request_index);

  const std::string* body = &run_.workload.bodies[static_cast<std::size_t>(ticket.body_index)];
  if (const BodyTemplate* with_holes = run_.body_template(ticket.body_index)) {
    scheduler_.fill_body(ticket, *with_holes, slot.request_body);
    body = &slot.request_body;
  }
  CURL* easy = slot.easy.get();
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data());
  // Verbose mode only until the request's header block is out (on_debug turns it off): left on for the whole
  // transfer it delays the timing of about 1 % of the events at 1,000 streams by an inter-token gap.
  if (run_.config.keep_raw) curl_easy_setopt(easy, CURLOPT_VERBOSE, 1L);

  slot.in_flight = true;
  ++in_flight_;
  run_.sent.fetch_add(1, std::memory_order_relaxed);
  record.start_ns = monotonic_ns();
  const CURLMcode code = curl_multi_add_handle(slot.shard->multi.get(), easy);
  if (code != CURLM_OK) {
    record.error_kind = ErrorKind::transport;
    record.error_message = std::string("cannot start request: ") + curl_multi_strerror(code);
    record.end_ns = monotonic_ns();
    complete_request(slot);
    return;
  }
  if (ticket.cancel) {
    const std::int64_t delay_ns = std::llround(run_.config.cancellation_delay_s * 1e9);
    planned_cancels_.push(PlannedCancel{record.start_ns + delay_ns, record.request_index, &slot});
  }
  // Send it now rather than on the next loop pass: a burst of starts (a phase's first requests, a batch of
  // completions) would otherwise be stamped together and written one after another, up to tens of ms later
  // (measured with the mock server's timing log, docs/accuracy.md). libcurl re-arms its timer from inside the call.
  int running = 0;
  curl_multi_socket_action(slot.shard->multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
}

// Stores the slot's finished record, tells the scheduler (the session's next turn) and frees the slot.
void EventLoop::complete_request(RequestSlot& slot) {
  RequestRecord& record = slot.record;
  {
    std::lock_guard lock(store_mutex_);
    store_.append(record);
  }
  run_.completed.fetch_add(1, std::memory_order_relaxed);
  if (record.error_kind != ErrorKind::ok) run_.errors.fetch_add(1, std::memory_order_relaxed);
  scheduler_.on_finished(slot.ticket, record.fields.content, record.end_ns);
  release_slot(slot);
}

void EventLoop::release_slot(RequestSlot& slot) {
  // Reused buffers keep their capacity, except rare huge ones: concurrency x image size would pin too much memory.
  if (slot.body.capacity() > kRetainedBufferBytes) std::string().swap(slot.body);
  if (slot.record.raw.capacity() > kRetainedBufferBytes) std::string().swap(slot.record.raw);
  if (slot.record.fields.content.capacity() > kRetainedBufferBytes) std::string().swap(slot.record.fields.content);
  slot.in_flight = false;
  --in_flight_;
  free_slots_.push_back(&slot);
}

void EventLoop::handle_socket_event(int fd, std::uint32_t events) {
  if (fd >= 0 && static_cast<std::size_t>(fd) < socket_events_.size() &&
      (socket_events_[static_cast<std::size_t>(fd)] & kSocketIdle)) {
    // An idle kept-alive connection became readable (the server closed it, or sent stray bytes). libcurl finds out
    // when it next uses the connection; until then take it out of the set so level-triggered epoll does not spin.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    socket_events_[static_cast<std::size_t>(fd)] = 0;
    return;
  }
  int flags = 0;
  if (events & EPOLLIN) flags |= CURL_CSELECT_IN;
  if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
  if (events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
  CurlShard* shard = fd >= 0 && static_cast<std::size_t>(fd) < socket_shards_.size()
                         ? socket_shards_[static_cast<std::size_t>(fd)]
                         : nullptr;
  if (shard == nullptr) return;  // not a socket libcurl asked us to watch
  RequestSlot* stamped = nullptr;
  // Not on an error or hang-up: a peek would take the socket's pending error (ECONNRESET, …) that libcurl must see.
  if (stamper_ && (events & EPOLLIN) && !(events & (EPOLLERR | EPOLLHUP))) stamped = stamper_->stamp(fd);
  int running = 0;
  curl_multi_socket_action(shard->multi.get(), fd, flags, &running);
  if (stamped != nullptr) stamped->kernel_stamp_ns = -1;  // only for what this wake-up read
}

bool EventLoop::drain_completions() {
  bool finished = false;
  for (const auto& shard : shards_) {
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(shard->multi.get(), &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURL* easy = message->easy_handle;
      const CURLcode result = message->data.result;  // copied: the message dies with remove_handle
      void* slot_pointer = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &slot_pointer);
      curl_multi_remove_handle(shard->multi.get(), easy);
      finish_request(*static_cast<RequestSlot*>(slot_pointer), result);
      finished = true;
    }
  }
  return finished;
}

void EventLoop::finish_request(RequestSlot& slot, CURLcode result) {
  RequestRecord& record = slot.record;
  const std::int64_t now_ns = monotonic_ns();
  long status = 0;
  curl_easy_getinfo(slot.easy.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) record.status = static_cast<std::int32_t>(status);
  if (result == CURLE_OK && run_.config.streaming && record.status < 400) {
    // A last event without its blank line still counts when the server closed the body cleanly.
    const std::int64_t event_ns = slot.last_byte_ns >= 0 ? slot.last_byte_ns : now_ns;
    slot.sse.feed("\n\n", [this, &slot, event_ns](std::string_view data) { on_sse_event(slot, data, event_ns); });
  }
  record.end_ns = slot.last_byte_ns >= 0 ? slot.last_byte_ns : now_ns;
  const TransferOutcome outcome{result, slot.too_large, slot.write_failed, slot.peek_errno, slot.curl_error};
  std::optional<RecordError> error = classify_transport_error(outcome, run_.config.max_response_bytes);
  if (!error) {
    finish_plain_body(extractor_, run_.config, slot.body, slot.sse_events, record, slot.extraction);
    ResponseView response;
    response.status = record.status;
    response.body = slot.body;
    response.retry_after = slot.retry_after;
    curl_easy_getinfo(slot.easy.get(), CURLINFO_CONTENT_TYPE, &response.content_type);
    response.sse_events = slot.sse_events;
    response.sse_invalid_lines = static_cast<std::int64_t>(slot.sse.invalid_lines());
    response.first_invalid_line = slot.sse.first_invalid_line();
    response.done_seen = slot.done_seen;
    response.extraction = &slot.extraction;
    response.fields = &record.fields;
    error = validate_response(response, run_.config);
  }
  if (error) {
    record.error_kind = error->kind;
    record.error_message = std::move(error->message);
  }
  complete_request(slot);
}

void EventLoop::on_sse_event(RequestSlot& slot, std::string_view data, std::int64_t now_ns) {
  RequestRecord& record = slot.record;
  ++slot.sse_events;
  // The segment that completed this event, when a peek saw it arrive (earlier than the read's own time when the
  // loop was behind); never before the previous event.
  const std::int64_t arrived_ns = slot.arrival_marks.time_of_blank_line(slot.sse.blank_lines());
  if (arrived_ns >= 0 && arrived_ns < now_ns) {
    now_ns = record.chunk_ns.empty() ? arrived_ns : std::max(arrived_ns, record.chunk_ns.back());
  }
  record.chunk_ns.push_back(now_ns);
  if (run_.config.keep_raw) {
    record.raw.append(data);
    record.raw_chunk_ends.push_back(static_cast<std::int64_t>(record.raw.size()));
  }
  if (is_done(data)) {
    slot.done_seen = true;
    record.chunk_content_bytes.push_back(0);
    return;
  }
  // An event inside the chunk being delivered can be parsed in place when the chunk goes on long enough after it.
  std::size_t readable_bytes_after = 0;
  const char* const chunk_end = slot.write_chunk.data() + slot.write_chunk.size();
  if (data.data() >= slot.write_chunk.data() && data.data() + data.size() <= chunk_end) {
    readable_bytes_after = static_cast<std::size_t>(chunk_end - (data.data() + data.size()));
  }
  const std::size_t text_before = record.fields.content.size() + record.fields.reasoning.size();
  extract_document(extractor_, data, readable_bytes_after, record.fields, slot.extraction);
  const std::size_t text_after = record.fields.content.size() + record.fields.reasoning.size();
  record.chunk_content_bytes.push_back(static_cast<std::int32_t>(text_after - text_before));
}

void EventLoop::cancel_in_flight(std::string_view reason) {
  if (in_flight_ == 0) return;
  const std::int64_t now_ns = monotonic_ns();
  for (auto& slot_pointer : slots_) {
    if (slot_pointer->in_flight) cancel_request(*slot_pointer, reason, now_ns);
  }
}

void EventLoop::cancel_request(RequestSlot& slot, std::string_view reason, std::int64_t now_ns) {
  curl_multi_remove_handle(slot.shard->multi.get(), slot.easy.get());
  RequestRecord& record = slot.record;
  long status = 0;
  curl_easy_getinfo(slot.easy.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 0) record.status = static_cast<std::int32_t>(status);
  record.end_ns = now_ns;
  record.error_kind = ErrorKind::cancelled;
  record.was_cancelled = true;
  record.error_message.assign(reason);
  complete_request(slot);
}

// --request-cancellation-rate: requests whose cancellation delay has passed and that are still in flight.
void EventLoop::cancel_due_requests(std::int64_t now_ns) {
  while (!planned_cancels_.empty() && planned_cancels_.top().deadline_ns <= now_ns) {
    const PlannedCancel planned = planned_cancels_.top();
    planned_cancels_.pop();
    RequestSlot& slot = *planned.slot;
    if (!slot.in_flight || slot.record.request_index != planned.request_index) continue;  // it ended first
    cancel_request(slot, "cancelled: --request-cancellation-delay reached", now_ns);
  }
}

int EventLoop::on_socket(CURL* easy, curl_socket_t socket, int what, void* shard_pointer, void*) {
  auto* shard = static_cast<CurlShard*>(shard_pointer);
  EventLoop* loop = shard->loop;
  if (socket < 0) return 0;
  auto& registry = loop->socket_events_;
  if (static_cast<std::size_t>(socket) >= registry.size()) {
    registry.resize(static_cast<std::size_t>(socket) + 64, 0);
    loop->socket_shards_.resize(registry.size(), nullptr);
  }
  loop->socket_shards_[static_cast<std::size_t>(socket)] = shard;
  if (loop->stamper_) {
    void* slot = nullptr;
    if (what != CURL_POLL_REMOVE && easy != nullptr) curl_easy_getinfo(easy, CURLINFO_PRIVATE, &slot);
    loop->stamper_->on_socket(socket, static_cast<RequestSlot*>(slot), what != CURL_POLL_REMOVE);
  }
  std::uint32_t& registered = registry[static_cast<std::size_t>(socket)];
  if (what == CURL_POLL_REMOVE) {
    if (registered != 0) registered |= kSocketIdle;  // stays in the epoll set until reused, closed or it fires
    return 0;
  }
  const std::uint32_t wanted = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  if ((registered & ~kSocketIdle) == wanted && registered != 0) {
    registered = wanted;
    return 0;
  }
  epoll_event event{};
  event.events = wanted;
  event.data.fd = socket;
  const int epoll_fd = loop->epoll_fd_.get();
  const int first_op = registered != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (::epoll_ctl(epoll_fd, first_op, socket, &event) != 0) {
    const int retry_op = first_op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (::epoll_ctl(epoll_fd, retry_op, socket, &event) != 0) return -1;
  }
  registered = wanted == 0 ? kSocketIdle : wanted;
  return 0;
}

int EventLoop::on_close_socket(void* loop_pointer, curl_socket_t socket) {
  auto* loop = static_cast<EventLoop*>(loop_pointer);
  // close() takes the fd out of the epoll set; the number may be reused by the next socket, so forget it.
  if (socket >= 0 && static_cast<std::size_t>(socket) < loop->socket_events_.size()) {
    loop->socket_events_[static_cast<std::size_t>(socket)] = 0;
    loop->socket_shards_[static_cast<std::size_t>(socket)] = nullptr;
  }
  if (loop->stamper_) loop->stamper_->on_close(socket);
  return ::close(socket);
}

int EventLoop::on_timer(CURLM*, long timeout_ms, void* shard_pointer) {
  auto* shard = static_cast<CurlShard*>(shard_pointer);
  shard->deadline_ns = timeout_ms < 0 ? -1 : monotonic_ns() + static_cast<std::int64_t>(timeout_ms) * 1'000'000;
  return 0;
}

size_t EventLoop::on_header(char* data, size_t size, size_t count, void* slot_pointer) {
  auto& slot = *static_cast<RequestSlot*>(slot_pointer);
  const std::size_t bytes = size * count;
  RequestRecord& record = slot.record;
  if (record.ack_ns < 0) record.ack_ns = slot.kernel_stamp_ns >= 0 ? slot.kernel_stamp_ns : monotonic_ns();
  slot.kernel_stamp_bytes -= static_cast<std::int64_t>(bytes);  // header bytes came out of what the peek saw
  slot.delivered_bytes += static_cast<std::int64_t>(bytes);
  const std::string_view line(data, bytes);
  try {
    if (line.starts_with("HTTP/")) {
      // A new status line starts a new header block (after 1xx or an auth round trip).
      const std::size_t space = line.find(' ');
      std::int32_t status = 0;
      for (std::size_t i = space + 1; space != std::string_view::npos && i < line.size(); ++i) {
        if (line[i] < '0' || line[i] > '9') break;
        status = status * 10 + (line[i] - '0');
      }
      record.status = status;
      record.response_headers.clear();
    } else if (record.status >= 400 && starts_with_ignoring_case(line, "retry-after:")) {
      slot.retry_after.assign(trim(line.substr(12)));
    }
    if (slot.loop->run_.config.keep_raw) record.response_headers.append(line);
  } catch (...) {
    slot.write_failed = true;
    return 0;
  }
  return bytes;
}

// CURLOPT_DEBUGFUNCTION (keep_raw only): keeps the request header block; every other kind of trace is dropped.
int EventLoop::on_debug(CURL* easy, curl_infotype type, char* data, size_t size, void* slot_pointer) {
  if (type != CURLINFO_HEADER_OUT) return 0;
  auto& slot = *static_cast<RequestSlot*>(slot_pointer);
  std::string& headers = slot.record.request_headers;
  try {
    if (headers.ends_with("\r\n\r\n")) headers.clear();  // a new request on the same transfer (auth, redirect)
    headers.append(data, size);
  } catch (...) {
    slot.write_failed = true;
  }
  if (headers.ends_with("\r\n\r\n")) curl_easy_setopt(easy, CURLOPT_VERBOSE, 0L);  // the block is complete
  return 0;
}

size_t EventLoop::on_write(char* data, size_t size, size_t count, void* slot_pointer) {
  auto& slot = *static_cast<RequestSlot*>(slot_pointer);
  const std::size_t bytes = size * count;
  EventLoop& loop = *slot.loop;
  RequestRecord& record = slot.record;
  // Events that arrived together share this time: when the kernel received them (kernel_timestamps, for bytes the
  // peek covered), else now.
  std::int64_t now_ns = 0;
  if (slot.kernel_stamp_ns >= 0 && slot.kernel_stamp_bytes >= static_cast<std::int64_t>(bytes)) {
    slot.kernel_stamp_bytes -= static_cast<std::int64_t>(bytes);
    now_ns = std::max(slot.kernel_stamp_ns, slot.last_byte_ns);
  } else {
    slot.kernel_stamp_ns = -1;
    now_ns = monotonic_ns();
  }
  if (record.ack_ns < 0) record.ack_ns = now_ns;
  slot.last_byte_ns = now_ns;
  slot.delivered_bytes += static_cast<std::int64_t>(bytes);
  record.response_bytes += static_cast<std::int64_t>(bytes);
  const std::int64_t max_response_bytes = loop.run_.config.max_response_bytes;
  if (max_response_bytes > 0 && record.response_bytes > max_response_bytes) {
    slot.too_large = true;
    return 0;  // aborts this transfer with CURLE_WRITE_ERROR
  }
  const std::string_view chunk(data, bytes);
  try {
    if (record.status >= 400) {
      if (slot.body.size() < kMaxErrorBodyBytes) {
        slot.body.append(chunk.substr(0, kMaxErrorBodyBytes - slot.body.size()));
      }
    } else if (!loop.run_.config.streaming) {
      slot.body.append(chunk);
    } else {
      slot.write_chunk = chunk;
      slot.sse.feed(chunk, [&loop, &slot, now_ns](std::string_view event) { loop.on_sse_event(slot, event, now_ns); });
      slot.write_chunk = {};
      // The first bytes explain a stream that never yields an event; once one has arrived they are not needed.
      if (slot.sse_events == 0 && slot.body.size() < kStreamSniffBytes) {
        slot.body.append(chunk.substr(0, kStreamSniffBytes - slot.body.size()));
      }
    }
  } catch (...) {
    slot.write_chunk = {};
    slot.write_failed = true;
    return 0;  // aborts this transfer with CURLE_WRITE_ERROR
  }
  return bytes;
}

}  // namespace aiperf
