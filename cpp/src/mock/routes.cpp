// The mock server's route table.
#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {
namespace {

constexpr Route kRoutes[] = {
    {"/health", Method::get, Endpoint::health},
    {"/", Method::get, Endpoint::health},
    {"/v1/models", Method::get, Endpoint::models},
    {"/v1/chat/completions", Method::post, Endpoint::chat_completions},
    {"/v1/completions", Method::post, Endpoint::completions},
    {"/v1/embeddings", Method::post, Endpoint::embeddings},
    {"/v1/images/generations", Method::post, Endpoint::image_generations},
    {"/v1/images/edits", Method::post, Endpoint::image_edits},
    {"/v1/mock-images/", Method::get, Endpoint::mock_image, true},
};

}  // namespace

const Route* find_route(std::string_view path, Method method, bool* path_known) {
  if (path_known) *path_known = false;
  for (const Route& route : kRoutes) {
    if (route.prefix ? !path.starts_with(route.path) : route.path != path) continue;
    if (route.method == method) return &route;
    if (path_known) *path_known = true;
  }
  return nullptr;
}

}  // namespace aiperf::mock
