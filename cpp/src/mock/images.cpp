// The mock server's image routes without libevent: multipart/form-data parsing for images/edits, request field
// checks, the per-size synthetic PNG cache (PNGs from aiperf/png.hpp), base64, and the reply bodies and SSE events.
#include <algorithm>
#include <charconv>
#include <cstring>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/png.hpp"
#include "aiperf/mock/images.hpp"
#include "aiperf/mock/responses.hpp"

namespace aiperf::mock {
namespace {

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

bool parse_positive_int(std::string_view text, int& value) {
  if (text.empty()) return false;
  auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size() && value > 0;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// The value of `name=` among a header's `;`-separated parameters (quoted or a token), or "" when absent.
// Quoted values come back without their quotes; backslash escapes are kept as sent (rare in names and filenames).
std::string_view header_parameter(std::string_view header_value, std::string_view name, bool* found = nullptr) {
  constexpr auto npos = std::string_view::npos;
  if (found) *found = false;
  const std::size_t size = header_value.size();
  std::size_t pos = header_value.find(';');
  while (pos != npos && pos < size) {
    ++pos;
    const std::size_t eq = header_value.find('=', pos);
    const std::size_t semicolon = header_value.find(';', pos);
    if (eq == npos) return {};
    if (semicolon < eq) {  // a parameter without a value
      pos = semicolon;
      continue;
    }
    const std::string_view key = trim(header_value.substr(pos, eq - pos));
    pos = eq + 1;
    while (pos < size && (header_value[pos] == ' ' || header_value[pos] == '\t')) ++pos;
    std::string_view value;
    if (pos < size && header_value[pos] == '"') {
      std::size_t close = pos + 1;
      while (close < size && header_value[close] != '"') close += header_value[close] == '\\' ? 2 : 1;
      close = std::min(close, size);
      value = header_value.substr(pos + 1, close - pos - 1);
      pos = header_value.find(';', std::min(close + 1, size));
    } else {
      const std::size_t end = header_value.find(';', pos);
      value = trim(header_value.substr(pos, end == npos ? npos : end - pos));
      pos = end;
    }
    if (iequals(key, name)) {
      if (found) *found = true;
      return value;
    }
  }
  return {};
}

// A reference image (or mask) must be a PNG or JPEG whose size can be read.
bool check_image_part(const MultipartPart& part, int& width, int& height, std::string& error) {
  const std::string name(part.name);
  if (part.data.empty()) {
    error = "'" + name + "' is empty: expected a PNG or JPEG file";
    return false;
  }
  std::string_view type = sniff_image_type(part.data);
  std::pair<int, int> size{0, 0};
  if (type == "image/png") {
    size = png_size(part.data);
    if (size.first <= 0 || size.second <= 0) {
      error = "'" + name + "' is not a decodable PNG image (no valid IHDR chunk)";
      return false;
    }
  } else if (type == "image/jpeg") {
    size = jpeg_size(part.data);
    if (size.first <= 0 || size.second <= 0) {
      error = "'" + name + "' is not a decodable JPEG image (no frame header)";
      return false;
    }
  } else {
    error = "'" + name + "' must be a PNG or JPEG image";
    error += type.empty() ? " (the bytes are not a known image format)" : " (got " + std::string(type) + ")";
    return false;
  }
  width = size.first;
  height = size.second;
  return true;
}

bool parse_stream_flag(std::string_view text, bool& value, std::string& error) {
  if (iequals(text, "true") || text == "1") {
    value = true;
  } else if (iequals(text, "false") || text == "0" || text.empty()) {
    value = false;
  } else {
    error = "Invalid value for 'stream': '" + std::string(text) + "' (expected true or false)";
    return false;
  }
  return true;
}

bool parse_int_field(std::string_view name, std::string_view text, std::int64_t& value, std::string& error) {
  text = trim(text);
  auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size()) {
    error = "Invalid value for '" + std::string(name) + "': '" + std::string(text) + "' (expected an integer)";
    return false;
  }
  return true;
}

void append_size(std::string& out, int width, int height) {
  append_int(out, width);
  out += 'x';
  append_int(out, height);
}

void append_image_usage(std::string& out, std::int64_t input_tokens, std::int64_t image_tokens,
                        std::int64_t output_tokens) {
  out += "\"usage\":{\"input_tokens\":";
  append_int(out, input_tokens);
  out += ",\"input_tokens_details\":{\"image_tokens\":";
  append_int(out, image_tokens);
  out += ",\"text_tokens\":";
  append_int(out, input_tokens - image_tokens);
  out += "},\"output_tokens\":";
  append_int(out, output_tokens);
  out += ",\"total_tokens\":";
  append_int(out, input_tokens + output_tokens);
  out += '}';
}

// The fields every image reply and event repeats: background, output_format, quality, size.
void append_image_settings(std::string& out, const ImageRequest& request, int width, int height) {
  out += "\"background\":\"opaque\",\"output_format\":\"png\",\"quality\":";
  append_json_string(out, request.quality);
  out += ",\"size\":\"";
  append_size(out, width, height);
  out += '"';
}

}  // namespace

bool set_image_size(ImageRequest& request, std::string_view size, std::string& error) {
  size = trim(size);
  if (size == "auto") {
    request.width = request.height = 0;
    return true;
  }
  const std::size_t x = size.find_first_of("xX");
  int width = 0;
  int height = 0;
  if (x == std::string_view::npos || !parse_positive_int(size.substr(0, x), width) ||
      !parse_positive_int(size.substr(x + 1), height)) {
    error = "Invalid value for 'size': '" + std::string(size) + "'. Expected 'auto' or WIDTHxHEIGHT, e.g. '1024x1024'";
    return false;
  }
  if (width > kMaxMockImageSide || height > kMaxMockImageSide) {
    error = "Invalid value for 'size': '" + std::string(size) + "'. The mock server draws at most " +
            std::to_string(kMaxMockImageSide) + "x" + std::to_string(kMaxMockImageSide);
    return false;
  }
  request.width = width;
  request.height = height;
  return true;
}

bool set_image_count(ImageRequest& request, std::int64_t n, std::string& error) {
  if (n < 1 || n > kMaxImagesPerRequest) {
    error = "Invalid value for 'n': " + std::to_string(n) + ". Expected an integer from 1 to " +
            std::to_string(kMaxImagesPerRequest);
    return false;
  }
  request.n = static_cast<int>(n);
  return true;
}

bool set_image_response_format(ImageRequest& request, std::string_view format, std::string& error) {
  if (format == "b64_json") {
    request.response_format = ImageResponseFormat::b64_json;
  } else if (format == "url") {
    request.response_format = ImageResponseFormat::url;
  } else {
    error = "Invalid value for 'response_format': '" + std::string(format) + "'. Expected 'b64_json' or 'url'";
    return false;
  }
  return true;
}

bool set_partial_images(ImageRequest& request, std::int64_t count, std::string& error) {
  if (count < 0 || count > 3) {
    error = "Invalid value for 'partial_images': " + std::to_string(count) + ". Expected an integer from 0 to 3";
    return false;
  }
  request.partial_images = static_cast<int>(count);
  return true;
}

std::string_view multipart_boundary(std::string_view content_type) {
  const std::string_view media_type = trim(content_type.substr(0, content_type.find(';')));
  if (!iequals(media_type, "multipart/form-data")) return {};
  return header_parameter(content_type, "boundary");
}

bool parse_multipart(std::string_view body, std::string_view boundary, std::vector<MultipartPart>& parts,
                     std::string& error) {
  parts.clear();
  if (boundary.empty() || boundary.size() > 200) {
    error = "multipart/form-data without a valid boundary";
    return false;
  }
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter may follow a preamble; every later one starts a line.
  std::size_t pos;
  if (body.starts_with(delimiter)) {
    pos = 0;
  } else {
    pos = body.find("\n" + delimiter);
    if (pos == std::string_view::npos) {
      error = "multipart body does not contain its boundary '" + std::string(boundary) + "'";
      return false;
    }
    pos += 1;
  }
  const std::string next_delimiter = "\n" + delimiter;
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return true;  // the closing delimiter
    // Transport padding, then the line break that ends the delimiter line.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (body.substr(pos, 1) == "\n") {
      pos += 1;
    } else {
      error = "multipart body is malformed after a boundary line";
      return false;
    }
    MultipartPart part;
    // Headers, up to the blank line.
    while (true) {
      const std::size_t line_end = body.find('\n', pos);
      if (line_end == std::string_view::npos) {
        error = "multipart part headers are not terminated by a blank line";
        return false;
      }
      std::string_view line = body.substr(pos, line_end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      pos = line_end + 1;
      if (line.empty()) break;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view header = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(header, "Content-Disposition")) {
        part.name = header_parameter(value, "name");
        part.filename = header_parameter(value, "filename", &part.is_file);
      } else if (iequals(header, "Content-Type")) {
        part.content_type = value;
      }
    }
    const std::size_t end = body.find(next_delimiter, pos);
    if (end == std::string_view::npos) {
      error = "multipart body ends without its closing boundary";
      return false;
    }
    // The line break before a delimiter belongs to the delimiter, not to the data.
    std::size_t data_end = end;
    if (data_end > pos && body[data_end - 1] == '\r') --data_end;
    part.data = body.substr(pos, data_end - pos);
    if (part.name.empty()) {
      error = "multipart part without a Content-Disposition name";
      return false;
    }
    parts.push_back(part);
    pos = end + 1;
  }
}

