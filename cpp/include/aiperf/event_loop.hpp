// EventLoop: one thread's libcurl multi handles driven by its own epoll; owns its connections and records.
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/arrival_marks.hpp"
#include "aiperf/extract.hpp"
#include "aiperf/record.hpp"
#include "aiperf/scheduler.hpp"
#include "aiperf/sse.hpp"

namespace aiperf {

// A file descriptor closed on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();
  int get() const noexcept { return fd_; }
  int release() noexcept;

 private:
  int fd_ = -1;
};

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* url) const noexcept { curl_url_cleanup(url); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlUrlPtr = std::unique_ptr<CURLU, CurlUrlDeleter>;

class EventLoop;

// One libcurl multi handle and the slots it runs. A loop splits its slots over several: libcurl 7.88 looks for a
// reusable connection by walking every connection to the host, so one multi with 256 connections costs O(256) per
// request (cache misses included); shards of at most kSlotsPerCurlShard keep that walk short.
struct CurlShard {
  EventLoop* loop = nullptr;
  CurlMultiPtr multi;
  std::size_t capacity = 0;  // slots this multi handle takes (its connection cache size)
  std::size_t slots = 0;
  // libcurl's timer, kept as a deadline and turned into epoll_wait's timeout: re-arming a timerfd costs a syscall
  // (and, in VMs, an expensive hrtimer reprogramming) several times per request. -1: no timer.
  std::int64_t deadline_ns = -1;
};

// One concurrency slot: an easy handle reused request after request, and the in-flight request's state.
struct RequestSlot {
  EventLoop* loop = nullptr;
  CurlShard* shard = nullptr;  // the multi handle this slot's transfers (and kept-alive connections) belong to
  CurlEasyPtr easy;
  CurlSlistPtr headers;
  char* request_id_hex = nullptr;  // the 12 hex digits of X-Request-ID inside `headers`, rewritten per request
  char curl_error[CURL_ERROR_SIZE] = {};
  bool in_flight = false;
  RequestTicket ticket;      // what is in flight: its session and turn
  std::string request_body;  // a body with history holes, filled for this request
  RequestRecord record;
  SseParser sse;
  std::string body;        // non-streaming or error body; streaming: the first bytes, to explain a bad stream
  std::int32_t sse_events = 0;
  std::string_view write_chunk;  // during on_write: the bytes being delivered (events inside it are parsed in place)
  std::int64_t last_byte_ns = -1;
  // kernel_timestamps: during a socket wake-up, when the queued bytes arrived (CLOCK_MONOTONIC, -1: unknown) and
  // how many of them the peek covered; on_write times bytes within that budget by it.
  std::int64_t kernel_stamp_ns = -1;
  std::int64_t kernel_stamp_bytes = 0;
  // kernel_timestamps, streaming: when each event's end arrived, from every peek of the socket (sweeps included).
  ArrivalMarks arrival_marks;
  std::int64_t delivered_bytes = 0;  // header and body bytes libcurl has handed over for this response
  int peek_errno = 0;  // an error the peek received in libcurl's place (its own read then sees only the close)
  bool invalid_response = false;
  bool write_failed = false;  // a callback could not store data (out of memory)
  bool too_large = false;     // the body passed max_response_bytes: the transfer was cut off
  bool done_seen = false;     // the stream's data: [DONE] arrived
  std::string retry_after;    // an error response's Retry-After header
};

class EventLoop {
 public:
  // Throws aiperf::Error when the loop's resources cannot be created. The loop starts with slot_count slots and,
  // in an open loop, adds more up to max_slots when requests are due and all slots are busy.
  EventLoop(RunShared& run, std::int32_t worker_id, std::size_t slot_count, std::size_t max_slots);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Warm-up, the barrier with the other loops, then profiling. Never throws; see fatal_error().
  void run() noexcept;
  // Thread-safe: makes the loop look at the run's stop flag now.
  void wake() noexcept;

  // The records finished since the previous call (thread-safe; the loop goes on appending to a fresh store).
  RecordStore take_records();
  const std::string& fatal_error() const noexcept { return fatal_error_; }

 private:
  static int on_socket(CURL* easy, curl_socket_t socket, int what, void* shard, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* shard);
  static int on_close_socket(void* loop, curl_socket_t socket);
  static size_t on_write(char* data, size_t size, size_t count, void* slot);
  static size_t on_header(char* data, size_t size, size_t count, void* slot);
  static int on_debug(CURL* easy, curl_infotype type, char* data, size_t size, void* slot);

  void configure_slot(RequestSlot& slot);
  CurlShard& add_shard(std::size_t capacity);
  RequestSlot* add_slot();
  RequestSlot* acquire_slot();
  void run_phase(Phase phase);
  void start_and_collect();  // start_requests(), then finish what completed inside those starts
  void start_requests();
  void start_request(RequestSlot& slot, const RequestTicket& ticket);
  void handle_socket_event(int fd, std::uint32_t events);
  bool drain_completions();  // true when a transfer finished
  void finish_request(RequestSlot& slot, CURLcode result);
  void complete_request(RequestSlot& slot);
  void classify_result(RequestSlot& slot, CURLcode result);
  void cancel_in_flight(std::string_view reason);
  void cancel_request(RequestSlot& slot, std::string_view reason, std::int64_t now_ns);
  void cancel_due_requests(std::int64_t now_ns);
  void release_slot(RequestSlot& slot);
  void on_sse_event(RequestSlot& slot, std::string_view data, std::int64_t now_ns);
  void extract_document(RequestSlot& slot, std::string_view document, std::size_t readable_bytes_after = 0);
  void arm_scheduler_timer();
  int epoll_timeout_ms() const;
  void run_curl_timeout_if_due();

  RunShared& run_;
  const std::int32_t worker_id_;
  Scheduler scheduler_;
  FileDescriptor epoll_fd_;
  // Epoll events registered per socket fd (0: not in the epoll set). When libcurl stops watching a socket between
  // two requests on a kept-alive connection, the socket stays registered (kSocketIdle set) instead of being
  // removed and re-added: two epoll_ctl calls saved per request. Closed sockets are forgotten in on_close_socket.
  std::vector<std::uint32_t> socket_events_;
  std::vector<CurlShard*> socket_shards_;  // per socket fd: the shard whose multi handle watches it
  std::vector<RequestSlot*> socket_slots_;  // per socket fd: the slot whose transfer uses it (kernel_timestamps)
  std::vector<char> peek_buffer_;           // kernel_timestamps: MSG_PEEK target
  std::int64_t realtime_minus_mono_ns_ = 0;  // kernel_timestamps: converts SO_TIMESTAMPNS to CLOCK_MONOTONIC
  std::int64_t realtime_offset_width_ns_ = -1;  // the bracket it was read in (-1: not yet)
  void refresh_realtime_offset() noexcept;
  const bool kernel_timestamps_;
  // Times the bytes queued on `fd` for `slot` by their kernel receive timestamp (kernel_timestamps).
  void stamp_from_kernel(int fd, RequestSlot& slot);
  // Peeks at `fd`'s queue (into peek_buffer_): the bytes queued and the kernel receive time of the newest (-1: none),
  // with the events they complete noted in the slot's arrival marks (streaming). Returns the bytes peeked.
  ssize_t peek_queue(int fd, RequestSlot& slot, std::int64_t& arrived_ns);
  // kernel_timestamps, streaming: while the loop is behind (no look at every ready socket for kSweepIntervalNs), it
  // peeks at every socket that received bytes since (an edge-triggered epoll set of the same sockets), so that an
  // event is timed by its own segment before the next one arrives and the kernel merges the two.
  void sweep_if_behind();
  FileDescriptor sweep_fd_;
  std::vector<std::uint8_t> sweep_registered_;  // per socket fd: in sweep_fd_
  std::int64_t last_full_look_ns_ = 0;  // when the loop last saw every ready socket (epoll_wait or a sweep)
  const bool sweeps_;
  FileDescriptor scheduler_timer_fd_;
  FileDescriptor wake_fd_;
  CurlUrlPtr url_;  // parsed once; libcurl copies it per transfer instead of parsing the URL string again
  std::vector<std::unique_ptr<CurlShard>> shards_;
  std::vector<std::unique_ptr<RequestSlot>> slots_;  // after shards_: easy handles go before the multi handles
  std::vector<RequestSlot*> free_slots_;
  std::size_t max_slots_ = 0;
  // --request-cancellation-rate: (deadline, request index, slot) of requests to cancel, earliest on top.
  struct PlannedCancel {
    std::int64_t deadline_ns;
    std::int64_t request_index;
    RequestSlot* slot;
    bool operator>(const PlannedCancel& other) const noexcept { return deadline_ns > other.deadline_ns; }
  };
  std::priority_queue<PlannedCancel, std::vector<PlannedCancel>, std::greater<>> planned_cancels_;
  std::int64_t armed_wake_ns_ = -2;  // what the scheduler timer is set to (-1: off, -2: unknown)
  bool starts_deferred_ = false;      // start_requests() stopped at its per-pass budget with requests to start
  std::size_t in_flight_ = 0;
  ResponseExtractor extractor_;
  std::mutex store_mutex_;  // guards store_: the loop appends, Engine::drain() takes it from another thread
  RecordStore store_;
  std::string fatal_error_;
};

}  // namespace aiperf
