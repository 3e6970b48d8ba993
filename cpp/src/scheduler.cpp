// Closed-loop scheduling: shared request counters, warm-up/profiling phases, duration and grace deadlines.
#include "aiperf/scheduler.hpp"

#include <cmath>

#include "aiperf/clock.hpp"

namespace aiperf {

void BeginProfiling::operator()() noexcept {
  run->profiling_start_ns.store(monotonic_ns());
  run->phase.store(1);
}

RunShared::RunShared(const EngineConfig& config_in, const std::vector<std::string>& bodies_in,
                     const std::vector<std::int32_t>& order_in, std::ptrdiff_t thread_count)
    : config(config_in), bodies(bodies_in), order(order_in), warmup_finished(thread_count, BeginProfiling{this}) {}

std::int32_t RunShared::body_index_for(std::int64_t request_index) const noexcept {
  const auto i = static_cast<std::uint64_t>(request_index);
  if (!order.empty()) return order[i % order.size()];
  return static_cast<std::int32_t>(i % bodies.size());
}

namespace {
std::int64_t seconds_to_ns(double seconds) { return static_cast<std::int64_t>(std::llround(seconds * 1e9)); }
}  // namespace

void Scheduler::begin_phase(Phase phase, std::int64_t now_ns) {
  phase_ = phase;
  sending_ = !run_.stop_requested.load(std::memory_order_relaxed);
  sending_deadline_ns_ = -1;
  cancel_deadline_ns_ = -1;
  const EngineConfig& config = run_.config;
  if (phase == Phase::profiling && config.benchmark_duration_s > 0) {
    const std::int64_t start_ns = run_.profiling_start_ns.load();
    sending_deadline_ns_ = (start_ns > 0 ? start_ns : now_ns) + seconds_to_ns(config.benchmark_duration_s);
    if (std::isfinite(config.grace_period_s)) {
      cancel_deadline_ns_ = sending_deadline_ns_ + seconds_to_ns(config.grace_period_s);
    }
  }
}

std::optional<RequestTicket> Scheduler::next(std::int64_t now_ns) {
  if (!sending_) return std::nullopt;
  if (run_.stop_requested.load(std::memory_order_relaxed) ||
      (sending_deadline_ns_ >= 0 && now_ns >= sending_deadline_ns_)) {
    sending_ = false;
    return std::nullopt;
  }
  const EngineConfig& config = run_.config;
  std::int64_t request_index = 0;
  if (phase_ == Phase::warmup) {
    const std::int64_t k = run_.next_warmup.fetch_add(1, std::memory_order_relaxed);
    if (k >= config.warmup_request_count) {
      sending_ = false;
      return std::nullopt;
    }
    request_index = k;
  } else {
    const std::int64_t k = run_.next_profiling.fetch_add(1, std::memory_order_relaxed);
    if (config.request_count > 0 && k >= config.request_count) {
      sending_ = false;
      return std::nullopt;
    }
    request_index = config.warmup_request_count + k;
  }
  return RequestTicket{request_index, run_.body_index_for(request_index), phase_};
}

std::int64_t Scheduler::next_wake_ns() const noexcept {
  if (sending_ && sending_deadline_ns_ >= 0) return sending_deadline_ns_;
  return cancel_deadline_ns_;
}

bool Scheduler::on_wake(std::int64_t now_ns) noexcept {
  if (sending_deadline_ns_ >= 0 && now_ns >= sending_deadline_ns_) sending_ = false;
  if (cancel_deadline_ns_ < 0 || now_ns < cancel_deadline_ns_) return false;
  cancel_deadline_ns_ = -1;  // cancel once; the timer is not re-armed for a passed deadline
  return true;
}

}  // namespace aiperf
