// Run-wide shared state and the per-thread scheduler deciding which request a loop sends next.
#pragma once
#include <atomic>
#include <barrier>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aiperf/engine.hpp"
#include "aiperf/record.hpp"

namespace aiperf {

struct RunShared;

// Runs once when every loop thread has finished its warm-up: profiling starts now.
struct BeginProfiling {
  RunShared* run;
  void operator()() noexcept;
};

// State every loop thread of a run reads or updates; counters are atomics read by progress() without locks.
struct RunShared {
  RunShared(const EngineConfig& config, const std::vector<std::string>& bodies, const std::vector<std::int32_t>& order,
            std::ptrdiff_t thread_count);

  std::int32_t body_index_for(std::int64_t request_index) const noexcept;

  const EngineConfig& config;
  const std::vector<std::string>& bodies;
  const std::vector<std::int32_t>& order;

  std::atomic<std::int64_t> next_warmup{0};     // warm-up requests claimed so far
  std::atomic<std::int64_t> next_profiling{0};  // profiling requests claimed so far
  std::atomic<bool> stop_requested{false};

  std::atomic<std::int64_t> sent{0};
  std::atomic<std::int64_t> completed{0};
  std::atomic<std::int64_t> errors{0};
  std::atomic<std::int32_t> phase{0};
  std::atomic<std::int64_t> profiling_start_ns{0};

  std::barrier<BeginProfiling> warmup_finished;
};

struct RequestTicket {
  std::int64_t request_index = 0;
  std::int32_t body_index = 0;
  Phase phase = Phase::profiling;
};

// Closed loop: a request is due whenever the loop has a free slot, until the phase's count or duration is used up.
// An open-loop mode fits behind the same calls: next() returns nothing until an intended send time and
// next_wake_ns() tells the loop when to look again.
class Scheduler {
 public:
  explicit Scheduler(RunShared& run) : run_(run) {}

  void begin_phase(Phase phase, std::int64_t now_ns);
  std::optional<RequestTicket> next(std::int64_t now_ns);
  // Stop sending for good in this phase (stop(), duration over).
  void stop_sending() noexcept { sending_ = false; }
  bool exhausted() const noexcept { return !sending_; }
  // In-flight requests are cancelled once now_ns reaches this (-1: never).
  std::int64_t cancel_deadline_ns() const noexcept { return cancel_deadline_ns_; }
  // Next time the loop must wake for the scheduler (duration end, cancel deadline), -1 for none.
  std::int64_t next_wake_ns() const noexcept;
  // Called when the wake time passed; returns true when in-flight requests must be cancelled.
  bool on_wake(std::int64_t now_ns) noexcept;

 private:
  RunShared& run_;
  Phase phase_ = Phase::warmup;
  bool sending_ = false;
  std::int64_t sending_deadline_ns_ = -1;
  std::int64_t cancel_deadline_ns_ = -1;
};

}  // namespace aiperf
