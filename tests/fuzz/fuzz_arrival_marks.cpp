// libFuzzer target: per-event arrival times from peeked socket bytes (ArrivalMarks) are never earlier than the
// segment that completed the event, whatever the body holds. The fuzzer's bytes are the SSE body; the first two
// choose how it is framed (identity or chunked at fuzzer-chosen cuts), cut into segments, peeked and read.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/engine/arrival_marks.hpp"
#include "aiperf/engine/sse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  unsigned seed = data[0] | (data[1] << 8);
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 16;
  };
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  const bool chunked = (seed & 1) != 0;

  // The raw stream and, for every body byte, where it lies in it.
  std::string raw = chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            : "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
  std::vector<std::size_t> raw_of(body.size());
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t take = chunked ? std::min<std::size_t>(body.size() - at, 1 + next() % 64) : body.size();
    if (chunked) {
      char size_line[16];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", take);
      raw += size_line;
    }
    for (std::size_t i = 0; i < take; ++i) {
      raw_of[at + i] = raw.size();
      raw += body[at + i];
    }
    if (chunked) raw += "\r\n";
    at += take;
  }
  if (chunked) raw += "0\r\n\r\n";
  std::vector<std::int64_t> segment_of(raw.size());
  std::vector<std::size_t> segment_end;
  for (std::size_t at = 0; at < raw.size();) {
    const std::size_t take = std::min<std::size_t>(raw.size() - at, 1 + next() % 48);
    std::fill(segment_of.begin() + static_cast<std::ptrdiff_t>(at),
              segment_of.begin() + static_cast<std::ptrdiff_t>(at + take),
              static_cast<std::int64_t>(segment_end.size()));
    at += take;
    segment_end.push_back(at);
  }

  aiperf::ArrivalMarks marks;
  marks.reset();
  aiperf::SseParser parser;
  std::size_t queue_begin = 0;
  std::size_t body_read = 0;  // body bytes delivered to the parser
  std::int64_t delivered = 0;
  auto read_queue = [&](std::size_t queue_end) {
    const std::size_t end = std::min(queue_end, queue_begin + 16 * 1024);
    // Deliver (in order) the body bytes that lie in [queue_begin, end). Like libcurl, a read of framing bytes alone
    // delivers nothing; the header block counts as delivered with the first read.
    while (body_read < body.size() && raw_of[body_read] < end) {
      const std::int64_t before = parser.blank_lines();
      parser.feed(body.substr(body_read, 1), [](std::string_view) {});
      if (parser.blank_lines() > before) {
        const std::int64_t timed = marks.time_of_blank_line(parser.blank_lines());
        if (timed >= 0 && timed < segment_of[raw_of[body_read]]) {
          std::fprintf(stderr, "blank line %lld timed %lld, arrived in segment %lld\n",
                       static_cast<long long>(parser.blank_lines()), static_cast<long long>(timed),
                       static_cast<long long>(segment_of[raw_of[body_read]]));
          std::abort();
        }
      }
      ++body_read;
      ++delivered;
    }
    if (queue_begin == 0 && end > 0) ++delivered;  // the header block
    queue_begin = end;
  };
  for (std::size_t s = 0; s < segment_end.size(); ++s) {
    const unsigned choice = next() % 4;
    if (choice != 0) {
      marks.on_peek(std::string_view(raw).substr(queue_begin, segment_end[s] - queue_begin),
                    static_cast<std::int64_t>(s), delivered, parser.blank_lines());
    }
    if (choice >= 2) read_queue(segment_end[s]);
  }
  while (queue_begin < raw.size()) read_queue(raw.size());
  return 0;
}
