// KernelStamper (kernel_timestamps): times response bytes by when the kernel received them, not by when the loop got
// to them. Before libcurl reads a socket, a MSG_PEEK of its queue returns the SO_TIMESTAMPNS of the newest queued
// segment; for streams each peek also notes which SSE events its bytes complete (the slot's ArrivalMarks), and a
// loop that falls behind sweeps the sockets with new bytes so each event is timed by its own segment.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "aiperf/common/fd.hpp"

namespace aiperf {

struct RequestSlot;

class KernelStamper {
 public:
  // Throws aiperf::Error when its epoll set cannot be created. Sweeps only for streams.
  explicit KernelStamper(bool streaming);

  // CURLMOPT_SOCKETFUNCTION: `socket` now carries `slot`'s transfer (null: none); `watched` false when libcurl
  // stopped watching it.
  void on_socket(int socket, RequestSlot* slot, bool watched);
  // CURLOPT_CLOSESOCKETFUNCTION: the number may be reused by the next socket.
  void on_close(int socket) noexcept;
  // After the loop's epoll_wait returned `ready` events, at most `capacity`: fewer means it saw every ready socket.
  void on_wake(int ready, int capacity) noexcept;
  // Before libcurl reads `fd` (readable, no error: a peek would take the error libcurl must see): the slot whose
  // kernel stamp was set for this wake-up, or null.
  RequestSlot* stamp(int fd);
  // Streams: while the loop has not seen every ready socket for a while, peeks at every socket with new bytes.
  void sweep_if_behind();
  bool sweeps() const noexcept { return sweeps_; }

 private:
  // CLOCK_REALTIME - CLOCK_MONOTONIC from the tightest bracket of readings so far (SO_TIMESTAMPNS is realtime).
  void refresh_realtime_offset() noexcept;
  // Peeks at `fd`'s queue: the bytes queued and the kernel receive time of the newest (-1: none), with the events
  // they complete noted in the slot's arrival marks (streaming). Returns the bytes peeked.
  ssize_t peek_queue(int fd, RequestSlot& slot, std::int64_t& arrived_ns);

  const bool streaming_;
  const bool sweeps_;
  std::vector<RequestSlot*> socket_slots_;  // per socket fd: the slot whose transfer uses it
  std::vector<char> peek_buffer_;           // MSG_PEEK target
  std::int64_t realtime_minus_mono_ns_ = 0;
  std::int64_t realtime_offset_width_ns_ = -1;  // the bracket it was read in (-1: not yet)
  FileDescriptor sweep_fd_;                     // edge-triggered epoll set of the same sockets
  std::vector<std::uint8_t> sweep_registered_;  // per socket fd: in sweep_fd_
  std::int64_t last_full_look_ns_ = 0;          // when the loop last saw every ready socket (epoll_wait or a sweep)
};

}  // namespace aiperf
