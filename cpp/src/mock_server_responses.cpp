// The mock server's routes, request parsing (simdjson on-demand, only the fields it needs) and response text
// (plain string building, precomputed where possible). No libevent here.
#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "aiperf/mock_server.hpp"

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

// Each " word" is a single GPT-2 BPE token, so a GPT-2 tokenizer counts exactly one token per word emitted.
constexpr std::array<std::string_view, 10> kTokens = {" the", " of", " and", " to", " in",
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

// Text a prompt carries: a string, or a list of strings / token ids / token-id lists (4 chars per id).
std::int64_t prompt_chars_of(simdjson::ondemand::value value) {
  using simdjson::ondemand::json_type;
  switch (value.type()) {
    case json_type::string:
      return static_cast<std::int64_t>(std::string_view(value.get_string()).size());
    case json_type::number:
      return 4;
    case json_type::array: {
      std::int64_t chars = 0;
      for (auto element : value.get_array()) chars += prompt_chars_of(element.value());
      return chars;
    }
    case json_type::null:
      return 0;
    default:
      throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
  }
}

struct ContentCount {
  std::int64_t chars = 0;
  std::int64_t image_parts = 0;
};

// Chat content: a string or a list of parts; text parts count their characters, image_url (and input_image)
// parts are counted, other parts (audio, files) are accepted and ignored.
void count_message_content(simdjson::ondemand::value content, ContentCount& count) {
  using simdjson::ondemand::json_type;
  switch (content.type()) {
    case json_type::string:
      count.chars += static_cast<std::int64_t>(std::string_view(content.get_string()).size());
      return;
    case json_type::array:
      for (auto element : content.get_array()) {
        simdjson::ondemand::value part = element.value();
        if (part.type() == json_type::string) {
          count.chars += static_cast<std::int64_t>(std::string_view(part.get_string()).size());
          continue;
        }
        if (part.type() != json_type::object) continue;
        for (auto field : part.get_object()) {
          std::string_view key = field.unescaped_key();
          if (key == "text") {
            simdjson::ondemand::value text = field.value();
            if (text.type() == json_type::string) {
              count.chars += static_cast<std::int64_t>(std::string_view(text.get_string()).size());
            }
          } else if (key == "type") {
            simdjson::ondemand::value type = field.value();
            if (type.type() != json_type::string) continue;
            std::string_view name = type.get_string();
            if (name == "image_url" || name == "input_image") ++count.image_parts;
          }
        }
      }
      return;
    default:
      return;  // null, or a shape the mock does not need to read
  }
}

ContentCount count_messages(simdjson::ondemand::value messages) {
  ContentCount count;
  for (auto message : messages.get_array()) {
    for (auto field : message.get_object()) {
      if (std::string_view(field.unescaped_key()) == "content") count_message_content(field.value(), count);
    }
  }
  return count;
}

std::string invalid_body_message(std::string_view field, const simdjson::simdjson_error& e) {
  std::string message = "Invalid request body";
  if (!field.empty()) {
    message += " (field '";
    message += field;
    message += "')";
  }
  message += ": ";
  message += e.what();
  return message;
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

const Route* find_route(std::string_view path, Method method, bool* path_known) {
  if (path_known) *path_known = false;
  for (const Route& route : kRoutes) {
    if (route.prefix ? !path.starts_with(route.path) : route.path != path) continue;
    if (route.method == method) return &route;
    if (path_known) *path_known = true;
  }
  return nullptr;
}

struct RequestParser::Impl {
  simdjson::ondemand::parser parser;
  std::string padded;  // the body copied with simdjson's required padding, reused between requests

  simdjson::padded_string_view pad(std::string_view body) {
    if (padded.size() < body.size() + simdjson::SIMDJSON_PADDING) padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(padded.data(), body.data(), body.size());
    return simdjson::padded_string_view(padded.data(), body.size(), padded.size());
  }
};

RequestParser::RequestParser() : impl_(std::make_unique<Impl>()) {}
RequestParser::~RequestParser() = default;

bool RequestParser::parse_text(std::string_view body, Endpoint endpoint, TextRequest& out, std::string& error) {
  out = TextRequest{};
  std::string_view field_name;
  try {
    simdjson::ondemand::document doc = impl_->parser.iterate(impl_->pad(body));
    for (auto field : doc.get_object()) {
      field_name = field.unescaped_key();
      simdjson::ondemand::value value = field.value();
      if (field_name == "model") {
        out.model = std::string(std::string_view(value.get_string()));
      } else if (field_name == "stream") {
        out.stream = value.is_null() ? false : bool(value.get_bool());
      } else if (field_name == "stream_options") {
        if (value.is_null()) continue;
        for (auto option : value.get_object()) {
          if (std::string_view(option.unescaped_key()) == "include_usage") {
            simdjson::ondemand::value include = option.value();
            out.include_usage = include.is_null() ? false : bool(include.get_bool());
          }
        }
      } else if (field_name == "max_tokens" || field_name == "max_completion_tokens") {
        if (value.is_null()) continue;
        std::int64_t limit = value.get_int64();
        if (limit < 0) {
          error = std::string(field_name) + " must be a non-negative integer";
          return false;
        }
        // Both given: the smaller limit wins, as the output can honour neither more.
        out.max_tokens = out.max_tokens < 0 ? limit : std::min(out.max_tokens, limit);
      } else if (field_name == "messages" && endpoint == Endpoint::chat_completions) {
        ContentCount count = count_messages(value);
        out.prompt_chars += count.chars;
        out.image_parts += count.image_parts;
      } else if (field_name == "prompt" && endpoint == Endpoint::completions) {
        out.prompt_chars += prompt_chars_of(value);
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    error = invalid_body_message(field_name, e);
    return false;
  }
  return true;
}

bool RequestParser::parse_embeddings(std::string_view body, EmbeddingsRequest& out, std::string& error) {
  out = EmbeddingsRequest{};
  std::string_view field_name;
  bool has_input = false;
  try {
    simdjson::ondemand::document doc = impl_->parser.iterate(impl_->pad(body));
    for (auto field : doc.get_object()) {
      field_name = field.unescaped_key();
      simdjson::ondemand::value value = field.value();
      if (field_name == "model") {
        out.model = std::string(std::string_view(value.get_string()));
      } else if (field_name == "input") {
        has_input = true;
        using simdjson::ondemand::json_type;
        if (value.type() == json_type::string) {
          out.inputs = 1;
          out.prompt_chars = static_cast<std::int64_t>(std::string_view(value.get_string()).size());
        } else {
          // A list of strings or of token-id lists is one input each; a flat list of token ids is one input.
          bool flat_token_ids = false;
          for (auto element : value.get_array()) {
            simdjson::ondemand::value item = element.value();
            if (item.type() == json_type::number) {
              flat_token_ids = true;
              out.prompt_chars += 4;
              static_cast<void>(std::int64_t(item.get_int64()));  // token ids must be integers
            } else {
              ++out.inputs;
              out.prompt_chars += prompt_chars_of(item);
            }
          }
          if (flat_token_ids) {
            if (out.inputs > 0) {
              error = "'input' mixes token ids with other inputs";
              return false;
            }
            out.inputs = 1;
          }
        }
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    error = invalid_body_message(field_name, e);
    return false;
  }
  if (!has_input || out.inputs == 0) {
    error = "'input' is required and must not be empty";
    return false;
  }
  return true;
}

bool RequestParser::parse_image_generation(std::string_view body, ImageRequest& out, std::string& error) {
  out = ImageRequest{};
  std::string_view field_name;
  try {
    simdjson::ondemand::document doc = impl_->parser.iterate(impl_->pad(body));
    for (auto field : doc.get_object()) {
      field_name = field.unescaped_key();
      simdjson::ondemand::value value = field.value();
      // Null means "not given" for every optional field, as in the OpenAI API.
      if (field_name != "prompt" && value.is_null()) continue;
      if (field_name == "prompt") {
        out.prompt = std::string(std::string_view(value.get_string()));
        out.has_prompt = true;
      } else if (field_name == "model") {
        out.model = std::string(std::string_view(value.get_string()));
      } else if (field_name == "n") {
        if (!set_image_count(out, value.get_int64(), error)) return false;
      } else if (field_name == "size") {
        if (!set_image_size(out, value.get_string(), error)) return false;
      } else if (field_name == "response_format") {
        if (!set_image_response_format(out, value.get_string(), error)) return false;
      } else if (field_name == "quality") {
        out.quality = std::string(std::string_view(value.get_string()));
      } else if (field_name == "stream") {
        out.stream = value.get_bool();
      } else if (field_name == "partial_images") {
        if (!set_partial_images(out, value.get_int64(), error)) return false;
      }
    }
  } catch (const simdjson::simdjson_error& e) {
    error = invalid_body_message(field_name, e);
    return false;
  }
  if (!out.has_prompt) {
    error = "'prompt' is required";
    return false;
  }
  return true;
}

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
  out += header.endpoint == Endpoint::completions ? "\"choices\":[{\"index\":0,\"text\":\""
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

void append_stream_end_events(std::string& out, const ReplyHeader& header, std::string_view prefix,
                              bool done_marker) {
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
