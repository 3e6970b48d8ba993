// The mock server's libevent plumbing: per thread an event_base, an evhttp and an SO_REUSEPORT listener;
// delayed replies and token streams on libevent timers kept to an absolute schedule; client disconnects;
// a stop any thread may request.
#include "aiperf/mock_server.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>  // evhttp_request::chunked: the last chunk carries the terminator
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "aiperf/common/error.hpp"
#include "aiperf/mock_timing_log.hpp"

namespace aiperf {
namespace {

struct EventConfigFree {
  void operator()(event_config* p) const noexcept { event_config_free(p); }
};
struct EventBaseFree {
  void operator()(event_base* p) const noexcept { event_base_free(p); }
};
struct EvhttpFree {
  void operator()(evhttp* p) const noexcept { evhttp_free(p); }
};
struct EventFree {
  void operator()(event* p) const noexcept { event_free(p); }
};
struct EvbufferFree {
  void operator()(evbuffer* p) const noexcept { evbuffer_free(p); }
};
struct ListenerFree {
  void operator()(evconnlistener* p) const noexcept { evconnlistener_free(p); }
};
using EventConfigPtr = std::unique_ptr<event_config, EventConfigFree>;
using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerFree>;

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Rounded up to whole microseconds so a timer never fires before its due time.
timeval delay_until(std::int64_t due_ns) {
  std::int64_t delay_ns = std::max<std::int64_t>(0, due_ns - now_ns());
  std::int64_t us = (delay_ns + 999) / 1000;
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

[[noreturn]] void throw_errno(const std::string& what) { throw Error(what + ": " + std::strerror(errno)); }

enum Counter : int {
  kHealth,
  kModels,
  kChatCompletions,
  kCompletions,
  kEmbeddings,
  kImageGenerations,
  kImageEdits,
  kMockImages,
  kNotFound,
  kMethodNotAllowed,
  kBadRequest,
  kStreamsOpen,
  kClientDisconnects,
  kTokensSent,
  kTokensLate,  // written more than kLateNs after their due time
  kImagesSent,
  kChatImageParts,
  kCounterCount
};
constexpr std::int64_t kLateNs = 1'000'000;
constexpr std::array<const char*, kCounterCount> kCounterNames = {
    "health",           "models",
    "chat_completions", "completions",
    "embeddings",       "image_generations",
    "image_edits",      "mock_images",
    "not_found",        "method_not_allowed",
    "bad_request",      "streams_open",
    "client_disconnects", "stream_tokens_sent",
    "stream_tokens_late_over_1ms", "images_sent",
    "chat_image_parts"};

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  void set_port(int port) {
    if (storage.ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(static_cast<std::uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(static_cast<std::uint16_t>(port));
    }
  }
};

Address resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) throw Error("mock server: cannot resolve host '" + host + "': " + gai_strerror(rc));
  // Prefer IPv4: "localhost" should be reachable at 127.0.0.1, which clients usually try.
  const addrinfo* chosen = found;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      chosen = a;
      break;
    }
  }
  Address address;
  std::memcpy(&address.storage, chosen->ai_addr, chosen->ai_addrlen);
  address.length = chosen->ai_addrlen;
  freeaddrinfo(found);
  return address;
}

UniqueFd bind_socket(const Address& address, bool reuse_port, const std::string& where) {
  UniqueFd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("mock server: socket()");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw_errno("mock server: SO_REUSEPORT");
  }
  // Accepted connections inherit TCP_NODELAY: a token event must not wait for the previous one's ACK.
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    throw_errno("mock server: cannot listen on " + where);
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) throw_errno("mock server: getsockname");
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
}

mock::Method method_of(evhttp_request* request) {
  switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
      return mock::Method::get;
    case EVHTTP_REQ_POST:
      return mock::Method::post;
    default:
      return mock::Method::other;
  }
}

const char* method_name(evhttp_request* request) {
  switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
  }
}

class Worker;

// A reply waiting for its time: a delayed body, or a token stream whose next event is due.
struct PendingReply {
  Worker* worker = nullptr;
  evhttp_request* request = nullptr;
  std::list<PendingReply>::iterator self;
  bool scheduled = false;  // has an entry in the worker's due-time heap
  bool abandoned = false;  // the client went away; erased when its heap entry comes up
  bool streaming = false;
  std::int64_t first_due_ns = 0;  // the delayed reply, or the stream's first token
  std::string body;               // delayed reply
  mock::ReplyHeader header;       // stream
  std::string event_prefix;
  std::int64_t next_token = 0;
  // Image streams: rounds of prepared events and when each is due (instead of token events).
  std::vector<std::string> image_events;
  std::vector<std::int64_t> image_event_due_ns;
  std::size_t next_image_event = 0;
  bool chunked = false;  // HTTP/1.1: chunked framing; HTTP/1.0 clients get the bare stream until close
  mock::Fault fault = mock::Fault::none;  // a fault that changes how this reply is sent (see advance())
  bool reset_sent = false;                // we reset the connection ourselves: not a client disconnect
  std::string trickle;                    // trickle: the reply's text, one byte per kTrickleIntervalNs
  std::size_t trickle_sent = 0;
  bool trickling = false;
  bool head_sent = false;                 // reset-mid-stream of a non-streaming reply: head and half the body sent
  mock::HugeReply huge;                   // huge-response: what is left to write
  int huge_stage = 0;                     // 0 head, 1 filler, 2 tail, 3 done
  std::uint64_t timing_serial = 0;        // --timing-log: the request's serial there (0 = not logged)
  std::uint32_t events_per_image_round = 0;  // image streams: SSE events in each prepared round (n images)
};


