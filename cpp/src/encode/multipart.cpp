// MultipartEncoder: builds multipart/form-data bodies with one allocation and straight copies of each part.
#include "aiperf/encode/multipart.hpp"

#include <string.h>  // memmem

#include <cstring>
#include <random>
#if defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#endif
#include <random>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/png.hpp"

namespace aiperf {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kMaxBoundaryLength = 70;  // RFC 2046

bool is_boundary_char(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// True when needle occurs in haystack. AVX2/SSE2 compare the needle's first and last bytes at 32/16 positions at
// once and verify the rare candidates (Mula's filter); glibc memmem was the larger half of encoding time.
bool contains(std::string_view haystack, std::string_view needle) {
  const std::size_t m = needle.size();
  if (m == 0) return true;
  if (haystack.size() < m) return false;
#if defined(__AVX2__) || defined(__SSE2__)
  if (m >= 2) {
#if defined(__AVX2__)
    using Vector = __m256i;
    constexpr std::size_t kLanes = 32;
    const auto splat = [](char c) { return _mm256_set1_epi8(c); };
    const auto load = [](const char* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
    const auto both_equal = [](Vector a, Vector first, Vector b, Vector last) {
      return static_cast<unsigned>(
          _mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last))));
    };
#else
    using Vector = __m128i;
    constexpr std::size_t kLanes = 16;
    const auto splat = [](char c) { return _mm_set1_epi8(c); };
    const auto load = [](const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
    const auto both_equal = [](Vector a, Vector first, Vector b, Vector last) {
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))));
    };
#endif
    const Vector first = splat(needle.front());
    const Vector last = splat(needle.back());
    const std::size_t starts = haystack.size() - m + 1;  // candidate start positions
    std::size_t i = 0;
    for (; i + kLanes <= starts; i += kLanes) {
      unsigned mask = both_equal(load(haystack.data() + i), first, load(haystack.data() + i + m - 1), last);
      while (mask != 0) {
        const auto at = i + static_cast<std::size_t>(__builtin_ctz(mask));
        if (std::memcmp(haystack.data() + at + 1, needle.data() + 1, m - 2) == 0) return true;
        mask &= mask - 1;
      }
    }
    haystack.remove_prefix(i);
  }
#endif
  return ::memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

}  // namespace

std::string escape_multipart_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : name) {
    switch (c) {
      case '"': out += "%22"; break;
      case '\r': out += "%0D"; break;
      case '\n': out += "%0A"; break;
      default: out += c;
    }
  }
  return out;
}

std::string MultipartEncoder::random_boundary() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string boundary = "aiperf-";
  for (int word = 0; word < 2; ++word) {
    std::uint64_t bits = generator();
    for (int i = 0; i < 16; ++i, bits >>= 4) boundary += kHex[bits & 0xF];
  }
  return boundary;
}

MultipartEncoder::MultipartEncoder() : boundary_(random_boundary()), boundary_was_generated_(true) {}

MultipartEncoder::MultipartEncoder(std::string boundary) : boundary_(std::move(boundary)) {
  if (boundary_.empty() || boundary_.size() > kMaxBoundaryLength || boundary_.back() == ' ') {
    throw Error("multipart boundary must be 1-70 characters and not end in a space: \"" + boundary_ + "\"");
  }
  for (const char c : boundary_) {
    if (!is_boundary_char(c)) {
      throw Error("multipart boundary has a character RFC 2046 does not allow: \"" + boundary_ + "\"");
    }
  }
}

void MultipartEncoder::add_field(std::string_view name, std::string_view value) {
  Part part;
  part.headers.reserve(48 + name.size());
  part.headers.append("Content-Disposition: form-data; name=\"").append(escape_multipart_name(name)).append("\"\r\n");
  part.owned_value.assign(value);
  parts_.push_back(std::move(part));
}

void MultipartEncoder::add_file(std::string_view name, std::string_view filename, std::string_view bytes,
                                std::string_view content_type) {
  if (content_type.find_first_of("\r\n") != std::string_view::npos) {
    throw Error("multipart: content type of file field \"" + std::string(name) + "\" contains a line break");
  }
  if (content_type.empty()) content_type = sniff_image_type(bytes);
  if (content_type.empty()) content_type = "application/octet-stream";
  Part part;
  part.headers.reserve(80 + name.size() + filename.size() + content_type.size());
  part.headers.append("Content-Disposition: form-data; name=\"")
      .append(escape_multipart_name(name))
      .append("\"; filename=\"")
      .append(escape_multipart_name(filename))
      .append("\"\r\nContent-Type: ")
      .append(content_type)
      .append(kCrlf);
  part.file_bytes = bytes;
  part.is_file = true;
  parts_.push_back(std::move(part));
}

std::string MultipartEncoder::content_type() const { return "multipart/form-data; boundary=" + boundary_; }

std::size_t MultipartEncoder::encoded_size() const {
  // Per part: "--" boundary CRLF headers CRLF body CRLF; then "--" boundary "--" CRLF.
  std::size_t size = 2 + boundary_.size() + 2 + 2;
  for (const Part& part : parts_) size += 2 + boundary_.size() + 2 + part.headers.size() + 2 + part.body().size() + 2;
  return size;
}

// One layout for both outputs (a raw buffer of the right size, or a string reserved once). Each part's bytes are
// scanned for the boundary in cache-sized chunks right after they are copied, so they are read from memory once.
// Returns false, having written a partial body, when the boundary occurs in a part.
template <typename Sink>
bool MultipartEncoder::write_body(Sink&& put) const {
  constexpr std::size_t kChunkBytes = 32 * 1024;
  const std::size_t overlap = boundary_.size() - 1;
  for (const Part& part : parts_) {
    put("--");
    put(boundary_);
    put(kCrlf);
    put(part.headers);
    if (contains(part.headers, boundary_)) return false;
    put(kCrlf);
    const std::string_view body = part.body();
    for (std::size_t at = 0; at < body.size(); at += kChunkBytes) {
      const std::string_view chunk = body.substr(at, kChunkBytes);
      put(chunk);
      const std::size_t window_start = at >= overlap ? at - overlap : 0;
      if (contains(body.substr(window_start, at + chunk.size() - window_start), boundary_)) return false;
    }
    put(kCrlf);
  }
  put("--");
  put(boundary_);
  put("--\r\n");
  return true;
}

void MultipartEncoder::on_boundary_collision() {
  // 128 random bits make a collision practically impossible, but a caller-chosen boundary or an adversarial
  // file can collide; a new generated boundary has the same length, so encoded_size() does not change.
  if (!boundary_was_generated_) {
    throw Error("multipart boundary \"" + boundary_ + "\" occurs inside a part; choose another boundary");
  }
  if (++regenerations_ > 8) throw Error("multipart: could not find a boundary absent from the parts");
  boundary_ = random_boundary();
}

void MultipartEncoder::encode_to(char* out) {
  while (true) {
    char* cursor = out;
    const bool complete = write_body([&cursor](std::string_view s) {
      std::memcpy(cursor, s.data(), s.size());
      cursor += s.size();
    });
    if (complete) return;
    on_boundary_collision();
  }
}

std::string MultipartEncoder::encode() {
  std::string body;
  body.reserve(encoded_size());
  while (!write_body([&body](std::string_view s) { body.append(s); })) {
    on_boundary_collision();
    body.clear();
  }
  return body;
}

}  // namespace aiperf
