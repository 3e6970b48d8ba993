// libFuzzer target: the SSE parser. The same bytes fed whole, in fuzzer-chosen chunks and one byte at a time must
// give the same events (chunk boundaries are where servers and the network split a stream).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/engine/sse.hpp"

namespace {

std::vector<std::string> events_of(const std::vector<std::string_view>& chunks) {
  aiperf::SseParser parser;
  std::vector<std::string> events;
  for (const std::string_view chunk : chunks) {
    // A copy per chunk: the parser must not keep pointers into a feed's bytes after it returns (ASan checks).
    const std::string owned(chunk);
    parser.feed(owned, [&events](std::string_view data) { events.emplace_back(data); });
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte seeds the chunk sizes; the rest is the stream.
  unsigned seed = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  const std::vector<std::string> whole = events_of({stream});

  std::vector<std::string_view> chunks;
  for (std::size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t length = 1 + (seed >> 16) % 17;
    chunks.push_back(stream.substr(at, length));
    at += length;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t at = 0; at < stream.size(); ++at) bytes.push_back(stream.substr(at, 1));

  if (events_of(chunks) != whole || events_of(bytes) != whole) std::abort();
  for (const std::string& event : whole) {
    // Lines never leak into an event's data: only '\n' joins data lines, and no CR survives.
    if (event.find('\r') != std::string::npos) std::abort();
  }
  aiperf::is_done(stream);
  return 0;
}