constexpr std::int64_t kTrickleIntervalNs = 100'000'000;  // trickle: one byte per 100 ms

class Worker {
 public:
  Worker(const MockServerConfig& config, int index, int port, std::shared_ptr<mock::ImageCache> images,
         mock::TimingLog* timing_log)
      : index_(index),
        ttft_ns_(std::llround(config.ttft_ms * 1e6)),
        itl_ns_(std::llround(config.itl_ms * 1e6)),
        image_latency_ns_(std::llround(config.image_latency_ms * 1e6)),
        output_tokens_(config.output_tokens),
        default_url_base_(default_url_base(config.host, port)),
        images_(std::move(images)),
        faults_(config.faults),
        fault_seed_(config.seed),
        huge_response_bytes_(config.huge_response_bytes) {
    EventConfigPtr event_config(event_config_new());
    // Precise timers (timerfd, CLOCK_MONOTONIC) and no cached loop time: token due times stay microsecond-exact.
    event_config_set_flag(event_config.get(), EVENT_BASE_FLAG_PRECISE_TIMER);
    event_config_set_flag(event_config.get(), EVENT_BASE_FLAG_NO_CACHE_TIME);
    base_.reset(event_base_new_with_config(event_config.get()));
    if (!base_) throw Error("mock server: event_base_new failed");
    http_.reset(evhttp_new(base_.get()));
    stop_event_.reset(event_new(base_.get(), -1, 0, &Worker::on_stop, this));
    due_timer_.reset(evtimer_new(base_.get(), &Worker::on_due, this));
    out_buffer_.reset(evbuffer_new());
    if (!http_ || !stop_event_ || !due_timer_ || !out_buffer_) throw Error("mock server: libevent allocation failed");
    evhttp_set_gencb(http_.get(), &Worker::on_request, this);
    if (timing_log) timing_ = std::make_unique<mock::TimingRecorder>(*timing_log, index);
  }

  void listen(UniqueFd fd) {
    ListenerPtr listener(evconnlistener_new(base_.get(), nullptr, nullptr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                            4096, fd.get()));
    if (!listener) throw_errno("mock server: listen");
    fd.release();
    if (!evhttp_bind_listener(http_.get(), listener.get())) throw Error("mock server: evhttp_bind_listener failed");
    listener.release();  // the evhttp frees its bound listeners
  }

  // The loop thread: serve until stopped, then free every libevent object here, so the port closes now.
  void run() {
    event_base_dispatch(base_.get());
    for (PendingReply& reply : pending_) {
      if (reply.abandoned) continue;
      log_end(reply.timing_serial, now_ns(), mock::ReplyOutcome::server_stopped);
      if (evhttp_connection* connection = evhttp_request_get_connection(reply.request)) {
        evhttp_connection_set_closecb(connection, nullptr, nullptr);
      }
    }
    due_.clear();
    pending_.clear();
    due_timer_.reset();
    counters_[kStreamsOpen] = 0;
    {
      std::lock_guard lock(stop_mutex_);
      stop_event_.reset();
    }
    http_.reset();  // closes the listener and every connection, freeing their requests
    out_buffer_.reset();
    base_.reset();
    if (timing_) timing_->flush();
  }

  void request_stop() {
    std::lock_guard lock(stop_mutex_);
    if (stop_event_) event_active(stop_event_.get(), EV_TIMEOUT, 0);
  }

  std::int64_t counter(int which) const { return counters_[which].load(std::memory_order_relaxed); }
  std::int64_t fault_count(int which) const { return fault_counts_[which].load(std::memory_order_relaxed); }

 private:
  static void on_stop(evutil_socket_t, short, void* arg) {
    event_base_loopbreak(static_cast<Worker*>(arg)->base_.get());
  }
  static void on_request(evhttp_request* request, void* arg) { static_cast<Worker*>(arg)->handle(request); }
  static void on_due(evutil_socket_t, short, void* arg) { static_cast<Worker*>(arg)->run_due(); }
  static void on_connection_closed(evhttp_connection*, void* arg) {
    auto* reply = static_cast<PendingReply*>(arg);
    reply->worker->abandon(*reply);
  }
  static void on_huge_written(evhttp_connection*, void* arg) {
    auto* reply = static_cast<PendingReply*>(arg);
    reply->worker->write_huge(*reply);
  }

  void count(Counter which) { counters_[which].fetch_add(1, std::memory_order_relaxed); }