bool parse_image_edit(std::string_view content_type, std::string_view body, ImageRequest& out, std::string& error) {
  out = ImageRequest{};
  const std::string_view boundary = multipart_boundary(content_type);
  if (boundary.empty()) {
    error = "images/edits expects a multipart/form-data body with a boundary (got Content-Type '" +
            std::string(content_type) + "')";
    return false;
  }
  std::vector<MultipartPart> parts;
  if (!parse_multipart(body, boundary, parts, error)) return false;
  bool has_url = false;
  for (const MultipartPart& part : parts) {
    const std::string_view name = part.name;
    if (name == "image" || name == "image[]") {
      int width = 0;
      int height = 0;
      if (!check_image_part(part, width, height, error)) return false;
      if (out.reference_images++ == 0) {
        out.reference_width = width;
        out.reference_height = height;
      }
    } else if (name == "mask") {
      int width = 0;
      int height = 0;
      if (!check_image_part(part, width, height, error)) return false;
    } else if (name == "url") {
      has_url = !trim(part.data).empty();  // a remote reference: taken as given, never downloaded
    } else if (name == "prompt") {
      out.prompt = std::string(part.data);
      out.has_prompt = true;
    } else if (name == "model") {
      out.model = std::string(trim(part.data));
    } else if (name == "n") {
      std::int64_t n = 0;
      if (!parse_int_field(name, part.data, n, error) || !set_image_count(out, n, error)) return false;
    } else if (name == "size") {
      if (!set_image_size(out, part.data, error)) return false;
    } else if (name == "response_format") {
      if (!set_image_response_format(out, trim(part.data), error)) return false;
    } else if (name == "quality") {
      out.quality = std::string(trim(part.data));
    } else if (name == "stream") {
      if (!parse_stream_flag(trim(part.data), out.stream, error)) return false;
    } else if (name == "partial_images") {
      std::int64_t count = 0;
      if (!parse_int_field(name, part.data, count, error) || !set_partial_images(out, count, error)) return false;
    }
  }
  if (out.reference_images == 0) {
    if (!has_url) {
      error = "'image' is required: send the reference image as a file part named 'image' (or 'image[]')";
      return false;
    }
    out.reference_images = 1;
  }
  if (!out.has_prompt) {
    error = "'prompt' is required";
    return false;
  }
  return true;
}

