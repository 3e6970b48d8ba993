// EventLoop: one thread's libcurl multi handles driven by its own epoll; owns its connections and records.
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/common/curl_handles.hpp"
#include "aiperf/common/fd.hpp"
#include "aiperf/engine/extract.hpp"
#include "aiperf/engine/kernel_stamps.hpp"
#include "aiperf/engine/record.hpp"
#include "aiperf/engine/request_slot.hpp"
#include "aiperf/engine/scheduler.hpp"

namespace aiperf {

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
  void cancel_in_flight(std::string_view reason);
  void cancel_request(RequestSlot& slot, std::string_view reason, std::int64_t now_ns);
  void cancel_due_requests(std::int64_t now_ns);
  void release_slot(RequestSlot& slot);
  void on_sse_event(RequestSlot& slot, std::string_view data, std::int64_t now_ns);
  void arm_scheduler_timer();
  int epoll_timeout_ms() const;
  void run_curl_timeout_if_due();
  void sweep_if_behind() {
    if (stamper_ && stamper_->sweeps()) stamper_->sweep_if_behind();
  }

  RunShared& run_;
  const std::int32_t worker_id_;
  Scheduler scheduler_;
  FileDescriptor epoll_fd_;
  // Epoll events registered per socket fd (0: not in the epoll set). When libcurl stops watching a socket between
  // two requests on a kept-alive connection, the socket stays registered (kSocketIdle set) instead of being
  // removed and re-added: two epoll_ctl calls saved per request. Closed sockets are forgotten in on_close_socket.
  std::vector<std::uint32_t> socket_events_;
  std::vector<CurlShard*> socket_shards_;  // per socket fd: the shard whose multi handle watches it
  std::optional<KernelStamper> stamper_;   // kernel_timestamps
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
  bool starts_deferred_ = false;     // start_requests() stopped at its per-pass budget with requests to start
  std::size_t in_flight_ = 0;
  ResponseExtractor extractor_;
  std::mutex store_mutex_;  // guards store_: the loop appends, Engine::drain() takes it from another thread
  RecordStore store_;
  std::string fatal_error_;
};

}  // namespace aiperf
