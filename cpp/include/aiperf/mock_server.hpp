// The OpenAI-compatible mock server (libevent evhttp): MockServer runs it; aiperf::mock holds the request
// parsing and response text it serves, kept free of libevent so GoogleTest can check them directly.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "aiperf/encode/json_writer.hpp"

namespace aiperf {

namespace mock {
// Faulty-server modes (`aiperf mock-server --fault KIND:FRACTION`, docs/reliability.md); the names are
// fault_name()'s. A fault that does not fit a request (bad-base64 on a text reply, no-done on a non-streaming one)
// leaves it a normal reply.
enum class Fault : std::uint8_t {
  none,
  http_500,               // 500 with an OpenAI error body
  http_429,               // 429 with Retry-After: 1 and an OpenAI error body
  http_400,               // 400 with an OpenAI error body
  reset_before_response,  // TCP RST before any response byte
  reset_mid_stream,       // head and half the body (streams: half the tokens), then TCP RST
  no_done,                // text streams: every event but the final data: [DONE]
  bad_json,               // non-streaming: the body cut in half; streams: one event's JSON cut short
  bad_sse,                // streams: the second half of the events without their `data:` field name
  huge_response,          // a reply of MockServerConfig::huge_response_bytes, written as the client reads it
  hang,                   // the request is read and never answered
  trickle,                // the reply one byte per 100 ms
  wrong_content_type,     // 200 with Content-Type text/html and an HTML page
  bad_base64,             // images (b64_json): every image's base64 starts with '*'
  empty_response,         // a 200 without content: a role-only stream event, "" content, "data": []
  no_usage,               // no usage object, even when stream_options.include_usage asks for one
  ignore_max_tokens,      // text: MockServerConfig::output_tokens tokens whatever max_tokens says
};
inline constexpr int kFaultKinds = static_cast<int>(Fault::ignore_max_tokens) + 1;  // none included
struct FaultRule {
  Fault fault = Fault::none;
  double fraction = 0.0;  // of the requests, 0 to 1; the rules' fractions add up to at most 1
};
}  // namespace mock

struct MockServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;              // 0 = pick a free port
  double ttft_ms = 20.0;     // time to first token (AIPerf's mock default)
  double itl_ms = 5.0;       // inter-token latency (AIPerf's mock default)
  int output_tokens = 128;   // tokens per completion when the request does not ask for fewer
  int threads = 1;           // event-loop threads, each with its own SO_REUSEPORT listener
  double image_latency_ms = 100.0;  // /v1/images/*: request arrival to the reply (or to the completed events)
  std::vector<mock::FaultRule> faults;  // which fraction of the inference requests gets which fault
  std::uint64_t seed = 0;               // chooses the faulty requests (see mock::choose_fault)
  std::int64_t huge_response_bytes = std::int64_t{1} << 30;  // size of a huge-response reply
  std::string timing_log_path;  // non-empty: log receive and send times per request there (docs/accuracy.md)
};

