// The OpenAI-compatible mock server (libevent evhttp): MockServer runs it; aiperf::mock holds the request
// parsing and response text it serves, kept free of libevent so GoogleTest can check them directly.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace aiperf {

struct MockServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;              // 0 = pick a free port
  double ttft_ms = 20.0;     // time to first token (AIPerf's mock default)
  double itl_ms = 5.0;       // inter-token latency (AIPerf's mock default)
  int output_tokens = 128;   // tokens per completion when the request does not ask for fewer
  int threads = 1;           // event-loop threads, each with its own SO_REUSEPORT listener
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
enum class Endpoint : std::uint8_t { health, models, chat_completions, completions, embeddings };
enum class Method : std::uint8_t { get, post, other };
struct Route {
  std::string_view path;
  Method method;
  Endpoint endpoint;
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
};
struct EmbeddingsRequest {
  std::string model = "mock";
  std::int64_t inputs = 0;
  std::int64_t prompt_chars = 0;
};

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

void append_json_string(std::string& out, std::string_view text);  // quoted and escaped

// The parts of a completion reply that do not change between its events.
struct ReplyHeader {
  Endpoint endpoint = Endpoint::chat_completions;
  std::string id;        // "chatcmpl-…" / "cmpl-…"
  std::int64_t created = 0;
  std::string model_json;  // already quoted and escaped
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  bool finished_by_length = false;  // the request's own limit cut the output: finish_reason "length"
  bool include_usage = false;
};
ReplyHeader make_reply_header(Endpoint endpoint, const TextRequest& request, std::int64_t output_tokens_cap,
                              std::uint64_t serial, std::int64_t created_unix_s);

std::string completion_body(const ReplyHeader& header);  // non-streaming chat.completion / text_completion
// SSE: the constant start of every token event of this reply ("data: {…,\"choices\":[{\"index\":0,").
std::string stream_event_prefix(const ReplyHeader& header);
void append_stream_token_event(std::string& out, const ReplyHeader& header, std::string_view prefix,
                               std::int64_t token_index);
// The finish_reason event, the usage event when asked for, and data: [DONE].
void append_stream_end_events(std::string& out, const ReplyHeader& header, std::string_view prefix);

std::string embeddings_body(const EmbeddingsRequest& request);
std::string models_body();
std::string health_body();
std::string error_body(std::string_view message, std::string_view type);

}  // namespace mock
}  // namespace aiperf
