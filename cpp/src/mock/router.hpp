// The mock server's request handling: the route of each request, its parsing, its fault, and the reply it gets
// (handed to the reply scheduler). One per loop thread.
#pragma once
#include <event2/http.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/mock/faults.hpp"
#include "aiperf/mock/images.hpp"
#include "aiperf/mock/requests.hpp"
#include "aiperf/mock/server.hpp"
#include "aiperf/mock/timing_log.hpp"
#include "counters.hpp"
#include "reply_scheduler.hpp"

namespace aiperf::mock {

class Router {
 public:
  Router(const MockServerConfig& config, int index, int port, std::shared_ptr<ImageCache> images,
         ReplyScheduler& replies, Counters& counters, TimingRecorder* timing);

  void handle(evhttp_request* request);

 private:
  void handle_text(evhttp_request* request, Endpoint endpoint);
  void handle_embeddings(evhttp_request* request);
  void handle_image(evhttp_request* request, Endpoint endpoint);
  void handle_mock_image(evhttp_request* request, std::string_view path);
  // The request's fault (chosen by its X-Request-ID) when it fits a reply of this shape, else Fault::none.
  Fault draw_fault(evhttp_request* request, Endpoint endpoint, bool stream, bool b64_images);
  // Where the client reached us (its Host header), so image URLs work through port forwards and proxies.
  std::string url_base(evhttp_request* request) const;
  std::uint64_t next_serial() { return (static_cast<std::uint64_t>(index_) << 48) | ++serial_; }

  const int index_;
  const std::int64_t ttft_ns_;
  const std::int64_t itl_ns_;
  const std::int64_t image_latency_ns_;
  const std::int64_t output_tokens_;
  const std::string default_url_base_;  // image URLs when the request has no Host header
  std::shared_ptr<ImageCache> images_;  // shared by every loop thread of the server
  const std::vector<FaultRule> faults_;
  const std::uint64_t fault_seed_;
  std::uint64_t unnamed_requests_ = 0;  // fault keys of requests without an X-Request-ID
  std::uint64_t serial_ = 0;
  RequestParser parser_;
  ReplyScheduler& replies_;
  Counters& counters_;
  TimingRecorder* timing_;  // --timing-log only
};

}  // namespace aiperf::mock