  void handle(evhttp_request* request) {
    const std::int64_t recv_ns = timing_ ? now_ns() : 0;  // first: the request has just been read whole
    const char* uri = evhttp_request_get_uri(request);
    std::string_view path = uri ? uri : "";
    path = path.substr(0, path.find('?'));
    timed_ = 0;
    if (timing_) {
      const char* request_id = evhttp_find_header(evhttp_request_get_input_headers(request), "X-Request-ID");
      timed_ = timing_->received(recv_ns, path, request_id ? std::string_view(request_id) : std::string_view());
    }
    bool path_known = false;
    const mock::Route* route = mock::find_route(path, method_of(request), &path_known);
    if (!route) {
      if (path_known) {
        count(kMethodNotAllowed);
        send_error(request, 405, "Method not allowed for " + std::string(path));
      } else {
        count(kNotFound);
        send_error(request, 404, std::string("Invalid URL (") + method_name(request) + " " + std::string(path) + ")",
                   "not_found_error");
      }
      return;
    }
    switch (route->endpoint) {
      case mock::Endpoint::health:
        count(kHealth);
        send_now(request, 200, mock::health_body());
        break;
      case mock::Endpoint::models:
        count(kModels);
        send_now(request, 200, mock::models_body());
        break;
      case mock::Endpoint::chat_completions:
      case mock::Endpoint::completions:
        handle_text(request, route->endpoint);
        break;
      case mock::Endpoint::embeddings:
        handle_embeddings(request);
        break;
      case mock::Endpoint::image_generations:
      case mock::Endpoint::image_edits:
        handle_image(request, route->endpoint);
        break;
      case mock::Endpoint::mock_image:
        handle_mock_image(request, path);
        break;
    }
  }

  static std::string default_url_base(const std::string& host, int port) {
    std::string reachable = host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
    if (reachable.find(':') != std::string::npos) reachable = "[" + reachable + "]";
    return "http://" + reachable + ":" + std::to_string(port);
  }

  // Where the client reached us (its Host header), so image URLs work through port forwards and proxies.
  std::string url_base(evhttp_request* request) const {
    const char* host = evhttp_find_header(evhttp_request_get_input_headers(request), "Host");
    if (!host || !*host) return default_url_base_;
    return std::string("http://") + host;
  }

  void handle_image(evhttp_request* request, mock::Endpoint endpoint) {
    const std::int64_t start_ns = now_ns();
    mock::ImageRequest parsed;
    std::string error;
    bool ok;
    if (endpoint == mock::Endpoint::image_edits) {
      const char* content_type = evhttp_find_header(evhttp_request_get_input_headers(request), "Content-Type");
      ok = mock::parse_image_edit(content_type ? content_type : "", body_of(request), parsed, error);
    } else {
      ok = parser_.parse_image_generation(body_of(request), parsed, error);
    }
    if (!ok) {
      count(kBadRequest);
      send_error(request, 400, error);
      return;
    }
    count(endpoint == mock::Endpoint::image_edits ? kImageEdits : kImageGenerations);
    // Exceptions must not unwind through libevent: an encoder failure becomes a 500 reply.
    std::shared_ptr<const mock::MockImage> image;
    try {
      const auto [width, height] = mock::image_output_size(parsed);
      image = images_->get(width, height);
    } catch (const std::exception& e) {
      send_error(request, 500, std::string("mock server could not draw the image: ") + e.what(), "server_error");
      return;
    }
    const bool b64_images = parsed.stream || parsed.response_format == mock::ImageResponseFormat::b64_json;
    const mock::Fault fault = draw_fault(request, endpoint, parsed.stream, b64_images);
    log_shape(parsed.stream, fault);
    if (serve_replacing_fault(request, fault, endpoint, parsed.stream)) return;
    if (fault == mock::Fault::empty_response) parsed.n = parsed.partial_images = 0;  // "data": [], a bare [DONE]
    const bool with_usage = fault != mock::Fault::no_usage;
    counters_[kImagesSent].fetch_add(parsed.n, std::memory_order_relaxed);
    const std::int64_t created = std::time(nullptr);
    if (!parsed.stream) {
      std::string body = mock::images_body(parsed, *image, url_base(request), created, with_usage);
      if (fault == mock::Fault::bad_base64) mock::corrupt_base64(body);
      send_at(request, start_ns + image_latency_ns_, std::move(body), fault);
      return;
    }
    PendingReply& reply = open_stream(request);
    reply.fault = fault;
    reply.events_per_image_round = static_cast<std::uint32_t>(parsed.n);
    reply.image_events = mock::image_stream_events(endpoint, parsed, *image, created, with_usage);
    std::string& completed = reply.image_events.back();  // the completed events and data: [DONE]
    if (fault == mock::Fault::bad_base64) {
      for (std::string& round : reply.image_events) mock::corrupt_base64(round);
    } else if (fault == mock::Fault::bad_sse) {
      mock::strip_data_fields(completed);
    } else if (fault == mock::Fault::bad_json) {
      mock::break_first_event_json(completed);
    }
    // Preview rounds spread evenly over the latency; the completed events at its end.
    const auto rounds = static_cast<std::int64_t>(reply.image_events.size());
    for (std::int64_t k = 1; k <= rounds; ++k) {
      reply.image_event_due_ns.push_back(start_ns + image_latency_ns_ * k / rounds);
    }
    reply.first_due_ns = reply.image_event_due_ns.front();
    schedule(reply, reply.first_due_ns);
  }

  void handle_mock_image(evhttp_request* request, std::string_view path) {
    const auto [width, height] = mock::mock_image_path_size(path);
    if (width <= 0) {
      count(kNotFound);
      send_error(request, 404, "No mock image at " + std::string(path) + " (expected /v1/mock-images/WIDTHxHEIGHT.png)",
                 "not_found_error");
      return;
    }
    count(kMockImages);
    std::shared_ptr<const mock::MockImage> image;
    try {
      image = images_->get(width, height);
    } catch (const std::exception& e) {
      send_error(request, 500, std::string("mock server could not draw the image: ") + e.what(), "server_error");
      return;
    }
    send_now(request, 200, image->png, "image/png");
  }

