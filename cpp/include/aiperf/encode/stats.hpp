// Summary statistics of one metric's values (the avg/min/max/percentiles/std row of every export).
#pragma once
#include <array>
#include <cstddef>
#include <span>

namespace aiperf {

// The percentiles every summary reports, in output order.
inline constexpr std::array<double, 9> kSummaryPercentiles = {1, 5, 10, 25, 50, 75, 90, 95, 99};

struct Summary {
  std::size_t count = 0;  // values that were not NaN
  double sum = 0;
  double avg = 0;
  double min = 0;
  double max = 0;
  double std = 0;                                                // population standard deviation (numpy.std, ddof=0)
  std::array<double, kSummaryPercentiles.size()> percentiles{};  // same order as kSummaryPercentiles
};

// NaN values are ignored; with no values left only count (0) and sum (0) are meaningful. Percentiles interpolate
// linearly between closest ranks, as numpy.percentile does by default. O(n) memory for one copy, no full sort.
Summary compute_summary(std::span<const double> values);

}  // namespace aiperf
