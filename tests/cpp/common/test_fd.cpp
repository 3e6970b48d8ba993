// FileDescriptor: closes what it owns exactly once, on destruction or move-assignment, never after release().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

#include "aiperf/common/fd.hpp"

namespace aiperf {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(FileDescriptor, ClosesOnDestruction) {
  int raw = -1;
  {
    FileDescriptor fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    ASSERT_GE(raw, 0);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(FileDescriptor, MoveHandsOverOwnershipAndAssignmentClosesTheOldOne) {
  FileDescriptor first(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  FileDescriptor second(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int first_raw = first.get();
  const int second_raw = second.get();
  FileDescriptor moved(std::move(first));
  EXPECT_EQ(moved.get(), first_raw);
  EXPECT_EQ(first.get(), -1);  // NOLINT(bugprone-use-after-move): a moved-from descriptor owns nothing
  moved = std::move(second);
  EXPECT_FALSE(is_open(first_raw));
  EXPECT_EQ(moved.get(), second_raw);
  EXPECT_TRUE(is_open(second_raw));
}

TEST(FileDescriptor, ReleaseGivesUpOwnership) {
  int raw = -1;
  {
    FileDescriptor fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.release();
    EXPECT_EQ(fd.get(), -1);
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

}  // namespace
}  // namespace aiperf
