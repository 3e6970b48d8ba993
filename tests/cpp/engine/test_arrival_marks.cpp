// ArrivalMarks: SSE event ends counted in peeked socket bytes are never timed before the segment that held them.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "aiperf/engine/arrival_marks.hpp"
#include "aiperf/engine/sse.hpp"

namespace aiperf {
namespace {

constexpr std::string_view kHeaders =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(ArrivalMarks, TimesEachEventByThePeekThatFirstHeldIt) {
  ArrivalMarks marks;
  marks.reset();
  std::string queue(kHeaders);
  queue += "1e\r\ndata: {\"a\":1}\n\ndata: {\"b\":2}\n\n\r\n";  // two events in one segment, at t=10
  marks.on_peek(queue, 10, 0, 0);
  queue += "f\r\ndata: {\"c\":3}\n\n\r\n";  // a third, unread, at t=20 (the kernel now says 20 for all)
  marks.on_peek(queue, 20, 0, 0);
  marks.on_peek(queue, 20, 0, 0);  // nothing new: nothing counted twice
  EXPECT_EQ(marks.counted_blank_lines(), 3);
  EXPECT_EQ(marks.time_of_blank_line(1), 10);
  EXPECT_EQ(marks.time_of_blank_line(2), 10);
  EXPECT_EQ(marks.time_of_blank_line(3), 20);
  EXPECT_EQ(marks.time_of_blank_line(4), -1);
  // libcurl read it all (delivered bytes changed): the next bytes start a new queue.
  marks.on_peek("f\r\ndata: {\"d\":4}\n\n\r\n", 30, 120, 3);
  EXPECT_EQ(marks.time_of_blank_line(4), 30);
}

TEST(ArrivalMarks, CountsNothingBeforeTheHeadersEndOrFromFraming) {
  ArrivalMarks marks;
  marks.reset();
  // Bare-LF headers end in "\n\n": that is not an event.
  marks.on_peek("HTTP/1.1 200 OK\nContent-Type: text/event-stream\n\n", 5, 0, 0);
  EXPECT_EQ(marks.counted_blank_lines(), 0);
  marks.reset();
  // A chunk whose data starts with a line feed right after the framing's CRLF: the framing LF and the data LF are
  // adjacent, which is not a blank line of the body unless the data before the chunk ended a line.
  std::string queue(kHeaders);
  queue += "5\r\ndata:\r\n2\r\n\nx\r\n";
  marks.on_peek(queue, 7, 0, 0);
  EXPECT_EQ(marks.counted_blank_lines(), 0);
}

TEST(ArrivalMarks, StopsCountingWhenTheQueueOutgrowsOneRead) {
  ArrivalMarks marks;
  marks.reset();
  std::string queue(kHeaders);
  while (queue.size() <= ArrivalMarks::kMaxCountedQueueBytes) queue += "7\r\ndata:1\n\n\r\n";
  marks.on_peek(queue, 1, 0, 0);
  EXPECT_EQ(marks.counted_blank_lines(), 0);
  marks.on_peek("7\r\ndata:1\n\n\r\n", 2, 50, 0);  // and for the rest of the response
  EXPECT_EQ(marks.counted_blank_lines(), 0);
}

// Property: random SSE bodies (LF and CRLF endings, comments, multi-line data, extra blank lines, data ending in hex
// digits), chunked at random, cut into random segments; the client peeks and reads at random moments (a read takes
// what the queue holds, up to 16 KB, as libcurl does). Every blank line the parser sees is timed at or after the
// segment that completed it, and with LF-only streams and frequent peeks most are timed exactly.
struct Outcome {
  std::int64_t blank_lines = 0;
  std::int64_t exact = 0;
  std::int64_t unknown = 0;
  std::int64_t late = 0;
};

Outcome simulate(std::mt19937_64& rng, bool lf_only) {
  std::uniform_int_distribution<int> percent(0, 99);
  std::string body;
  const int events = 5 + static_cast<int>(rng() % 40);
  const char* tails[] = {"}", "]", "1", "a", "F", "x", " "};
  for (int e = 0; e < events; ++e) {
    const std::string eol = (lf_only || percent(rng) < 70) ? "\n" : "\r\n";
    if (percent(rng) < 15) body += ": ping" + eol;
    const int lines = 1 + (percent(rng) < 20 ? 1 : 0);
    for (int l = 0; l < lines; ++l) {
      body += "data: {\"i\":" + std::to_string(e) + "}" + std::string(static_cast<std::size_t>(rng() % 40), 'z');
      body += percent(rng) < 80 ? tails[0] : tails[rng() % 7];  // JSON events end in '}'
      body += eol;
    }
    body += eol;
    if (percent(rng) < 10) body += eol;  // an extra blank line
  }
  // Chunked framing at random cut points, then the terminating chunk.
  std::string raw(kHeaders);
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t take = std::min<std::size_t>(body.size() - at, 1 + rng() % 300);
    char size_line[16];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", take);
    raw += size_line;
    raw.append(body, at, take);
    raw += "\r\n";
    at += take;
  }
  raw += "0\r\n\r\n";
  // Segments: raw bytes with the index of the segment that carried each.
  std::vector<std::int64_t> segment_of(raw.size());
  std::vector<std::size_t> segment_end;
  for (std::size_t at = 0; at < raw.size();) {
    const std::size_t take = std::min<std::size_t>(raw.size() - at, 1 + rng() % 200);
    for (std::size_t i = at; i < at + take; ++i) segment_of[i] = static_cast<std::int64_t>(segment_end.size());
    at += take;
    segment_end.push_back(at);
  }