  static std::string_view body_of(evhttp_request* request) {
    evbuffer* input = evhttp_request_get_input_buffer(request);
    std::size_t length = evbuffer_get_length(input);
    if (length == 0) return {};
    return {reinterpret_cast<const char*>(evbuffer_pullup(input, -1)), length};
  }

  void handle_text(evhttp_request* request, mock::Endpoint endpoint) {
    const std::int64_t start_ns = now_ns();
    mock::TextRequest parsed;
    std::string error;
    if (!parser_.parse_text(body_of(request), endpoint, parsed, error)) {
      count(kBadRequest);
      send_error(request, 400, error);
      return;
    }
    count(endpoint == mock::Endpoint::completions ? kCompletions : kChatCompletions);
    if (parsed.image_parts > 0) counters_[kChatImageParts].fetch_add(parsed.image_parts, std::memory_order_relaxed);
    const mock::Fault fault = draw_fault(request, endpoint, parsed.stream, false);
    log_shape(parsed.stream, fault);
    if (serve_replacing_fault(request, fault, endpoint, parsed.stream)) return;
    mock::ReplyHeader header = mock::make_reply_header(endpoint, parsed, output_tokens_, next_serial(), std::time(nullptr));
    mock::apply_reply_fault(header, fault, output_tokens_);
    if (parsed.stream) {
      start_stream(request, std::move(header), start_ns + ttft_ns_).fault = fault;
      return;
    }
    const std::int64_t tokens = header.completion_tokens;
    send_at(request, start_ns + ttft_ns_ + std::max<std::int64_t>(0, tokens - 1) * itl_ns_, mock::completion_body(header),
            fault);
  }

  void handle_embeddings(evhttp_request* request) {
    const std::int64_t start_ns = now_ns();
    mock::EmbeddingsRequest parsed;
    std::string error;
    if (!parser_.parse_embeddings(body_of(request), parsed, error)) {
      count(kBadRequest);
      send_error(request, 400, error);
      return;
    }
    count(kEmbeddings);
    const mock::Fault fault = draw_fault(request, mock::Endpoint::embeddings, false, false);
    log_shape(false, fault);
    if (serve_replacing_fault(request, fault, mock::Endpoint::embeddings, false)) return;
    if (fault == mock::Fault::empty_response) parsed.inputs = 0;
    send_at(request, start_ns + ttft_ns_, mock::embeddings_body(parsed, fault != mock::Fault::no_usage), fault);
  }

  std::uint64_t next_serial() { return (static_cast<std::uint64_t>(index_) << 48) | ++serial_; }

  // The request's fault (chosen by its X-Request-ID) when it fits a reply of this shape, else Fault::none.
  mock::Fault draw_fault(evhttp_request* request, mock::Endpoint endpoint, bool stream, bool b64_images) {
    if (faults_.empty()) return mock::Fault::none;
    const char* request_id = evhttp_find_header(evhttp_request_get_input_headers(request), "X-Request-ID");
    const std::string key =
        request_id ? std::string(request_id) : "#" + std::to_string(index_) + "-" + std::to_string(++unnamed_requests_);
    const mock::Fault fault = mock::choose_fault(faults_, fault_seed_, key);
    if (!mock::fault_applies(fault, endpoint, stream, b64_images)) return mock::Fault::none;
    fault_counts_[static_cast<int>(fault)].fetch_add(1, std::memory_order_relaxed);
    return fault;
  }

  // Serves the faults that replace the reply; false for the others, which change how the normal reply is sent.
  bool serve_replacing_fault(evhttp_request* request, mock::Fault fault, mock::Endpoint endpoint, bool stream) {
    switch (fault) {
      case mock::Fault::http_500:
        send_error(request, 500, "mock fault http-500: the server had an error while processing your request",
                   "server_error");
        return true;
      case mock::Fault::http_429:
        evhttp_add_header(evhttp_request_get_output_headers(request), "Retry-After", "1");
        send_error(request, 429, "mock fault http-429: rate limit reached, retry after 1 s", "rate_limit_exceeded");
        return true;
      case mock::Fault::http_400:
        send_error(request, 400, "mock fault http-400: the request was rejected");
        return true;
      case mock::Fault::reset_before_response:
        reset_connection(add_pending(request));
        return true;
      case mock::Fault::hang:
        add_pending(request).fault = fault;  // no due time: kept until the client goes away
        return true;
      case mock::Fault::wrong_content_type:
        send_now(request, 200, mock::wrong_content_type_page(), "text/html; charset=utf-8");
        return true;
      case mock::Fault::huge_response:
        start_huge(request, endpoint, stream);
        return true;
      default:
        return false;
    }
  }

