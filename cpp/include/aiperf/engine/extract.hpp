// ResponseExtractor: pulls content, reasoning, usage, image counts and error messages out of OpenAI-style JSON.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace aiperf {

// What a request's response documents have yielded so far; extract() appends to it.
struct ResponseFields {
  std::string content;                    // choices[0].delta.content / message.content / text
  std::string reasoning;                  // reasoning_content, or reasoning when reasoning_content is absent
  std::int64_t usage_prompt_tokens = -1;  // -1: absent
  std::int64_t usage_completion_tokens = -1;
  std::int64_t usage_reasoning_tokens = -1;
  std::int32_t num_images = 0;  // items of `data` carrying b64_json or url, plus completed streamed images
  std::string error_message;    // message of an OpenAI error object (`{"error": {...}}`)
  std::string image_error;      // first image whose b64_json is not valid base64, described

  void clear() noexcept;
};

enum class ExtractStatus {
  ok,
  invalid,       // not a JSON object
  error_object,  // carried an `error` object; its message is in ResponseFields::error_message
};

// Standard base64 (RFC 4648 alphabet, '=' padding, length a multiple of 4), as OpenAI's b64_json.
bool is_valid_base64(std::string_view text) noexcept;

// Owns one simdjson on-demand parser and one padded input buffer, both reused; one instance per loop thread.
class ResponseExtractor {
 public:
  ResponseExtractor();
  ~ResponseExtractor();
  ResponseExtractor(ResponseExtractor&&) noexcept;
  ResponseExtractor& operator=(ResponseExtractor&&) noexcept;

  // Parses one JSON document (an SSE event's data or a whole non-streaming body) and appends what it carries.
  // readable_bytes_after: how many bytes after the document may be read (not written); with enough of them
  // (simdjson's padding, 64) the document is parsed where it is instead of being copied into a padded buffer.
  ExtractStatus extract(std::string_view document, ResponseFields& out, std::size_t readable_bytes_after = 0);

  // Bytes that must be readable after a document for extract() to parse it in place.
  static std::size_t in_place_padding_bytes() noexcept;

 private:
  // simdjson stays out of this header: its parser layout depends on compile definitions (SIMDJSON_THREADS_ENABLED).
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aiperf