  ArrivalMarks marks;
  marks.reset();
  SseParser parser;
  Outcome outcome;
  std::size_t queue_begin = 0;  // raw index of the queue's head (bytes before it were read)
  std::int64_t delivered = 0;
  bool in_headers = true;
  std::size_t chunk_left = 0;  // the client's chunk decoder: data bytes left in the current chunk
  int framing = 0;             // 0: reading a size line, 1: data, 2: the CRLF after data
  std::string size_line;
  auto read_queue = [&](std::size_t queue_end) {
    const std::size_t end = std::min(queue_end, queue_begin + 16 * 1024);
    for (std::size_t i = queue_begin; i < end; ++i) {
      const char c = raw[i];
      if (in_headers) {
        ++delivered;
        if (i >= 3 && raw.compare(i - 3, 4, "\r\n\r\n") == 0) in_headers = false;
        continue;
      }
      if (framing == 0) {
        if (c == '\n') {
          chunk_left = std::stoul(size_line, nullptr, 16);
          size_line.clear();
          framing = chunk_left > 0 ? 1 : 3;
        } else if (c != '\r') {
          size_line += c;
        }
      } else if (framing == 1) {
        ++delivered;
        const std::int64_t before = parser.blank_lines();
        parser.feed(std::string_view(&raw[i], 1), [](std::string_view) {});
        if (parser.blank_lines() > before) {
          const std::int64_t k = parser.blank_lines();
          const std::int64_t timed = marks.time_of_blank_line(k);
          ++outcome.blank_lines;
          if (timed < 0)
            ++outcome.unknown;
          else if (timed > segment_of[i])
            ++outcome.late;
          if (timed >= 0) {
            EXPECT_GE(timed, segment_of[i]) << "blank line " << k << " timed before it arrived";
            if (timed == segment_of[i]) ++outcome.exact;
          }
        }
        if (--chunk_left == 0) framing = 2;
      } else if (framing == 2 && c == '\n') {
        framing = 0;
      }
    }
    queue_begin = end;
  };
  for (std::size_t s = 0; s < segment_end.size(); ++s) {
    const std::size_t queue_end = segment_end[s];
    if (percent(rng) < (lf_only ? 90 : 60)) {
      marks.on_peek(std::string_view(raw).substr(queue_begin, queue_end - queue_begin), static_cast<std::int64_t>(s),
                    delivered, parser.blank_lines());
    }
    if (percent(rng) < 35) read_queue(queue_end);
  }
  while (queue_begin < raw.size()) read_queue(raw.size());
  return outcome;
}

TEST(ArrivalMarks, RandomStreamsAreNeverTimedEarly) {
  std::mt19937_64 rng(20261201);
  Outcome mixed;
  for (int run = 0; run < 400; ++run) {
    const Outcome o = simulate(rng, /*lf_only=*/false);
    mixed.blank_lines += o.blank_lines;
    mixed.exact += o.exact;
  }
  Outcome lf;
  for (int run = 0; run < 400; ++run) {
    const Outcome o = simulate(rng, /*lf_only=*/true);
    lf.blank_lines += o.blank_lines;
    lf.exact += o.exact;
    lf.unknown += o.unknown;
    lf.late += o.late;
  }
  std::printf("lf: %lld blank lines, %lld exact, %lld late, %lld unknown\n", (long long)lf.blank_lines,
              (long long)lf.exact, (long long)lf.late, (long long)lf.unknown);
  ASSERT_GT(lf.blank_lines, 1000);
  // Peeks at 90% of segments: nearly every LF event is timed by the segment that completed it.
  EXPECT_GT(lf.exact, lf.blank_lines * 7 / 10) << lf.exact << " of " << lf.blank_lines;
  EXPECT_GT(mixed.exact, 0);
}

}  // namespace
}  // namespace aiperf
