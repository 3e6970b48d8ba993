// What the mock server reads from a request body: only the fields it needs, with simdjson on-demand.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {

// What a chat/completions request asks for (only the fields the mock needs).
struct TextRequest {
  std::string model = "mock";
  bool stream = false;
  bool include_usage = false;
  std::int64_t max_tokens = -1;   // max_tokens or max_completion_tokens; -1 = not given
  std::int64_t prompt_chars = 0;  // bytes of prompt/message text (token-id prompts count 4 per id)
  std::int64_t image_parts = 0;   // chat content parts of type image_url
};
struct EmbeddingsRequest {
  std::string model = "mock";
  std::int64_t inputs = 0;
  std::int64_t prompt_chars = 0;
};

struct ImageRequest;  // images.hpp

// One per loop thread: reuses the simdjson parser and a padded copy of the body.
class RequestParser {
 public:
  RequestParser();
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;
  // Fill `out`, or return false with a message for a 400 reply.
  bool parse_text(std::string_view body, Endpoint endpoint, TextRequest& out, std::string& error);
  bool parse_embeddings(std::string_view body, EmbeddingsRequest& out, std::string& error);
  bool parse_image_generation(std::string_view body, ImageRequest& out, std::string& error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aiperf::mock
