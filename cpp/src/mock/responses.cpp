// The mock server's text replies: plain string building, precomputed where possible. No libevent here.
#include "aiperf/mock/responses.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace aiperf::mock {
namespace {

// Each " word" is a single GPT-2 BPE token, so a GPT-2 tokenizer counts exactly one token per word emitted.
constexpr std::array<std::string_view, 10> kTokens = {" the", " of", " and",  " to",  " in",
                                                      " a",   " is", " that", " for", " it"};

constexpr int kEmbeddingDimensions = 768;
// Where "choices" starts in a stream event prefix, so the usage event can reuse the part before it.
constexpr std::string_view kChoicesStart = "\"choices\":[{\"index\":0,";

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void append_usage(std::string& out, const ReplyHeader& header) {
  out += "\"usage\":{\"prompt_tokens\":";
  append_int(out, header.prompt_tokens);
  out += ",\"completion_tokens\":";
  append_int(out, header.completion_tokens);
  out += ",\"total_tokens\":";
  append_int(out, header.prompt_tokens + header.completion_tokens);
  out += '}';
}

std::string_view finish_reason(const ReplyHeader& header) {
  return header.finished_by_length ? "\"length\"" : "\"stop\"";
}

std::string_view object_name(const ReplyHeader& header, bool streaming) {
  if (header.endpoint == Endpoint::completions) return "text_completion";
  return streaming ? "chat.completion.chunk" : "chat.completion";
}

void append_reply_head(std::string& out, const ReplyHeader& header, bool streaming) {
  out += "{\"id\":\"";
  out += header.id;
  out += "\",\"object\":\"";
  out += object_name(header, streaming);
  out += "\",\"created\":";
  append_int(out, header.created);
  out += ",\"model\":";
  out += header.model_json;
  out += ',';
}

std::string build_embedding_vector() {
  // A fixed unit-length vector: the mock's embeddings only need the right shape and size.
  std::array<double, kEmbeddingDimensions> values{};
  double norm = 0;
  for (int i = 0; i < kEmbeddingDimensions; ++i) {
    values[i] = std::sin(0.1 * (i + 1));
    norm += values[i] * values[i];
  }
  norm = std::sqrt(norm);
  std::string out = "[";
  for (int i = 0; i < kEmbeddingDimensions; ++i) {
    if (i) out += ',';
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof buffer, values[i] / norm, std::chars_format::fixed, 6);
    out.append(buffer, result.ptr);
  }
  out += ']';
  return out;
}

}  // namespace

std::string_view output_token(std::int64_t index) { return kTokens[static_cast<std::size_t>(index) % kTokens.size()]; }

std::int64_t output_token_count(const TextRequest& request, std::int64_t cap) {
  return request.max_tokens >= 0 ? std::min(request.max_tokens, cap) : cap;
}

std::int64_t prompt_token_estimate(std::int64_t prompt_chars) { return (prompt_chars + 3) / 4; }

ReplyHeader make_reply_header(Endpoint endpoint, const TextRequest& request, std::int64_t output_tokens_cap,
                              std::uint64_t serial, std::int64_t created_unix_s) {
  ReplyHeader header;
  header.endpoint = endpoint;
  header.id = endpoint == Endpoint::completions ? "cmpl-mock-" : "chatcmpl-mock-";
  // 16 hex digits, zero-padded like real servers' fixed-length ids (so ids of different requests look alike).
  char buffer[16];
  for (int i = 15; i >= 0; --i, serial >>= 4) buffer[i] = "0123456789abcdef"[serial & 0xF];
  header.id.append(buffer, sizeof buffer);
  header.created = created_unix_s;
  append_json_string(header.model_json, request.model);
  header.prompt_tokens = prompt_token_estimate(request.prompt_chars) + request.image_parts * kChatImagePartTokens;
  header.completion_tokens = output_token_count(request, output_tokens_cap);
  header.finished_by_length = request.max_tokens >= 0 && request.max_tokens <= output_tokens_cap;
  header.include_usage = request.include_usage;
  return header;
}

