// The mock server's router and per-endpoint handlers: parse, count, choose the fault, build the reply, and leave
// when it is sent to the reply scheduler.
#include "router.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "aiperf/common/clock.hpp"

namespace aiperf::mock {
namespace {

Method method_of(evhttp_request* request) {
  switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD: return Method::get;
    case EVHTTP_REQ_POST: return Method::post;
    default: return Method::other;
  }
}

const char* method_name(evhttp_request* request) {
  switch (evhttp_request_get_command(request)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
  }
}

std::string_view body_of(evhttp_request* request) {
  evbuffer* input = evhttp_request_get_input_buffer(request);
  std::size_t length = evbuffer_get_length(input);
  if (length == 0) return {};
  return {reinterpret_cast<const char*>(evbuffer_pullup(input, -1)), length};
}

std::string default_url_base(const std::string& host, int port) {
  std::string reachable = host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  if (reachable.find(':') != std::string::npos) reachable = "[" + reachable + "]";
  return "http://" + reachable + ":" + std::to_string(port);
}

}  // namespace

Router::Router(const MockServerConfig& config, int index, int port, std::shared_ptr<ImageCache> images,
               ReplyScheduler& replies, Counters& counters, TimingRecorder* timing)
    : index_(index),
      ttft_ns_(std::llround(config.ttft_ms * 1e6)),
      itl_ns_(std::llround(config.itl_ms * 1e6)),
      image_latency_ns_(std::llround(config.image_latency_ms * 1e6)),
      output_tokens_(config.output_tokens),
      default_url_base_(default_url_base(config.host, port)),
      images_(std::move(images)),
      faults_(config.faults),
      fault_seed_(config.seed),
      replies_(replies),
      counters_(counters),
      timing_(timing) {}

void Router::handle(evhttp_request* request) {
  const std::int64_t recv_ns = timing_ ? monotonic_ns() : 0;  // first: the request has just been read whole
  const char* uri = evhttp_request_get_uri(request);
  std::string_view path = uri ? uri : "";
  path = path.substr(0, path.find('?'));
  std::uint64_t timed = 0;
  if (timing_) {
    const char* request_id = evhttp_find_header(evhttp_request_get_input_headers(request), "X-Request-ID");
    timed = timing_->received(recv_ns, path, request_id ? std::string_view(request_id) : std::string_view());
  }
  replies_.set_timed(timed);
  bool path_known = false;
  const Route* route = find_route(path, method_of(request), &path_known);
  if (!route) {
    if (path_known) {
      counters_.add(kMethodNotAllowed);
      replies_.send_error(request, 405, "Method not allowed for " + std::string(path));
    } else {
      counters_.add(kNotFound);
      replies_.send_error(request, 404,
                          std::string("Invalid URL (") + method_name(request) + " " + std::string(path) + ")",
                          "not_found_error");
    }
    return;
  }
  switch (route->endpoint) {
    case Endpoint::health:
      counters_.add(kHealth);
      replies_.send_now(request, 200, health_body());
      break;
    case Endpoint::models:
      counters_.add(kModels);
      replies_.send_now(request, 200, models_body());
      break;
    case Endpoint::chat_completions:
    case Endpoint::completions: handle_text(request, route->endpoint); break;
    case Endpoint::embeddings: handle_embeddings(request); break;
    case Endpoint::image_generations:
    case Endpoint::image_edits: handle_image(request, route->endpoint); break;
    case Endpoint::mock_image: handle_mock_image(request, path); break;
  }
}

std::string Router::url_base(evhttp_request* request) const {
  const char* host = evhttp_find_header(evhttp_request_get_input_headers(request), "Host");
  if (!host || !*host) return default_url_base_;
  return std::string("http://") + host;
}

void Router::handle_text(evhttp_request* request, Endpoint endpoint) {
  const std::int64_t start_ns = monotonic_ns();
  TextRequest parsed;
  std::string error;
  if (!parser_.parse_text(body_of(request), endpoint, parsed, error)) {
    counters_.add(kBadRequest);
    replies_.send_error(request, 400, error);
    return;
  }
  counters_.add(endpoint == Endpoint::completions ? kCompletions : kChatCompletions);
  if (parsed.image_parts > 0) counters_.add(kChatImageParts, parsed.image_parts);
  const Fault fault = draw_fault(request, endpoint, parsed.stream, false);
  replies_.log_shape(parsed.stream, fault);
  if (replies_.faults().serve_replacing(request, fault, endpoint, parsed.stream)) return;
  ReplyHeader header = make_reply_header(endpoint, parsed, output_tokens_, next_serial(), std::time(nullptr));
  apply_reply_fault(header, fault, output_tokens_);
  if (parsed.stream) {
    replies_.start_stream(request, std::move(header), start_ns + ttft_ns_).fault = fault;
    return;
  }
  const std::int64_t tokens = header.completion_tokens;
  // Non-streaming: the reply when its last token would have been sent.
  replies_.send_at(request, start_ns + ttft_ns_ + std::max<std::int64_t>(0, tokens - 1) * itl_ns_,
                   completion_body(header), fault);
}

