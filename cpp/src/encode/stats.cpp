// compute_summary: one pass for sum/min/max, one for the variance, and a multi-rank selection for percentiles.
#include "aiperf/encode/stats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace aiperf {
namespace {

// Places the elements of the given ascending, distinct sorted-order ranks at their positions, recursing on the
// middle rank so that the work is O(n log ranks) instead of a full O(n log n) sort.
void select_ranks(double* all, std::size_t first, std::size_t last, const std::size_t* ranks_begin,
                  const std::size_t* ranks_end) {
  if (ranks_begin == ranks_end || first >= last) return;
  const std::size_t* middle = ranks_begin + (ranks_end - ranks_begin) / 2;
  std::nth_element(all + first, all + *middle, all + last);
  select_ranks(all, first, *middle, ranks_begin, middle);
  select_ranks(all, *middle + 1, last, middle + 1, ranks_end);
}

// numpy's _lerp: stays monotonic and exact at both ends.
double lerp(double below, double above, double fraction) {
  const double difference = above - below;
  return fraction >= 0.5 ? above - difference * (1 - fraction) : below + difference * fraction;
}

}  // namespace

Summary compute_summary(std::span<const double> values) {
  Summary summary;
  std::vector<double> kept;
  kept.reserve(values.size());
  for (double v : values) {
    if (!std::isnan(v)) kept.push_back(v);
  }
  const std::size_t n = kept.size();
  summary.count = n;
  if (n == 0) return summary;

  // Neumaier-compensated sum: close to numpy's pairwise sum even for a million values of mixed magnitude.
  double sum = 0;
  double compensation = 0;
  double min = kept[0];
  double max = kept[0];
  for (double v : kept) {
    const double t = sum + v;
    compensation += std::abs(sum) >= std::abs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
    min = std::min(min, v);
    max = std::max(max, v);
  }
  sum += compensation;
  summary.sum = sum;
  summary.min = min;
  summary.max = max;
  summary.avg = sum / static_cast<double>(n);

  double squares = 0;
  double squares_compensation = 0;
  for (double v : kept) {
    const double deviation = v - summary.avg;
    const double term = deviation * deviation;
    const double t = squares + term;
    squares_compensation += squares >= term ? (squares - t) + term : (term - t) + squares;
    squares = t;
  }
  summary.std = std::sqrt((squares + squares_compensation) / static_cast<double>(n));

  // numpy "linear": virtual index (n-1)*q, interpolate between its floor and the next rank.
  std::array<std::size_t, 2 * kSummaryPercentiles.size()> ranks{};
  std::array<std::size_t, kSummaryPercentiles.size()> below_ranks{};
  std::array<double, kSummaryPercentiles.size()> fractions{};
  std::size_t rank_count = 0;
  for (std::size_t p = 0; p < kSummaryPercentiles.size(); ++p) {
    const double virtual_index = static_cast<double>(n - 1) * (kSummaryPercentiles[p] / 100.0);
    const double below = std::floor(virtual_index);
    below_ranks[p] = static_cast<std::size_t>(below);
    fractions[p] = virtual_index - below;
    ranks[rank_count++] = below_ranks[p];
    ranks[rank_count++] = std::min(below_ranks[p] + 1, n - 1);
  }
  std::sort(ranks.begin(), ranks.begin() + rank_count);
  rank_count = static_cast<std::size_t>(std::unique(ranks.begin(), ranks.begin() + rank_count) - ranks.begin());
  select_ranks(kept.data(), 0, n, ranks.data(), ranks.data() + rank_count);

  for (std::size_t p = 0; p < kSummaryPercentiles.size(); ++p) {
    const double below = kept[below_ranks[p]];
    const double above = kept[std::min(below_ranks[p] + 1, n - 1)];
    summary.percentiles[p] = lerp(below, above, fractions[p]);
  }
  return summary;
}

}  // namespace aiperf
