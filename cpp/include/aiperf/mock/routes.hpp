// The mock server's routes: a table (path, method) -> Endpoint, searched per request.
#pragma once
#include <cstdint>
#include <string_view>

namespace aiperf::mock {

// Routes are a table (path, method) -> Endpoint; a new route (e.g. /v1/images/generations) is one row here,
// one parser (requests.hpp), one body builder (responses.hpp) and one handler in src/mock/router.cpp.
enum class Endpoint : std::uint8_t {
  health,
  models,
  chat_completions,
  completions,
  embeddings,
  image_generations,
  image_edits,
  mock_image,  // GET /v1/mock-images/<W>x<H>.png: the images that response_format "url" points at
};
enum class Method : std::uint8_t { get, post, other };
struct Route {
  std::string_view path;
  Method method;
  Endpoint endpoint;
  bool prefix = false;  // the path is a prefix of the request path (e.g. /v1/mock-images/)
};
// Finds the route for a path (query string already removed). Returns nullptr when the path is unknown;
// *path_known is set when the path exists with another method.
const Route* find_route(std::string_view path, Method method, bool* path_known);

}  // namespace aiperf::mock
