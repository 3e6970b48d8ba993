// The mock server's request parsing: simdjson on-demand over a padded copy of the body, only the fields it needs,
// in simdjson's error-code style (as extract.cpp): a step that fails returns its code, which becomes the 400's text.
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "aiperf/mock/images.hpp"
#include "aiperf/mock/requests.hpp"

namespace aiperf::mock {
namespace ondemand = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

namespace {

// Where a body is being read: the field named in the 400's message, or a message of our own for a value that
// parses but is not acceptable (a negative max_tokens); reject() returns an error code to stop the reading.
struct Reading {
  std::string_view field;
  std::string rejection;

  error_code reject(std::string message) {
    rejection = std::move(message);
    return simdjson::INCORRECT_TYPE;
  }
  // The message for the code a reading stopped with.
  std::string message(error_code code) const {
    if (!rejection.empty()) return rejection;
    std::string text = "Invalid request body";
    if (!field.empty()) {
      text += " (field '";
      text += field;
      text += "')";
    }
    text += ": ";
    text += simdjson::error_message(code);
    return text;
  }
};

error_code string_size(ondemand::value value, std::int64_t& chars) {
  std::string_view text;
  if (auto error = value.get_string().get(text)) return error;
  chars += static_cast<std::int64_t>(text.size());
  return SUCCESS;
}

error_code read_string(ondemand::value value, std::string& out) {
  std::string_view text;
  if (auto error = value.get_string().get(text)) return error;
  out = std::string(text);
  return SUCCESS;
}

// A boolean that may be null (false).
error_code read_optional_bool(ondemand::value value, bool& out) {
  bool null = false;
  if (auto error = value.is_null().get(null)) return error;
  if (null) {
    out = false;
    return SUCCESS;
  }
  return value.get_bool().get(out);
}

// Text a prompt carries: a string, or a list of strings / token ids / token-id lists (4 chars per id).
error_code add_prompt_chars(ondemand::value value, std::int64_t& chars) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  switch (type) {
    case ondemand::json_type::string: return string_size(value, chars);
    case ondemand::json_type::number: chars += 4; return SUCCESS;
    case ondemand::json_type::array: {
      ondemand::array array;
      if (auto error = value.get_array().get(array)) return error;
      for (auto element_result : array) {
        ondemand::value element;
        if (auto error = std::move(element_result).get(element)) return error;
        if (auto error = add_prompt_chars(element, chars)) return error;
      }
      return SUCCESS;
    }
    case ondemand::json_type::null: return SUCCESS;
    default: return simdjson::INCORRECT_TYPE;
  }
}

struct ContentCount {
  std::int64_t chars = 0;
  std::int64_t image_parts = 0;
};

// One object part of a chat content list: text parts count their characters, image_url (and input_image) parts
// are counted, other parts (audio, files) are accepted and ignored.
error_code count_content_part(ondemand::value part, ContentCount& count) {
  ondemand::object object;
  if (auto error = part.get_object().get(object)) return error;
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return error;
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    if (key != "text" && key != "type") continue;
    ondemand::value value = field.value();
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return error;
    if (type != ondemand::json_type::string) continue;
    if (key == "text") {
      if (auto error = string_size(value, count.chars)) return error;
      continue;
    }
    std::string_view name;
    if (auto error = value.get_string().get(name)) return error;
    if (name == "image_url" || name == "input_image") ++count.image_parts;
  }
  return SUCCESS;
}

// Chat content: a string or a list of parts (strings or objects); null and other shapes are not read.
error_code count_message_content(ondemand::value content, ContentCount& count) {
  ondemand::json_type type;
  if (auto error = content.type().get(type)) return error;
  if (type == ondemand::json_type::string) return string_size(content, count.chars);
  if (type != ondemand::json_type::array) return SUCCESS;
  ondemand::array parts;
  if (auto error = content.get_array().get(parts)) return error;
  for (auto part_result : parts) {
    ondemand::value part;
    if (auto error = std::move(part_result).get(part)) return error;
    ondemand::json_type part_type;
    if (auto error = part.type().get(part_type)) return error;
    error_code error = SUCCESS;
    if (part_type == ondemand::json_type::string) {
      error = string_size(part, count.chars);
    } else if (part_type == ondemand::json_type::object) {
      error = count_content_part(part, count);
    }
    if (error) return error;
  }
  return SUCCESS;
}

error_code count_messages(ondemand::value messages, ContentCount& count) {
  ondemand::array array;
  if (auto error = messages.get_array().get(array)) return error;
  for (auto message_result : array) {
    ondemand::object message;
    if (auto error = std::move(message_result).get_object().get(message)) return error;
    for (auto field_result : message) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) return error;
      std::string_view key;
      if (auto error = field.unescaped_key().get(key)) return error;
      if (key != "content") continue;
      if (auto error = count_message_content(field.value(), count)) return error;
    }
  }
  return SUCCESS;
}

// The body's top-level fields, one callback per field with its (still unread) value.
template <typename ReadField>
error_code read_fields(ondemand::parser& parser, simdjson::padded_string_view body, Reading& reading,
                       ReadField&& read_field) {
  ondemand::document doc;
  if (auto error = parser.iterate(body).get(doc)) return error;
  ondemand::object object;
  if (auto error = doc.get_object().get(object)) return error;
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return error;
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    reading.field = key;
    if (auto error = read_field(key, field.value())) return error;
  }
  return SUCCESS;
}

}  // namespace

struct RequestParser::Impl {
  ondemand::parser parser;
  std::string padded;  // the body copied with simdjson's required padding, reused between requests