  // Aborts the reply's connection with a TCP RST while libevent still owns the socket: SO_LINGER 0, then a
  // disconnect (connect to AF_UNSPEC). libevent finds the socket dead, closes the connection and hands the
  // request back through on_connection_closed.
  void reset_connection(PendingReply& reply) {
    reply.reset_sent = true;
    log_end(reply.timing_serial, now_ns(), mock::ReplyOutcome::reset);
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

  static bool output_pending(const PendingReply& reply) {
    evhttp_connection* connection = evhttp_request_get_connection(reply.request);
    bufferevent* socket_buffer = connection ? evhttp_connection_get_bufferevent(connection) : nullptr;
    return socket_buffer && evbuffer_get_length(bufferevent_get_output(socket_buffer)) != 0;
  }

  // reset-mid-stream: what was written reaches the client before the reset.
  void reset_when_flushed(PendingReply& reply, std::int64_t now) {
    if (output_pending(reply)) {
      schedule(reply, now + 1'000'000);
      return;
    }
    reset_connection(reply);
  }

  // Faults that take a reply over once it is due; false leaves the reply to the normal path.
  bool advance_fault(PendingReply& reply, std::int64_t now) {
    if (reply.fault == mock::Fault::trickle) {
      if (!reply.trickling) begin_trickle(reply);
      trickle_next(reply, now);
      return true;
    }
    if (reply.fault == mock::Fault::reset_mid_stream && !reply.streaming) {
      if (!reply.head_sent) {  // first call: the head and half the body
        reply.head_sent = true;
        start_reply(reply, "application/json");
        write_stream_chunk(reply, reply.body.substr(0, reply.body.size() / 2));
      }
      reset_when_flushed(reply, now);
      return true;
    }
    return false;
  }

  void begin_trickle(PendingReply& reply) {
    reply.trickling = true;
    if (!reply.streaming) {
      reply.trickle = std::move(reply.body);
      start_reply(reply, "application/json");
    } else if (!reply.image_events.empty()) {
      for (std::string& round : reply.image_events) reply.trickle += round;
      reply.image_events.clear();
    } else {
      for (std::int64_t i = 0; i < reply.header.completion_tokens; ++i) {
        mock::append_stream_token_event(reply.trickle, reply.header, reply.event_prefix, i);
      }
      mock::append_stream_end_events(reply.trickle, reply.header, reply.event_prefix);
    }
  }

  void trickle_next(PendingReply& reply, std::int64_t now) {
    if (reply.trickle_sent < reply.trickle.size()) {
      text_.assign(1, reply.trickle[reply.trickle_sent++]);
      write_stream_chunk(reply, text_);
      schedule(reply, now + kTrickleIntervalNs);
      return;
    }
    log_end(reply.timing_serial, now, mock::ReplyOutcome::complete);  // a fault: its last byte went out before
    evhttp_request* request = reply.request;
    release(reply);
    evhttp_send_reply_end(request);
  }

  void start_huge(evhttp_request* request, mock::Endpoint endpoint, bool stream) {
    PendingReply& reply = stream ? open_stream(request) : add_pending(request);
    reply.fault = mock::Fault::huge_response;
    if (!stream) start_reply(reply, "application/json");
    reply.huge = mock::huge_reply(endpoint, stream, huge_response_bytes_);
    write_huge(reply);
  }

  // huge-response: one 1 MiB piece at a time, the next once evhttp has written the previous one, so the reply never
  // sits in memory; a client that gives up closes the connection and the reply is abandoned.
  void write_huge(PendingReply& reply) {
    if (reply.huge_stage == 3) {
      log_end(reply.timing_serial, now_ns(), mock::ReplyOutcome::complete);  // called once the tail was written
      evhttp_request* request = reply.request;
      release(reply);
      evhttp_send_reply_end(request);
      return;
    }
    evbuffer* out = out_buffer_.get();
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
    evhttp_send_reply_chunk_with_cb(reply.request, out, &Worker::on_huge_written, &reply);
  }

  void send_now(evhttp_request* request, int status, std::string_view body,
                const char* content_type = "application/json") {
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", content_type);
    evbuffer_add(out_buffer_.get(), body.data(), body.size());
    log_queued(timed_, 1, true);
    evhttp_send_reply(request, status, nullptr, out_buffer_.get());
  }

  void send_error(evhttp_request* request, int status, const std::string& message,
                  std::string_view type = "invalid_request_error") {
    send_now(request, status, mock::error_body(message, type));
  }

  PendingReply& add_pending(evhttp_request* request) {
    PendingReply& reply = pending_.emplace_back();
    reply.self = std::prev(pending_.end());
    reply.worker = this;
    reply.request = request;
    reply.timing_serial = timed_;
    evhttp_connection_set_closecb(evhttp_request_get_connection(request), &Worker::on_connection_closed, &reply);
    return reply;
  }

  // Forget a reply that is about to be completed by the caller: libevent owns the request again.
  void release(PendingReply& reply) {
    if (evhttp_connection* connection = evhttp_request_get_connection(reply.request)) {
      evhttp_connection_set_closecb(connection, nullptr, nullptr);
    }
    if (reply.streaming) counters_[kStreamsOpen].fetch_sub(1, std::memory_order_relaxed);
    pending_.erase(reply.self);
  }

  // fault: bad-json cuts the body here; trickle and reset-mid-stream take the reply over when it is due.
  void send_at(evhttp_request* request, std::int64_t due_ns, std::string body, mock::Fault fault = mock::Fault::none) {
    if (fault == mock::Fault::bad_json) body.resize(body.size() / 2);
    const bool taken_over = fault == mock::Fault::trickle || fault == mock::Fault::reset_mid_stream;
    if (due_ns <= now_ns() && !taken_over) {
      send_now(request, 200, body);
      return;
    }
    PendingReply& reply = add_pending(request);
    reply.fault = fault;
    reply.first_due_ns = due_ns;
    reply.body = std::move(body);
    schedule(reply, due_ns);
  }

  PendingReply& start_stream(evhttp_request* request, mock::ReplyHeader header, std::int64_t first_due_ns) {
    PendingReply& reply = open_stream(request);
    reply.first_due_ns = first_due_ns;
    reply.header = std::move(header);
    reply.event_prefix = mock::stream_event_prefix(reply.header);
    schedule(reply, first_due_ns);
    return reply;
  }

  // Sends the SSE response head now; the caller fills in what the stream sends and schedules it.
  PendingReply& open_stream(evhttp_request* request) {
    PendingReply& reply = add_pending(request);
    reply.streaming = true;
    evhttp_add_header(evhttp_request_get_output_headers(reply.request), "Cache-Control", "no-cache");
    start_reply(reply, "text/event-stream");
    counters_[kStreamsOpen].fetch_add(1, std::memory_order_relaxed);
    return reply;
  }

  // Sends a 200 response head; the body follows in chunks (write_stream_chunk).
  static void start_reply(PendingReply& reply, const char* content_type) {
    evkeyvalq* headers = evhttp_request_get_output_headers(reply.request);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_send_reply_start(reply.request, 200, nullptr);
    const char* encoding = evhttp_find_header(headers, "Transfer-Encoding");
    reply.chunked = encoding && std::string_view(encoding) == "chunked";
  }

  // One libevent timer per worker, armed for the earliest entry of a heap of due times: a wake-up serves every
  // reply due by then, and a token costs a heap operation instead of a libevent timer add/delete.
  void schedule(PendingReply& reply, std::int64_t due_ns) {
    reply.scheduled = true;
    due_.push_back({due_ns, &reply});
    std::push_heap(due_.begin(), due_.end(), later);
    if (due_ns < armed_ns_) arm(due_ns);
  }

  void arm(std::int64_t due_ns) {
    armed_ns_ = due_ns;
    timeval delay = delay_until(due_ns);
    evtimer_add(due_timer_.get(), &delay);
  }

  void run_due() {
    armed_ns_ = std::numeric_limits<std::int64_t>::min();  // no re-arming while the batch runs
    const std::int64_t batch_ns = now_ns();
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
      advance(reply, now_ns());
    }
    armed_ns_ = std::numeric_limits<std::int64_t>::max();
    if (!due_.empty()) arm(due_.front().due_ns);
  }

