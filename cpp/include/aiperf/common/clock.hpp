// The engine's clock: CLOCK_MONOTONIC nanoseconds, plus a wall-clock anchor to convert them to epoch time.
#pragma once
#include <cstdint>

namespace aiperf {

// CLOCK_MONOTONIC in nanoseconds; every engine timestamp uses this clock.
std::int64_t monotonic_ns() noexcept;

// CLOCK_REALTIME in nanoseconds since the epoch.
std::int64_t wall_clock_ns() noexcept;

// A CLOCK_REALTIME reading taken next to a CLOCK_MONOTONIC reading: wall = mono - mono_ns + wall_ns.
struct ClockAnchor {
  std::int64_t wall_ns = 0;
  std::int64_t mono_ns = 0;
};

ClockAnchor capture_clock_anchor() noexcept;

}  // namespace aiperf