  simdjson::padded_string_view pad(std::string_view body) {
    if (padded.size() < body.size() + simdjson::SIMDJSON_PADDING)
      padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(padded.data(), body.data(), body.size());
    return simdjson::padded_string_view(padded.data(), body.size(), padded.size());
  }
};

RequestParser::RequestParser() : impl_(std::make_unique<Impl>()) {}
RequestParser::~RequestParser() = default;

bool RequestParser::parse_text(std::string_view body, Endpoint endpoint, TextRequest& out, std::string& error) {
  out = TextRequest{};
  Reading reading;
  const error_code code =
      read_fields(impl_->parser, impl_->pad(body), reading, [&](std::string_view name, ondemand::value value) {
        if (name == "model") return read_string(value, out.model);
        if (name == "stream") return read_optional_bool(value, out.stream);
        if (name == "stream_options") {
          bool null = false;
          if (auto error = value.is_null().get(null)) return error;
          if (null) return SUCCESS;
          ondemand::object options;
          if (auto error = value.get_object().get(options)) return error;
          for (auto option_result : options) {
            ondemand::field option;
            if (auto error = std::move(option_result).get(option)) return error;
            std::string_view key;
            if (auto error = option.unescaped_key().get(key)) return error;
            if (key != "include_usage") continue;
            if (auto error = read_optional_bool(option.value(), out.include_usage)) return error;
          }
          return SUCCESS;
        }
        if (name == "max_tokens" || name == "max_completion_tokens") {
          bool null = false;
          if (auto error = value.is_null().get(null)) return error;
          if (null) return SUCCESS;
          std::int64_t limit = 0;
          if (auto error = value.get_int64().get(limit)) return error;
          if (limit < 0) return reading.reject(std::string(name) + " must be a non-negative integer");
          // Both given: the smaller limit wins, as the output can honour neither more.
          out.max_tokens = out.max_tokens < 0 ? limit : std::min(out.max_tokens, limit);
          return SUCCESS;
        }
        if (name == "messages" && endpoint == Endpoint::chat_completions) {
          ContentCount count;
          if (auto error = count_messages(value, count)) return error;
          out.prompt_chars += count.chars;
          out.image_parts += count.image_parts;
          return SUCCESS;
        }
        if (name == "prompt" && endpoint == Endpoint::completions) return add_prompt_chars(value, out.prompt_chars);
        return SUCCESS;
      });
  if (code) {
    error = reading.message(code);
    return false;
  }
  return true;
}

bool RequestParser::parse_embeddings(std::string_view body, EmbeddingsRequest& out, std::string& error) {
  out = EmbeddingsRequest{};
  Reading reading;
  bool has_input = false;
  const error_code code =
      read_fields(impl_->parser, impl_->pad(body), reading, [&](std::string_view name, ondemand::value value) {
        if (name == "model") return read_string(value, out.model);
        if (name != "input") return SUCCESS;
        has_input = true;
        ondemand::json_type type;
        if (auto error = value.type().get(type)) return error;
        if (type == ondemand::json_type::string) {
          out.inputs = 1;
          return string_size(value, out.prompt_chars);
        }
        // A list of strings or of token-id lists is one input each; a flat list of token ids is one input.
        ondemand::array items;
        if (auto error = value.get_array().get(items)) return error;
        bool flat_token_ids = false;
        for (auto item_result : items) {
          ondemand::value item;
          if (auto error = std::move(item_result).get(item)) return error;
          ondemand::json_type item_type;
          if (auto error = item.type().get(item_type)) return error;
          if (item_type == ondemand::json_type::number) {
            flat_token_ids = true;
            out.prompt_chars += 4;
            std::int64_t token_id = 0;  // token ids must be integers
            if (auto error = item.get_int64().get(token_id)) return error;
          } else {
            ++out.inputs;
            if (auto error = add_prompt_chars(item, out.prompt_chars)) return error;
          }
        }
        if (flat_token_ids) {
          if (out.inputs > 0) return reading.reject("'input' mixes token ids with other inputs");
          out.inputs = 1;
        }
        return SUCCESS;
      });
  if (code) {
    error = reading.message(code);
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
  Reading reading;
  std::string problem;  // what an image field setter found wrong, which becomes the rejection
  auto set = [&](bool ok) { return ok ? SUCCESS : reading.reject(std::move(problem)); };
  const error_code code =
      read_fields(impl_->parser, impl_->pad(body), reading, [&](std::string_view name, ondemand::value value) {
        if (name == "prompt") {
          out.has_prompt = true;
          return read_string(value, out.prompt);
        }
        // Null means "not given" for every optional field, as in the OpenAI API.
        bool null = false;
        if (auto error = value.is_null().get(null)) return error;
        if (null) return SUCCESS;
        std::string_view text;
        std::int64_t number = 0;
        if (name == "model") return read_string(value, out.model);
        if (name == "quality") return read_string(value, out.quality);
        if (name == "stream") return value.get_bool().get(out.stream);
        if (name == "n") {
          if (auto error = value.get_int64().get(number)) return error;
          return set(set_image_count(out, number, problem));
        }
        if (name == "partial_images") {
          if (auto error = value.get_int64().get(number)) return error;
          return set(set_partial_images(out, number, problem));
        }
        if (name == "size") {
          if (auto error = value.get_string().get(text)) return error;
          return set(set_image_size(out, text, problem));
        }
        if (name == "response_format") {
          if (auto error = value.get_string().get(text)) return error;
          return set(set_image_response_format(out, text, problem));
        }
        return SUCCESS;
      });
  if (code) {
    error = reading.message(code);
    return false;
  }
  if (!out.has_prompt) {
    error = "'prompt' is required";
    return false;
  }
  return true;
}

}  // namespace aiperf::mock