std::string completion_body(const ReplyHeader& header) {
  std::string out;
  out.reserve(256 + 6 * static_cast<std::size_t>(header.completion_tokens));
  append_reply_head(out, header, false);
  out += header.endpoint == Endpoint::completions
             ? "\"choices\":[{\"index\":0,\"text\":\""
             : "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"";
  for (std::int64_t i = 0; i < header.completion_tokens; ++i) out += output_token(i);
  out += header.endpoint == Endpoint::completions ? "\"" : "\"}";
  out += ",\"logprobs\":null,\"finish_reason\":";
  out += finish_reason(header);
  out += "}]";
  if (header.usage) {
    out += ',';
    append_usage(out, header);
  }
  out += '}';
  return out;
}

std::string stream_event_prefix(const ReplyHeader& header) {
  std::string out = "data: ";
  append_reply_head(out, header, true);
  out += kChoicesStart;
  return out;
}

void append_stream_token_event(std::string& out, const ReplyHeader& header, std::string_view prefix,
                               std::int64_t token_index) {
  out += prefix;
  if (header.endpoint == Endpoint::completions) {
    out += "\"text\":\"";
    out += output_token(token_index);
    out += "\",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  } else {
    out += token_index == 0 ? "\"delta\":{\"role\":\"assistant\",\"content\":\"" : "\"delta\":{\"content\":\"";
    out += output_token(token_index);
    out += "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  }
}

void append_stream_end_events(std::string& out, const ReplyHeader& header, std::string_view prefix, bool done_marker) {
  if (header.empty) {
    // What llama.cpp's server sends a stream it sheds: the role, no content.
    out += prefix;
    out += header.endpoint == Endpoint::completions ? "\"text\":\"\"" : "\"delta\":{\"role\":\"assistant\"}";
    out += ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  }
  out += prefix;
  out += header.endpoint == Endpoint::completions ? "\"text\":\"\"" : "\"delta\":{}";
  out += ",\"logprobs\":null,\"finish_reason\":";
  out += finish_reason(header);
  out += "}]}\n\n";
  if (header.include_usage && header.usage) {
    out += prefix.substr(0, prefix.size() - kChoicesStart.size());
    out += "\"choices\":[],";
    append_usage(out, header);
    out += "}\n\n";
  }
  if (done_marker) out += "data: [DONE]\n\n";
}

std::string embeddings_body(const EmbeddingsRequest& request, bool with_usage) {
  static const std::string vector = build_embedding_vector();
  std::string out;
  out.reserve(64 + static_cast<std::size_t>(request.inputs) * (vector.size() + 48));
  out += "{\"object\":\"list\",\"data\":[";
  for (std::int64_t i = 0; i < request.inputs; ++i) {
    if (i) out += ',';
    out += "{\"object\":\"embedding\",\"index\":";
    append_int(out, i);
    out += ",\"embedding\":";
    out += vector;
    out += '}';
  }
  out += "],\"model\":";
  append_json_string(out, request.model);
  if (!with_usage) {
    out += '}';
    return out;
  }
  std::int64_t prompt_tokens = prompt_token_estimate(request.prompt_chars);
  out += ",\"usage\":{\"prompt_tokens\":";
  append_int(out, prompt_tokens);
  out += ",\"total_tokens\":";
  append_int(out, prompt_tokens);
  out += "}}";
  return out;
}

std::string models_body() {
  return R"({"object":"list","data":[{"id":"mock","object":"model","created":0,"owned_by":"aiperf"}]})";
}

std::string health_body() { return R"({"status":"ok"})"; }

std::string error_body(std::string_view message, std::string_view type) {
  std::string out = "{\"error\":{\"message\":";
  append_json_string(out, message);
  out += ",\"type\":";
  append_json_string(out, type);
  out += ",\"param\":null,\"code\":null}}";
  return out;
}

}  // namespace aiperf::mock
