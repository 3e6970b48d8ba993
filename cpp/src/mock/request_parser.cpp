// The mock server's request parsing: simdjson on-demand over a padded copy of the body, only the fields it needs.
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "aiperf/mock/images.hpp"
#include "aiperf/mock/requests.hpp"

namespace aiperf::mock {
namespace {

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

}  // namespace

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
}  // namespace aiperf::mock