std::pair<int, int> jpeg_size(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  if (size < 4 || p[0] != 0xFF || p[1] != 0xD8) return {0, 0};
  std::size_t pos = 2;
  while (pos + 4 <= size) {
    if (p[pos] != 0xFF) return {0, 0};
    const unsigned char marker = p[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      pos += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return {0, 0};  // end of image / scan data before any frame header
    const std::size_t length = static_cast<std::size_t>(p[pos + 2]) << 8 | p[pos + 3];
    if (length < 2) return {0, 0};
    const bool frame_header = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame_header) {
      if (pos + 9 > size || length < 7) return {0, 0};
      const int height = p[pos + 5] << 8 | p[pos + 6];
      const int width = p[pos + 7] << 8 | p[pos + 8];
      if (width == 0 || height == 0) return {0, 0};
      return {width, height};
    }
    pos += 2 + length;
  }
  return {0, 0};
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t full = bytes.size() / 3 * 3;
  const std::size_t start = out.size();
  out.resize(start + (bytes.size() + 2) / 3 * 4);
  char* dst = out.data() + start;
  for (std::size_t i = 0; i < full; i += 3, dst += 4) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    dst[0] = kAlphabet[v >> 18];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = kAlphabet[(v >> 6) & 63];
    dst[3] = kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - full;
  if (rest > 0) {
    const std::uint32_t v = std::uint32_t{in[full]} << 16 | (rest == 2 ? std::uint32_t{in[full + 1]} << 8 : 0);
    dst[0] = kAlphabet[v >> 18];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    dst[3] = '=';
  }
}

std::pair<int, int> image_output_size(const ImageRequest& request) {
  if (request.width > 0 && request.height > 0) return {request.width, request.height};
  if (request.reference_width > 0 && request.reference_height > 0) {
    // A reference image larger than the mock draws is answered at the largest size it draws.
    return {std::min(request.reference_width, kMaxMockImageSide),
            std::min(request.reference_height, kMaxMockImageSide)};
  }
  return {kDefaultImageSide, kDefaultImageSide};
}

std::int64_t image_output_tokens(int width, int height) {
  return static_cast<std::int64_t>((width + 31) / 32) * ((height + 31) / 32);
}

std::int64_t image_input_tokens(const ImageRequest& request) {
  return prompt_token_estimate(static_cast<std::int64_t>(request.prompt.size())) +
         request.reference_images * kChatImagePartTokens;
}