  std::int64_t token_due_ns(const PendingReply& reply, std::int64_t token) const {
    return reply.first_due_ns + token * itl_ns_;
  }

  void advance(PendingReply& reply, std::int64_t now) {
    evhttp_request* request = reply.request;
    if (reply.fault != mock::Fault::none && advance_fault(reply, now)) return;
    if (!reply.streaming) {
      std::string body = std::move(reply.body);
      release(reply);
      send_now(request, 200, body);
      return;
    }
    if (!reply.image_events.empty()) {
      advance_image_stream(reply, now);
      return;
    }
    // Every token already due goes out now (due times come from the stream start, so lateness never
    // accumulates), then the stream is scheduled for its next one.
    const std::int64_t total = reply.header.completion_tokens;
    const std::int64_t half = total / 2;  // where reset-mid-stream, bad-json and bad-sse strike
    const mock::Fault fault = reply.fault;
    text_.clear();
    std::uint32_t events = 0;  // SSE events in text_, data: [DONE] not counted
    std::int64_t due;
    while (reply.next_token < total && (due = token_due_ns(reply, reply.next_token)) <= now) {
      if (fault == mock::Fault::reset_mid_stream && reply.next_token == half) break;
      if ((fault == mock::Fault::bad_json && reply.next_token == half) ||
          (fault == mock::Fault::bad_sse && reply.next_token >= half)) {
        fault_text_.clear();
        mock::append_stream_token_event(fault_text_, reply.header, reply.event_prefix, reply.next_token);
        fault == mock::Fault::bad_json ? mock::break_first_event_json(fault_text_) : mock::strip_data_fields(fault_text_);
        text_ += fault_text_;
      } else {
        mock::append_stream_token_event(text_, reply.header, reply.event_prefix, reply.next_token);
      }
      ++reply.next_token;
      ++events;
      count(kTokensSent);
      if (now - due > kLateNs) count(kTokensLate);
    }
    if (fault == mock::Fault::reset_mid_stream && reply.next_token == half) {
      if (!text_.empty()) write_stream_chunk(reply, text_, events);
      reset_when_flushed(reply, now);
      return;
    }
    const bool done = reply.next_token >= total;
    if (done) {
      fault_text_.clear();
      mock::append_stream_end_events(fault_text_, reply.header, reply.event_prefix, fault != mock::Fault::no_done);
      // Without tokens the fault strikes the finish event.
      if (total == 0 && fault == mock::Fault::bad_json) mock::break_first_event_json(fault_text_);
      if (total == 0 && fault == mock::Fault::bad_sse) mock::strip_data_fields(fault_text_);
      text_ += fault_text_;
      // The finish_reason event, the usage event, an empty reply's role-only event.
      events += 1 + (reply.header.include_usage && reply.header.usage) + reply.header.empty;
    }
    if (!text_.empty()) write_stream_chunk(reply, text_, events, done);
    if (!done) {
      schedule(reply, token_due_ns(reply, reply.next_token));
      return;
    }
    release(reply);
    evhttp_send_reply_end(request);
  }