void Router::handle_embeddings(evhttp_request* request) {
  const std::int64_t start_ns = monotonic_ns();
  EmbeddingsRequest parsed;
  std::string error;
  if (!parser_.parse_embeddings(body_of(request), parsed, error)) {
    counters_.add(kBadRequest);
    replies_.send_error(request, 400, error);
    return;
  }
  counters_.add(kEmbeddings);
  const Fault fault = draw_fault(request, Endpoint::embeddings, false, false);
  replies_.log_shape(false, fault);
  if (replies_.faults().serve_replacing(request, fault, Endpoint::embeddings, false)) return;
  if (fault == Fault::empty_response) parsed.inputs = 0;
  replies_.send_at(request, start_ns + ttft_ns_, embeddings_body(parsed, fault != Fault::no_usage), fault);
}

void Router::handle_image(evhttp_request* request, Endpoint endpoint) {
  const std::int64_t start_ns = monotonic_ns();
  ImageRequest parsed;
  std::string error;
  bool ok;
  if (endpoint == Endpoint::image_edits) {
    const char* content_type = evhttp_find_header(evhttp_request_get_input_headers(request), "Content-Type");
    ok = parse_image_edit(content_type ? content_type : "", body_of(request), parsed, error);
  } else {
    ok = parser_.parse_image_generation(body_of(request), parsed, error);
  }
  if (!ok) {
    counters_.add(kBadRequest);
    replies_.send_error(request, 400, error);
    return;
  }
  counters_.add(endpoint == Endpoint::image_edits ? kImageEdits : kImageGenerations);
  // Exceptions must not unwind through libevent: an encoder failure becomes a 500 reply.
  std::shared_ptr<const MockImage> image;
  try {
    const auto [width, height] = image_output_size(parsed);
    image = images_->get(width, height);
  } catch (const std::exception& e) {
    replies_.send_error(request, 500, std::string("mock server could not draw the image: ") + e.what(), "server_error");
    return;
  }
  const bool b64_images = parsed.stream || parsed.response_format == ImageResponseFormat::b64_json;
  const Fault fault = draw_fault(request, endpoint, parsed.stream, b64_images);
  replies_.log_shape(parsed.stream, fault);
  if (replies_.faults().serve_replacing(request, fault, endpoint, parsed.stream)) return;
  if (fault == Fault::empty_response) parsed.n = parsed.partial_images = 0;  // "data": [], a bare [DONE]
  const bool with_usage = fault != Fault::no_usage;
  counters_.add(kImagesSent, parsed.n);
  const std::int64_t created = std::time(nullptr);
  if (!parsed.stream) {
    std::string body = images_body(parsed, *image, url_base(request), created, with_usage);
    if (fault == Fault::bad_base64) corrupt_base64(body);
    replies_.send_at(request, start_ns + image_latency_ns_, std::move(body), fault);
    return;
  }
  PendingReply& reply = replies_.open_stream(request);
  reply.fault = fault;
  reply.events_per_image_round = static_cast<std::uint32_t>(parsed.n);
  reply.image_events = image_stream_events(endpoint, parsed, *image, created, with_usage);
  std::string& completed = reply.image_events.back();  // the completed events and data: [DONE]
  if (fault == Fault::bad_base64) {
    for (std::string& round : reply.image_events) corrupt_base64(round);
  } else if (fault == Fault::bad_sse) {
    strip_data_fields(completed);
  } else if (fault == Fault::bad_json) {
    break_first_event_json(completed);
  }
  // Preview rounds spread evenly over the latency; the completed events at its end.
  const auto rounds = static_cast<std::int64_t>(reply.image_events.size());
  for (std::int64_t k = 1; k <= rounds; ++k) {
    reply.image_event_due_ns.push_back(start_ns + image_latency_ns_ * k / rounds);
  }
  reply.first_due_ns = reply.image_event_due_ns.front();
  replies_.schedule(reply, reply.first_due_ns);
}

void Router::handle_mock_image(evhttp_request* request, std::string_view path) {
  const auto [width, height] = mock_image_path_size(path);
  if (width <= 0) {
    counters_.add(kNotFound);
    replies_.send_error(request, 404,
                        "No mock image at " + std::string(path) + " (expected /v1/mock-images/WIDTHxHEIGHT.png)",
                        "not_found_error");
    return;
  }
  counters_.add(kMockImages);
  std::shared_ptr<const MockImage> image;
  try {
    image = images_->get(width, height);
  } catch (const std::exception& e) {
    replies_.send_error(request, 500, std::string("mock server could not draw the image: ") + e.what(), "server_error");
    return;
  }
  replies_.send_now(request, 200, image->png, "image/png");
}

Fault Router::draw_fault(evhttp_request* request, Endpoint endpoint, bool stream, bool b64_images) {
  if (faults_.empty()) return Fault::none;
  const char* request_id = evhttp_find_header(evhttp_request_get_input_headers(request), "X-Request-ID");
  const std::string key =
      request_id ? std::string(request_id) : "#" + std::to_string(index_) + "-" + std::to_string(++unnamed_requests_);
  const Fault fault = choose_fault(faults_, fault_seed_, key);
  if (!fault_applies(fault, endpoint, stream, b64_images)) return Fault::none;
  counters_.add_fault(fault);
  return fault;
}

}  // namespace aiperf::mock
