// The mock server's image routes: request fields (JSON and multipart), synthetic PNGs cached per size, and the
// replies (bodies and SSE events).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {

// Largest side the mock draws: bigger sizes are a 400 rather than gigabytes of pixels.
inline constexpr int kMaxMockImageSide = 4096;
inline constexpr int kDefaultImageSide = 1024;
inline constexpr int kMaxImagesPerRequest = 10;

enum class ImageResponseFormat : std::uint8_t { b64_json, url };

// What an images/generations or images/edits request asks for.
struct ImageRequest {
  std::string model = "mock";
  std::string prompt;
  bool has_prompt = false;
  int n = 1;
  int width = 0;  // 0 = not given (or "auto"): the reference image's size for edits, else 1024x1024
  int height = 0;
  ImageResponseFormat response_format = ImageResponseFormat::b64_json;
  std::string quality = "auto";
  bool stream = false;
  int partial_images = 0;    // streaming: preview events per image before the completed one (0-3)
  int reference_images = 0;  // edits: image / image[] parts (or a `url` field)
  int reference_width = 0;   // edits: the first reference image's size
  int reference_height = 0;
};

// Field setters shared by the JSON and the multipart request: false with a message for a 400.
bool set_image_size(ImageRequest& request, std::string_view size, std::string& error);
bool set_image_count(ImageRequest& request, std::int64_t n, std::string& error);
bool set_image_response_format(ImageRequest& request, std::string_view format, std::string& error);
bool set_partial_images(ImageRequest& request, std::int64_t count, std::string& error);

// One part of a multipart/form-data body; the views point into the body.
struct MultipartPart {
  std::string_view name;
  std::string_view filename;
  std::string_view content_type;
  std::string_view data;
  bool is_file = false;  // the part had a filename parameter
};
// The boundary of a multipart/form-data Content-Type (quoted or not), or "" when it is not one.
std::string_view multipart_boundary(std::string_view content_type);
// Splits a body at its boundary lines (CRLF, or bare LF from lenient clients); false with a message when the
// body is not well formed.
bool parse_multipart(std::string_view body, std::string_view boundary, std::vector<MultipartPart>& parts,
                     std::string& error);
// An images/edits request from its Content-Type header and body: the reference image(s) must be PNG or JPEG
// whose size can be read.
bool parse_image_edit(std::string_view content_type, std::string_view body, ImageRequest& out, std::string& error);

// Width and height of a JPEG from its SOF marker, or {0,0}.
std::pair<int, int> jpeg_size(std::string_view bytes);

void append_base64(std::string& out, std::string_view bytes);

// The size a reply draws: the requested one, else the reference image's (edits), else 1024x1024.
std::pair<int, int> image_output_size(const ImageRequest& request);
// usage.output_tokens per image: one token per 32x32 tile (1024 for 1024x1024).
std::int64_t image_output_tokens(int width, int height);
// usage.input_tokens: ceil(prompt chars / 4), plus kChatImagePartTokens per reference image.
std::int64_t image_input_tokens(const ImageRequest& request);

// Synthetic PNGs per size, encoded once and shared by every loop thread: an encode takes milliseconds,
// a lookup microseconds, so the mock is never what limits an image benchmark.
struct MockImage {
  std::string png;
  std::string base64;
};
class ImageCache {
 public:
  std::shared_ptr<const MockImage> get(int width, int height);  // throws aiperf::Error for a bad size

 private:
  static constexpr std::size_t kMaxSizes = 32;  // beyond that the least recently added size is dropped
  std::mutex mutex_;
  std::vector<std::pair<std::pair<int, int>, std::shared_ptr<const MockImage>>> images_;
};

// {"created","data":[{"b64_json"|"url","revised_prompt"}×n],"background","output_format","quality","size","usage"}.
// url_base is "http://host:port" for response_format url.
std::string images_body(const ImageRequest& request, const MockImage& image, std::string_view url_base,
                        std::int64_t created_unix_s, bool with_usage = true);
// SSE events of a streamed image reply, in sending order: for each preview round one
// `<kind>.partial_image` event per image, then one `<kind>.completed` event per image followed by data: [DONE].
// kind is image_generation or image_edit. events[k] for k < partial_images is preview round k; the last entry
// holds the completed events.
std::vector<std::string> image_stream_events(Endpoint endpoint, const ImageRequest& request, const MockImage& image,
                                             std::int64_t created_unix_s, bool with_usage = true);
// The size in a /v1/mock-images/<W>x<H>.png path, or {0,0}.
std::pair<int, int> mock_image_path_size(std::string_view path);

}  // namespace aiperf::mock