// Runs the server on background threads. stop() may be called from any thread; the destructor stops and joins.
class MockServer {
 public:
  explicit MockServer(MockServerConfig config);
  ~MockServer();
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  int start();  // binds, starts the loop threads, returns the bound port; throws aiperf::Error
  void stop();
  bool wait(double timeout_s);  // true once every loop thread has finished
  int port() const;
  std::map<std::string, std::int64_t> stats() const;  // requests per route, streams, disconnects, token lateness

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace mock {

// Routes are a table (path, method) -> Endpoint; a new route (e.g. /v1/images/generations) is one row here,
// one parser/body builder in mock_server_responses.cpp and one case in the dispatcher.
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

struct ImageRequest;  // below, with the image routes

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

// The output tokens: a cycle of words that are each exactly one GPT-2 BPE token including the leading space.
std::string_view output_token(std::int64_t index);
// min(requested, cap) when the request gives a limit, else cap.
std::int64_t output_token_count(const TextRequest& request, std::int64_t cap);
// Prompt token estimate: ceil(chars / 4), as AIPerf's mock does.
std::int64_t prompt_token_estimate(std::int64_t prompt_chars);
// What one chat image_url part adds to usage.prompt_tokens (OpenAI's fixed low-detail image cost).
inline constexpr std::int64_t kChatImagePartTokens = 85;

// The project's JSON string writer; echoed request bytes may be invalid UTF-8, which becomes U+FFFD rather than an
// exception inside a libevent callback.
inline void append_json_string(std::string& out, std::string_view text) {
  aiperf::append_json_string(out, text, InvalidUtf8::replace);
}

// The parts of a completion reply that do not change between its events.
struct ReplyHeader {
  Endpoint endpoint = Endpoint::chat_completions;
  std::string id;        // "chatcmpl-…" / "cmpl-…"
  std::int64_t created = 0;
  std::string model_json;  // already quoted and escaped
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  bool finished_by_length = false;  // the request's own limit cut the output: finish_reason "length"
  bool include_usage = false;  // streams: the usage event
  bool usage = true;           // no-usage: false, no usage object in the body or the stream
  bool empty = false;          // empty-response: a stream's only content event is the role-only one
};
ReplyHeader make_reply_header(Endpoint endpoint, const TextRequest& request, std::int64_t output_tokens_cap,
                              std::uint64_t serial, std::int64_t created_unix_s);

std::string completion_body(const ReplyHeader& header);  // non-streaming chat.completion / text_completion
// SSE: the constant start of every token event of this reply ("data: {…,\"choices\":[{\"index\":0,").
std::string stream_event_prefix(const ReplyHeader& header);
void append_stream_token_event(std::string& out, const ReplyHeader& header, std::string_view prefix,
                               std::int64_t token_index);
// The finish_reason event, the usage event when asked for, and data: [DONE] (unless done_marker is false);
// an empty reply (header.empty) first gets its role-only event.
void append_stream_end_events(std::string& out, const ReplyHeader& header, std::string_view prefix,
                              bool done_marker = true);

std::string embeddings_body(const EmbeddingsRequest& request, bool with_usage = true);
std::string models_body();
std::string health_body();
std::string error_body(std::string_view message, std::string_view type);

// ---- Faults (mock_server_faults.cpp) ----

std::string_view fault_name(Fault fault);  // "http-500", "reset-mid-stream", …; "none"
Fault fault_from_name(std::string_view name);  // Fault::none for an unknown name
// Throws aiperf::Error naming the problem: an unknown kind, a kind listed twice, a fraction outside 0..1, or
// fractions adding up to more than 1.
void validate_fault_rules(const std::vector<FaultRule>& rules);
// The fault of the request with this key (its X-Request-ID): a hash of seed and key, read as a number in [0, 1),
// falls into one of the rules' fractions laid end to end, or past them (Fault::none). The same key gets the same
// fault, so a request libcurl resends on a fresh connection after a reset is reset again.
Fault choose_fault(const std::vector<FaultRule>& rules, std::uint64_t seed, std::string_view request_key);
// Whether a fault changes a reply of this shape (b64_images: an image reply carrying base64 images).
bool fault_applies(Fault fault, Endpoint endpoint, bool stream, bool b64_images);

// A huge-response reply: head, then filler repeated filler_count times, then tail; about total_bytes long and
// well-formed (a client without a size limit can parse it).
struct HugeReply {
  std::string head;
  std::string_view filler;  // a static 1 MiB block
  std::int64_t filler_count = 0;
  std::string tail;
};
HugeReply huge_reply(Endpoint endpoint, bool stream, std::int64_t total_bytes);
// The page a wrong-content-type reply carries (what a misrouted proxy answers with).
std::string_view wrong_content_type_page();
// bad-base64: the first character of every "b64_json" string value becomes '*'.
void corrupt_base64(std::string& text);
// bad-sse: every `data:` line of the text loses its field name (the JSON stays, as a line of its own).
void strip_data_fields(std::string& text);
// bad-json: the first SSE event of the text ("data: {…}\n\n") loses its closing brace.
void break_first_event_json(std::string& text);
// The faults that change a text reply's content rather than how it is sent (empty-response, no-usage,
// ignore-max-tokens); others leave the header as it is.
void apply_reply_fault(ReplyHeader& header, Fault fault, std::int64_t output_tokens_cap);

// ---- Images (mock_server_images.cpp) ----

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
  int partial_images = 0;  // streaming: preview events per image before the completed one (0-3)
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

}  // namespace mock
}  // namespace aiperf
