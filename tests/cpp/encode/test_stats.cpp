// Tests of compute_summary against values worked out by hand with numpy's definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "aiperf/encode/stats.hpp"

using aiperf::compute_summary;

TEST(Stats, EmptyAndAllNanGiveCountZero) {
  EXPECT_EQ(compute_summary({}).count, 0u);
  const std::vector<double> nans = {std::nan(""), std::nan("")};
  const auto summary = compute_summary(nans);
  EXPECT_EQ(summary.count, 0u);
  EXPECT_EQ(summary.sum, 0.0);
}

TEST(Stats, SingleValueIsEveryStatistic) {
  const std::vector<double> one = {7.5};
  const auto s = compute_summary(one);
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.min, 7.5);
  EXPECT_EQ(s.max, 7.5);
  EXPECT_EQ(s.avg, 7.5);
  EXPECT_EQ(s.std, 0.0);
  for (double p : s.percentiles) EXPECT_EQ(p, 7.5);
}

TEST(Stats, PercentilesInterpolateLinearlyBetweenClosestRanks) {
  // 1..10 shuffled: numpy.percentile(range(1, 11), q) = 1 + 9*q/100.
  const std::vector<double> values = {7, 3, 10, 1, 5, 9, 2, 8, 6, 4};
  const auto s = compute_summary(values);
  EXPECT_EQ(s.count, 10u);
  EXPECT_DOUBLE_EQ(s.sum, 55);
  EXPECT_DOUBLE_EQ(s.avg, 5.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_NEAR(s.std, std::sqrt(8.25), 1e-12);  // population variance of 1..10
  for (std::size_t i = 0; i < aiperf::kSummaryPercentiles.size(); ++i) {
    EXPECT_NEAR(s.percentiles[i], 1 + 9 * aiperf::kSummaryPercentiles[i] / 100, 1e-12)
        << aiperf::kSummaryPercentiles[i];
  }
}

TEST(Stats, NanValuesAreIgnored) {
  const std::vector<double> values = {std::nan(""), 2, std::nan(""), 4};
  const auto s = compute_summary(values);
  EXPECT_EQ(s.count, 2u);
  EXPECT_DOUBLE_EQ(s.avg, 3);
  EXPECT_DOUBLE_EQ(s.percentiles[4], 3);  // p50
  EXPECT_DOUBLE_EQ(s.std, 1);
}

TEST(Stats, PercentilesOfLargeInputMatchAFullSort) {
  std::mt19937_64 generator(42);
  std::lognormal_distribution<double> latency_ms(3.0, 0.7);
  std::vector<double> values(200'003);
  for (double& v : values) v = latency_ms(generator);
  const auto s = compute_summary(values);

  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const double n_minus_1 = static_cast<double>(sorted.size() - 1);
  for (std::size_t i = 0; i < aiperf::kSummaryPercentiles.size(); ++i) {
    const double index = n_minus_1 * aiperf::kSummaryPercentiles[i] / 100;
    const auto below = static_cast<std::size_t>(std::floor(index));
    const double expected = sorted[below] + (sorted[below + 1] - sorted[below]) * (index - below);
    EXPECT_NEAR(s.percentiles[i], expected, 1e-9 * expected);
  }
  EXPECT_EQ(s.min, sorted.front());
  EXPECT_EQ(s.max, sorted.back());
  const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  EXPECT_NEAR(s.avg, mean, 1e-9 * mean);
}