std::shared_ptr<const MockImage> ImageCache::get(int width, int height) {
  const std::pair<int, int> key{width, height};
  {
    std::lock_guard lock(mutex_);
    for (const auto& [size, image] : images_) {
      if (size == key) return image;
    }
  }
  // Encoded outside the lock: a new size must not stall the other loop threads' lookups.
  auto image = std::make_shared<MockImage>();
  image->png =
      synthetic_png(width, height, static_cast<std::uint64_t>(width) << 32 | static_cast<std::uint32_t>(height));
  image->base64.reserve((image->png.size() + 2) / 3 * 4);
  append_base64(image->base64, image->png);
  std::lock_guard lock(mutex_);
  for (const auto& [size, cached] : images_) {
    if (size == key) return cached;  // another thread got there first
  }
  if (images_.size() >= kMaxSizes) images_.erase(images_.begin());
  images_.emplace_back(key, image);
  return image;
}

std::string images_body(const ImageRequest& request, const MockImage& image, std::string_view url_base,
                        std::int64_t created_unix_s, bool with_usage) {
  const auto [width, height] = image_output_size(request);
  const bool as_url = request.response_format == ImageResponseFormat::url;
  std::string url;
  if (as_url) {
    url.append(url_base);
    url += "/v1/mock-images/";
    append_size(url, width, height);
    url += ".png";
  }
  std::string out;
  out.reserve(256 + request.n * (as_url ? url.size() + 64 : image.base64.size() + 32) +
              request.prompt.size() * request.n);
  out += "{\"created\":";
  append_int(out, created_unix_s);
  out += ",\"data\":[";
  for (int i = 0; i < request.n; ++i) {
    if (i) out += ',';
    if (as_url) {
      out += "{\"url\":";
      append_json_string(out, url);
    } else {
      out += "{\"b64_json\":\"";
      out += image.base64;
      out += '"';
    }
    out += ",\"revised_prompt\":";
    append_json_string(out, request.prompt);
    out += '}';
  }
  out += "],";
  append_image_settings(out, request, width, height);
  if (with_usage) {
    out += ',';
    const std::int64_t image_tokens = request.reference_images * kChatImagePartTokens;
    append_image_usage(out, image_input_tokens(request), image_tokens, request.n * image_output_tokens(width, height));
  }
  out += '}';
  return out;
}

std::vector<std::string> image_stream_events(Endpoint endpoint, const ImageRequest& request, const MockImage& image,
                                             std::int64_t created_unix_s, bool with_usage) {
  const std::string_view kind = endpoint == Endpoint::image_edits ? "image_edit" : "image_generation";
  const auto [width, height] = image_output_size(request);
  // Everything after b64_json is the same for every event of one kind.
  std::string settings = ",\"created_at\":";
  append_int(settings, created_unix_s);
  settings += ',';
  append_image_settings(settings, request, width, height);

  auto append_event = [&](std::string& out, std::string_view type, std::string_view tail) {
    out += "event: ";
    out += kind;
    out += '.';
    out += type;
    out += "\ndata: {\"type\":\"";
    out += kind;
    out += '.';
    out += type;
    out += "\",\"b64_json\":\"";
    out += image.base64;
    out += '"';
    out += settings;
    out += tail;
    out += "}\n\n";
  };

  std::vector<std::string> rounds;
  for (int k = 0; k < request.partial_images; ++k) {
    std::string round;
    round.reserve(static_cast<std::size_t>(request.n) * (image.base64.size() + 256));
    std::string tail = ",\"partial_image_index\":";
    append_int(tail, k);
    for (int i = 0; i < request.n; ++i) append_event(round, "partial_image", tail);
    rounds.push_back(std::move(round));
  }
  // Usage per completed event is that image's: the input tokens are reported on the first one only, so the
  // events' usage sums to the request's.
  const std::int64_t image_tokens = request.reference_images * kChatImagePartTokens;
  std::string completed;
  completed.reserve(static_cast<std::size_t>(request.n) * (image.base64.size() + 384) + 16);
  for (int i = 0; i < request.n; ++i) {
    std::string tail;
    if (with_usage) {
      tail = ',';
      const bool first = i == 0;
      append_image_usage(tail, first ? image_input_tokens(request) : 0, first ? image_tokens : 0,
                         image_output_tokens(width, height));
    }
    append_event(completed, "completed", tail);
  }
  completed += "data: [DONE]\n\n";
  rounds.push_back(std::move(completed));
  return rounds;
}

std::pair<int, int> mock_image_path_size(std::string_view path) {
  constexpr std::string_view kPrefix = "/v1/mock-images/";
  constexpr std::string_view kSuffix = ".png";
  if (!path.starts_with(kPrefix) || !path.ends_with(kSuffix)) return {0, 0};
  std::string_view size = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  ImageRequest request;
  std::string error;
  if (size == "auto" || !set_image_size(request, size, error)) return {0, 0};
  return {request.width, request.height};
}

}  // namespace aiperf::mock
