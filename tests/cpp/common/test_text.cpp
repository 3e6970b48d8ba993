// Text helpers: the case-insensitive prefix test of header names and URL schemes.
#include <gtest/gtest.h>

#include "aiperf/common/text.hpp"

namespace aiperf {
namespace {

TEST(StartsWithIgnoringCase, ComparesAsciiLettersWithoutCase) {
  EXPECT_TRUE(starts_with_ignoring_case("Retry-After: 1", "retry-after:"));
  EXPECT_TRUE(starts_with_ignoring_case("HTTPS://host", "https://"));
  EXPECT_FALSE(starts_with_ignoring_case("Retry", "retry-after:"));
  EXPECT_FALSE(starts_with_ignoring_case("content-typo:", "content-type:"));
  EXPECT_TRUE(starts_with_ignoring_case("anything", ""));
}

}  // namespace
}  // namespace aiperf
