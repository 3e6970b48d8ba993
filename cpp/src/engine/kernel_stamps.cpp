// Kernel receive timestamps of response bytes: MSG_PEEK with SO_TIMESTAMPNS before libcurl reads, and sweeps.
#include "aiperf/engine/kernel_stamps.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/engine/request_slot.hpp"

namespace aiperf {
namespace {

// A loop that has not seen every ready socket for this long sweeps (peeks at sockets with new bytes): tokens come
// every few ms at the fastest, and two that wait unread together can only be timed by the newer one.
constexpr std::int64_t kSweepIntervalNs = 1'000'000;
constexpr int kSweepBatch = 256;
constexpr std::size_t kPeekBytes = 64 * 1024;  // covers several of libcurl's 16 KB reads

}  // namespace

KernelStamper::KernelStamper(bool streaming) : streaming_(streaming), sweeps_(streaming), peek_buffer_(kPeekBytes) {
  if (sweeps_) {
    sweep_fd_ = FileDescriptor(::epoll_create1(EPOLL_CLOEXEC));
    if (sweep_fd_.get() < 0) throw Error(std::string("cannot create epoll: ") + std::strerror(errno));
  }
}

void KernelStamper::on_socket(int socket, RequestSlot* slot, bool watched) {
  if (socket < 0) return;
  const auto index = static_cast<std::size_t>(socket);
  if (index >= socket_slots_.size()) socket_slots_.resize(index + 64, nullptr);
  socket_slots_[index] = slot;
  if (!sweeps_ || !watched) return;
  if (sweep_registered_.size() < socket_slots_.size()) sweep_registered_.resize(socket_slots_.size(), 0);
  if (!sweep_registered_[index]) {
    epoll_event edge{};
    edge.events = EPOLLIN | EPOLLET;
    edge.data.fd = socket;
    ::epoll_ctl(sweep_fd_.get(), EPOLL_CTL_ADD, socket, &edge);  // EEXIST: already there
    sweep_registered_[index] = 1;
  }
}

void KernelStamper::on_close(int socket) noexcept {
  if (socket < 0) return;
  const auto index = static_cast<std::size_t>(socket);
  if (index < socket_slots_.size()) socket_slots_[index] = nullptr;
  if (index < sweep_registered_.size()) sweep_registered_[index] = 0;  // close() takes it out of the sweep set
}

void KernelStamper::on_wake(int ready, int capacity) noexcept {
  if (ready > 0) refresh_realtime_offset();
  if (ready < capacity) last_full_look_ns_ = monotonic_ns();
}

void KernelStamper::refresh_realtime_offset() noexcept {
  // CLOCK_REALTIME - CLOCK_MONOTONIC only changes when the wall clock is stepped. A reading is bracketed by two
  // monotonic reads; the tightest bracket seen (not preempted in between) gives the offset, within tens of ns.
  const std::int64_t before_ns = monotonic_ns();
  const std::int64_t wall_ns = wall_clock_ns();
  const std::int64_t after_ns = monotonic_ns();
  const std::int64_t width_ns = after_ns - before_ns;
  const std::int64_t offset_ns = wall_ns - (before_ns + width_ns / 2);
  // A step of the wall clock (a new offset far from the old one) starts over.
  const bool stepped =
      realtime_offset_width_ns_ >= 0 && std::abs(offset_ns - realtime_minus_mono_ns_) > 1'000'000 + width_ns;
  if (realtime_offset_width_ns_ < 0 || width_ns <= realtime_offset_width_ns_ || stepped) {
    realtime_minus_mono_ns_ = offset_ns;
    realtime_offset_width_ns_ = width_ns;
  }
}

ssize_t KernelStamper::peek_queue(int fd, RequestSlot& slot, std::int64_t& arrived_ns) {
  arrived_ns = -1;
  iovec io{peek_buffer_.data(), peek_buffer_.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  // The timestamp is the newest of the queued segments the peek touched (the kernel merges queued segments and keeps
  // the newest time): never earlier than any byte it covers.
  const ssize_t peeked = ::recvmsg(fd, &message, MSG_PEEK | MSG_DONTWAIT);
  if (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) slot.peek_errno = errno;
  if (peeked <= 0) return peeked;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec arrived{};
    std::memcpy(&arrived, CMSG_DATA(header), sizeof arrived);
    arrived_ns =
        std::min(static_cast<std::int64_t>(arrived.tv_sec) * 1'000'000'000 + arrived.tv_nsec - realtime_minus_mono_ns_,
                 monotonic_ns());
  }
  if (arrived_ns >= 0 && streaming_ && slot.record.status < 400) {
    slot.arrival_marks.on_peek(std::string_view(peek_buffer_.data(), static_cast<std::size_t>(peeked)), arrived_ns,
                               slot.delivered_bytes, slot.sse.blank_lines());
  }
  return peeked;
}

RequestSlot* KernelStamper::stamp(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= socket_slots_.size()) return nullptr;
  RequestSlot* slot = socket_slots_[static_cast<std::size_t>(fd)];
  if (slot == nullptr) return nullptr;
  slot->kernel_stamp_ns = -1;
  if (!slot->in_flight) return slot;
  std::int64_t arrived_ns = -1;
  const ssize_t peeked = peek_queue(fd, *slot, arrived_ns);
  if (peeked <= 0 || arrived_ns < 0) return slot;
  slot->kernel_stamp_ns = arrived_ns;
  slot->kernel_stamp_bytes = peeked;
  return slot;
}

void KernelStamper::sweep_if_behind() {
  const std::int64_t now_ns = monotonic_ns();
  if (now_ns - last_full_look_ns_ < kSweepIntervalNs) return;
  epoll_event ready[kSweepBatch];
  int count = 0;
  do {
    count = ::epoll_wait(sweep_fd_.get(), ready, kSweepBatch, 0);
    for (int i = 0; i < count; ++i) {
      const int fd = ready[i].data.fd;
      RequestSlot* slot =
          static_cast<std::size_t>(fd) < socket_slots_.size() ? socket_slots_[static_cast<std::size_t>(fd)] : nullptr;
      // Not on an error or hang-up: the peek would take the socket's error, which libcurl must see.
      if (slot == nullptr || !slot->in_flight || (ready[i].events & (EPOLLERR | EPOLLHUP))) continue;
      std::int64_t arrived_ns = -1;
      peek_queue(fd, *slot, arrived_ns);
    }
  } while (count == kSweepBatch);
  last_full_look_ns_ = monotonic_ns();
}

}  // namespace aiperf
