// CLOCK_MONOTONIC / CLOCK_REALTIME readings in nanoseconds.
#include "aiperf/common/clock.hpp"

#include <time.h>

namespace aiperf {
namespace {
std::int64_t read_clock_ns(clockid_t clock) noexcept {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

std::int64_t monotonic_ns() noexcept { return read_clock_ns(CLOCK_MONOTONIC); }

std::int64_t wall_clock_ns() noexcept { return read_clock_ns(CLOCK_REALTIME); }

ClockAnchor capture_clock_anchor() noexcept {
  // Bracket the wall-clock read with two monotonic reads and take their midpoint to halve the skew.
  const std::int64_t before_ns = monotonic_ns();
  const std::int64_t wall_ns = wall_clock_ns();
  const std::int64_t after_ns = monotonic_ns();
  return ClockAnchor{wall_ns, before_ns + (after_ns - before_ns) / 2};
}

}  // namespace aiperf
