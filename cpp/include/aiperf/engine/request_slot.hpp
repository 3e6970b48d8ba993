// CurlShard (one libcurl multi handle) and RequestSlot (one concurrency slot and its in-flight request): the state
// an EventLoop's callbacks and its KernelStamper work on.
#pragma once
#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aiperf/common/curl_handles.hpp"
#include "aiperf/engine/arrival_marks.hpp"
#include "aiperf/engine/record.hpp"
#include "aiperf/engine/response.hpp"
#include "aiperf/engine/scheduler.hpp"
#include "aiperf/engine/sse.hpp"

namespace aiperf {

class EventLoop;

// One libcurl multi handle and the slots it runs. A loop splits its slots over several: libcurl 7.88 looks for a
// reusable connection by walking every connection to the host, so one multi with 256 connections costs O(256) per
// request (cache misses included); shards of at most kSlotsPerCurlShard keep that walk short.
struct CurlShard {
  EventLoop* loop = nullptr;
  CurlMultiPtr multi;
  std::size_t capacity = 0;  // slots this multi handle takes (its connection cache size)
  std::size_t slots = 0;
  // libcurl's timer, kept as a deadline and turned into epoll_wait's timeout: re-arming a timerfd costs a syscall
  // (and, in VMs, an expensive hrtimer reprogramming) several times per request. -1: no timer.
  std::int64_t deadline_ns = -1;
};

// One concurrency slot: an easy handle reused request after request, and the in-flight request's state.
struct RequestSlot {
  EventLoop* loop = nullptr;
  CurlShard* shard = nullptr;  // the multi handle this slot's transfers (and kept-alive connections) belong to
  CurlEasyPtr easy;
  CurlSlistPtr headers;
  char* request_id_hex = nullptr;  // the 12 hex digits of X-Request-ID inside `headers`, rewritten per request
  char curl_error[CURL_ERROR_SIZE] = {};
  bool in_flight = false;
  RequestTicket ticket;      // what is in flight: its session and turn
  std::string request_body;  // a body with history holes, filled for this request
  RequestRecord record;
  SseParser sse;
  std::string body;  // non-streaming or error body; streaming: the first bytes, to explain a bad stream
  std::int32_t sse_events = 0;
  std::string_view write_chunk;  // during on_write: the bytes being delivered (events inside it are parsed in place)
  std::int64_t last_byte_ns = -1;
  // kernel_timestamps: during a socket wake-up, when the queued bytes arrived (CLOCK_MONOTONIC, -1: unknown) and
  // how many of them the peek covered; on_write times bytes within that budget by it.
  std::int64_t kernel_stamp_ns = -1;
  std::int64_t kernel_stamp_bytes = 0;
  // kernel_timestamps, streaming: when each event's end arrived, from every peek of the socket (sweeps included).
  ArrivalMarks arrival_marks;
  std::int64_t delivered_bytes = 0;  // header and body bytes libcurl has handed over for this response
  int peek_errno = 0;          // an error the peek received in libcurl's place (its own read then sees only the close)
  ExtractionState extraction;  // a document of the response that was not JSON
  bool write_failed = false;   // a callback could not store data (out of memory)
  bool too_large = false;      // the body passed max_response_bytes: the transfer was cut off
  bool done_seen = false;      // the stream's data: [DONE] arrived
  std::string retry_after;     // an error response's Retry-After header
};

}  // namespace aiperf
