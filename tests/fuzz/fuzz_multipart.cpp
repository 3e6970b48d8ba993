// libFuzzer target: the multipart/form-data encoder, round-tripped through a parser written for this test from
// RFC 2046 / RFC 7578. Fuzzer-chosen fields, files, names and boundaries must come back byte for byte.
// (Not the mock server's parser: it is lenient on purpose, trims values and refuses empty names.)
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/multipart.hpp"

namespace {

struct Part {
  std::string name;      // as written in Content-Disposition (escaped)
  std::string filename;  // escaped; empty for a text field
  bool is_file = false;
  std::string content_type;
  std::string body;
};

[[noreturn]] void fail_at(int line) {
  std::fprintf(stderr, "fuzz_multipart.cpp:%d: round trip mismatch\n", line);
  std::abort();
}
#define fail() fail_at(__LINE__)

// Reads `; key="value"` at the front of `rest` (left-to-right, as a server's parser does) and drops it from
// `rest`. The encoder escapes '"', so the value ends at the next '"'.
bool take_parameter(std::string_view& rest, std::string_view key, std::string& value) {
  const std::string prefix = std::string("; ") + std::string(key) + "=\"";
  if (rest.substr(0, prefix.size()) != prefix) return false;
  const std::size_t end = rest.find('"', prefix.size());
  if (end == std::string_view::npos) fail();
  value = std::string(rest.substr(prefix.size(), end - prefix.size()));
  rest.remove_prefix(end + 1);
  return true;
}

std::vector<Part> parse_multipart(std::string_view body, std::string_view content_type) {
  constexpr std::string_view kPrefix = "multipart/form-data; boundary=";
  if (content_type.substr(0, kPrefix.size()) != kPrefix) fail();
  const std::string boundary(content_type.substr(kPrefix.size()));
  const std::string first = "--" + boundary + "\r\n";
  const std::string delimiter = "\r\n--" + boundary;
  std::vector<Part> parts;
  if (body == "--" + boundary + "--\r\n") return parts;  // no parts
  if (body.substr(0, first.size()) != first) fail();
  std::size_t at = first.size();
  while (true) {
    const std::size_t headers_end = body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos) fail();
    const std::string_view headers = body.substr(at, headers_end - at);
    const std::size_t body_start = headers_end + 4;
    const std::size_t body_end = body.find(delimiter, body_start);
    if (body_end == std::string_view::npos) fail();
    Part part;
    part.body = std::string(body.substr(body_start, body_end - body_start));
    std::size_t line_start = 0;
    bool has_disposition = false;
    while (line_start <= headers.size()) {
      std::size_t line_end = headers.find("\r\n", line_start);
      if (line_end == std::string_view::npos) line_end = headers.size();
      const std::string_view line = headers.substr(line_start, line_end - line_start);
      constexpr std::string_view kDisposition = "Content-Disposition: form-data";
      constexpr std::string_view kType = "Content-Type: ";
      if (line.substr(0, kDisposition.size()) == kDisposition) {
        std::string_view rest = line.substr(kDisposition.size());
        if (!take_parameter(rest, "name", part.name)) fail();
        part.is_file = take_parameter(rest, "filename", part.filename);
        if (!rest.empty()) fail();
        has_disposition = true;
      } else if (line.substr(0, kType.size()) == kType) {
        part.content_type = std::string(line.substr(kType.size()));
      } else {
        fail();  // a header line the encoder does not write: a part's bytes leaked into the headers
      }
      line_start = line_end + 2;
    }
    if (!has_disposition) fail();
    parts.push_back(std::move(part));
    at = body_end + delimiter.size();
    if (body.substr(at) == "--\r\n") return parts;
    if (body.substr(at, 2) != "\r\n") fail();
    at += 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  std::vector<std::string> file_bytes;  // the encoder references file bytes: they must outlive encode()
  std::vector<Part> expected;
  const bool own_boundary = input.ConsumeBool();
  const std::string boundary = own_boundary ? input.ConsumeRandomLengthString(80) : std::string();
  try {
    aiperf::MultipartEncoder form = own_boundary ? aiperf::MultipartEncoder(boundary) : aiperf::MultipartEncoder();
    const int count = input.ConsumeIntegralInRange(0, 6);
    file_bytes.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      Part part;
      const std::string name = input.ConsumeRandomLengthString(40);
      part.name = aiperf::escape_multipart_name(name);
      part.is_file = input.ConsumeBool();
      if (part.is_file) {
        const std::string filename = input.ConsumeRandomLengthString(40);
        const std::string type = input.ConsumeRandomLengthString(30);
        file_bytes.push_back(input.ConsumeRandomLengthString(4096));
        part.filename = aiperf::escape_multipart_name(filename);
        part.body = file_bytes.back();
        try {
          form.add_file(name, filename, file_bytes.back(), type);
        } catch (const aiperf::Error&) {
          if (type.find_first_of("\r\n") == std::string::npos) fail();  // only a line break is refused
          continue;
        }
        part.content_type = type.empty() ? std::string() : type;  // empty: sniffed, checked below
      } else {
        part.body = input.ConsumeRandomLengthString(4096);
        form.add_field(name, part.body);
      }
      expected.push_back(std::move(part));
    }
    const std::size_t predicted_size = form.encoded_size();
    const std::string body = form.encode();
    if (body.size() != predicted_size) fail();
    std::string written(form.encoded_size(), '\0');
    form.encode_to(written.data());
    if (written != body) fail();
    if (std::getenv("AIPERF_FUZZ_DEBUG") != nullptr) {  // reproducing a crash: show the body that was parsed
      std::fprintf(stderr, "%s\n", form.content_type().c_str());
      std::fwrite(body.data(), 1, body.size(), stderr);
    }
    const std::vector<Part> parsed = parse_multipart(body, form.content_type());
    if (parsed.size() != expected.size()) fail();
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      const Part& want = expected[i];
      const Part& got = parsed[i];
      if (got.name != want.name || got.is_file != want.is_file || got.body != want.body) fail();
      if (want.is_file && got.filename != want.filename) fail();
      if (want.is_file && got.content_type.empty()) fail();
      if (want.is_file && !want.content_type.empty() && got.content_type != want.content_type) fail();
      if (!want.is_file && !got.content_type.empty()) fail();
    }
  } catch (const aiperf::Error&) {
    // Refused: a caller-chosen boundary that is invalid or occurs inside a part. Anything else is a bug.
    if (!own_boundary) fail();
  }
  return 0;
}