  void advance_image_stream(PendingReply& reply, std::int64_t now) {
    text_.clear();
    std::uint32_t events = 0;
    const std::size_t rounds = reply.image_events.size();
    while (reply.next_image_event < rounds && reply.image_event_due_ns[reply.next_image_event] <= now) {
      if (reply.fault == mock::Fault::reset_mid_stream && reply.next_image_event + 1 == rounds) {
        if (!text_.empty()) write_stream_chunk(reply, text_, events);
        reset_when_flushed(reply, now);  // before the completed events
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
    evhttp_request* request = reply.request;
    release(reply);
    evhttp_send_reply_end(request);
  }

  // A token chunk goes straight to the socket when evhttp has nothing queued: this saves the EPOLLOUT round
  // trip (two epoll_ctl calls and a loop pass) and an evbuffer per token, which dominate at 100k tokens/s.
  // Whatever the socket does not take right away (or an error, which libevent then reports through its own
  // write) goes through evhttp's output buffer, after which that buffer is used until it drains.
  // --timing-log: `events` SSE events end in data; `last`: data ends the reply's body.
  void write_stream_chunk(PendingReply& reply, const std::string& data, std::uint32_t events = 0, bool last = false) {
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
    iovec parts[3] = {{size_line, size_length},
                      {const_cast<char*>(data.data()), data.size()},
                      {const_cast<char*>(terminate ? kChunkEndAndTerminator : kChunkEnd),
                       terminate ? sizeof kChunkEndAndTerminator - 1 : reply.chunked ? std::size_t{2} : std::size_t{0}}};
    // evhttp_send_reply_end, which the caller makes next, then finishes the reply without writing a terminator.
    if (terminate) reply.request->chunked = 0;
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 3;
    const std::size_t total = size_length + data.size() + parts[2].iov_len;
    // The send time is read just before the call: on loopback the kernel hands the bytes to the reader inside
    // sendmsg(), so a reader on another CPU can see them before the call returns.
    const std::int64_t send_ns = timing_ ? now_ns() : 0;
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

  // ---- --timing-log (docs/accuracy.md): no-ops without it ----

  void log_shape(bool stream, mock::Fault fault) {
    if (timing_ && timed_ != 0) timing_->described(timed_, stream, static_cast<int>(fault));
  }

  void log_sent(std::uint64_t serial, std::int64_t send_ns, std::uint32_t events, bool last, bool queued) {
    timing_->sent(serial, send_ns, events, queued);
    if (last) timing_->ended(serial, send_ns, mock::ReplyOutcome::complete);
  }

  void log_end(std::uint64_t serial, std::int64_t end_ns, mock::ReplyOutcome outcome) {
    if (timing_ && serial != 0) timing_->ended(serial, end_ns, outcome);
  }

  // Bytes handed to evhttp's output buffer: libevent writes them on a later pass of the loop, so the time they were
  // queued is what the log has (a lower bound of the send time, counted per line as "queued").
  void log_queued(std::uint64_t serial, std::uint32_t events, bool last) {
    if (timing_ && serial != 0 && (events > 0 || last)) log_sent(serial, now_ns(), events, last, true);
  }

  // The client went away before the reply finished: libevent has detached the request from the dying
  // connection, so it is ours to free. The reply itself goes when its heap entry comes up.
  void abandon(PendingReply& reply) {
    if (!reply.reset_sent) {
      count(kClientDisconnects);
      log_end(reply.timing_serial, now_ns(), mock::ReplyOutcome::client_disconnected);
    }
    evhttp_request* request = reply.request;
    const bool detached = evhttp_request_get_connection(request) == nullptr;
    if (reply.streaming) counters_[kStreamsOpen].fetch_sub(1, std::memory_order_relaxed);
    reply.abandoned = true;
    reply.request = nullptr;
    if (!reply.scheduled) pending_.erase(reply.self);
    if (detached) evhttp_request_free(request);
  }

  const int index_;
  const std::int64_t ttft_ns_;
  const std::int64_t itl_ns_;
  const std::int64_t image_latency_ns_;
  const std::int64_t output_tokens_;
  const std::string default_url_base_;           // image URLs when the request has no Host header
  std::shared_ptr<mock::ImageCache> images_;      // shared by every worker of the server
  const std::vector<mock::FaultRule> faults_;
  const std::uint64_t fault_seed_;
  const std::int64_t huge_response_bytes_;
  std::uint64_t unnamed_requests_ = 0;  // fault keys of requests without an X-Request-ID
  std::uint64_t serial_ = 0;
  // Declared before everything that lives on the base, so it is destroyed last.
  EventBasePtr base_;
  EvhttpPtr http_;
  std::mutex stop_mutex_;
  EventPtr stop_event_;
  struct Due {
    std::int64_t due_ns;
    PendingReply* reply;
  };
  static bool later(const Due& a, const Due& b) { return a.due_ns > b.due_ns; }
  std::vector<Due> due_;  // min-heap on due_ns: every pending reply has exactly one entry
  EventPtr due_timer_;
  std::int64_t armed_ns_ = std::numeric_limits<std::int64_t>::max();  // when due_timer_ fires
  EvbufferPtr out_buffer_;  // reused: evhttp moves its contents out on every send
  std::string text_;        // reused scratch for stream events
  std::string fault_text_;  // scratch for the events a fault breaks
  mock::RequestParser parser_;
  std::list<PendingReply> pending_;
  std::array<std::atomic<std::int64_t>, kCounterCount> counters_{};
  std::array<std::atomic<std::int64_t>, mock::kFaultKinds> fault_counts_{};
  std::unique_ptr<mock::TimingRecorder> timing_;  // --timing-log only
  std::uint64_t timed_ = 0;  // the logged request whose reply this callback writes (0 = none)
};

std::once_flag libevent_threads_once;

}  // namespace

struct MockServer::Impl {
  MockServerConfig config;
  std::unique_ptr<mock::TimingLog> timing_log;  // declared before the workers: they record into it
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  int port = 0;
  bool started = false;
  std::mutex mutex;
  std::condition_variable finished;
  int threads_running = 0;

  void validate() const {
    if (config.threads < 1 || config.threads > 256) throw Error("mock server: threads must be between 1 and 256");
    if (config.port < 0 || config.port > 65535) throw Error("mock server: port must be between 0 and 65535");
    if (!(config.ttft_ms >= 0) || !std::isfinite(config.ttft_ms)) throw Error("mock server: ttft_ms must be >= 0");
    if (!(config.itl_ms >= 0) || !std::isfinite(config.itl_ms)) throw Error("mock server: itl_ms must be >= 0");
    if (config.output_tokens < 0) throw Error("mock server: output_tokens must be >= 0");
    if (!(config.image_latency_ms >= 0) || !std::isfinite(config.image_latency_ms)) {
      throw Error("mock server: image_latency_ms must be >= 0");
    }
    if (config.huge_response_bytes < 1) throw Error("mock server: huge_response_bytes must be >= 1");
    mock::validate_fault_rules(config.faults);
  }
};

MockServer::MockServer(MockServerConfig config) : impl_(std::make_unique<Impl>()) { impl_->config = std::move(config); }

MockServer::~MockServer() {
  stop();
  for (std::thread& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
}

int MockServer::start() {
  Impl& s = *impl_;
  if (s.started) throw Error("mock server: already started");
  s.validate();
  // Stop requests come from other threads (event_active), which libevent allows only with locking enabled.
  std::call_once(libevent_threads_once, [] { evthread_use_pthreads(); });

  Address address = resolve(s.config.host, s.config.port);
  const std::string where = s.config.host + ":" + std::to_string(s.config.port);
  {
    // Bound once without SO_REUSEPORT: fails if anyone holds the port (SO_REUSEPORT alone would silently share
    // it with another server of the same user), and picks the port when 0 was asked for.
    UniqueFd probe = bind_socket(address, false, where);
    s.port = bound_port(probe.get());
  }
  address.set_port(s.port);
  std::vector<std::unique_ptr<Worker>> workers;
  auto images = std::make_shared<mock::ImageCache>();
  if (!s.config.timing_log_path.empty()) s.timing_log = std::make_unique<mock::TimingLog>(s.config.timing_log_path);
  for (int i = 0; i < s.config.threads; ++i) {
    auto worker = std::make_unique<Worker>(s.config, i, s.port, images, s.timing_log.get());
    worker->listen(bind_socket(address, true, s.config.host + ":" + std::to_string(s.port)));
    workers.push_back(std::move(worker));
  }
  s.workers = std::move(workers);
  s.started = true;
  {
    std::lock_guard lock(s.mutex);
    s.threads_running = static_cast<int>(s.workers.size());
  }
  for (auto& worker : s.workers) {
    s.threads.emplace_back([&s, w = worker.get()] {
      w->run();
      std::lock_guard lock(s.mutex);
      if (s.threads_running == 1 && s.timing_log) s.timing_log->close();  // complete before wait() returns
      if (--s.threads_running == 0) s.finished.notify_all();
    });
  }
  return s.port;
}

void MockServer::stop() {
  for (auto& worker : impl_->workers) worker->request_stop();
}

bool MockServer::wait(double timeout_s) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  auto stopped = [&] { return s.threads_running == 0; };
  if (timeout_s < 0) {
    s.finished.wait(lock, stopped);
    return true;
  }
  return s.finished.wait_for(lock, std::chrono::duration<double>(timeout_s), stopped);
}

int MockServer::port() const { return impl_->port; }

std::map<std::string, std::int64_t> MockServer::stats() const {
  std::map<std::string, std::int64_t> totals;
  for (int c = 0; c < kCounterCount; ++c) {
    std::int64_t sum = 0;
    for (const auto& worker : impl_->workers) sum += worker->counter(c);
    totals[kCounterNames[c]] = sum;
  }
  std::int64_t requests = 0;
  for (int c = kHealth; c <= kBadRequest; ++c) requests += totals[kCounterNames[c]];
  totals["requests"] = requests;
  // fault_http_500, fault_reset_mid_stream, …: replies that got each fault.
  for (int f = 1; f < mock::kFaultKinds; ++f) {
    std::int64_t sum = 0;
    for (const auto& worker : impl_->workers) sum += worker->fault_count(f);
    std::string name = "fault_" + std::string(mock::fault_name(static_cast<mock::Fault>(f)));
    std::replace(name.begin(), name.end(), '-', '_');
    totals[name] = sum;
  }
  return totals;
}

}  // namespace aiperf
