// The text replies of the mock server (chat, completions, embeddings, models, health, errors): plain string
// building, precomputed where a stream repeats it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "aiperf/encode/json_writer.hpp"
#include "aiperf/mock/requests.hpp"
#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {

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
  std::string id;  // "chatcmpl-…" / "cmpl-…"
  std::int64_t created = 0;
  std::string model_json;  // already quoted and escaped
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  bool finished_by_length = false;  // the request's own limit cut the output: finish_reason "length"
  bool include_usage = false;       // streams: the usage event
  bool usage = true;                // no-usage: false, no usage object in the body or the stream
  bool empty = false;               // empty-response: a stream's only content event is the role-only one
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

}  // namespace aiperf::mock
