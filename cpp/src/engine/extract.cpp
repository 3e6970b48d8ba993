// Field extraction from OpenAI-compatible response documents with simdjson on-demand.
#include "aiperf/engine/extract.hpp"

#include <simdjson.h>

#include <cstring>

namespace aiperf {
namespace ondemand = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

void ResponseFields::clear() noexcept {
  content.clear();
  reasoning.clear();
  usage_prompt_tokens = -1;
  usage_completion_tokens = -1;
  usage_reasoning_tokens = -1;
  num_images = 0;
  error_message.clear();
  image_error.clear();
}

namespace {

// Texts found in one document; views point into the parser's string buffer, valid until the next parse.
struct DocumentTexts {
  std::string_view content;
  std::string_view reasoning_content;
  std::string_view reasoning;
  bool has_content = false;
  bool has_reasoning_content = false;
  bool has_reasoning = false;
};

// A string value, or "absent" for null; any other type is tolerated as absent.
error_code optional_string(ondemand::value value, std::string_view& out, bool& present) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type != ondemand::json_type::string) return SUCCESS;
  if (auto error = value.get_string().get(out)) return error;
  present = true;
  return SUCCESS;
}

// An integer (or integral float) value; null and other types leave `out` unchanged.
error_code optional_count(ondemand::value value, std::int64_t& out) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type != ondemand::json_type::number) return SUCCESS;
  std::int64_t integer = 0;
  if (value.get_int64().get(integer) == SUCCESS) {
    out = integer;
    return SUCCESS;
  }
  double real = 0;
  if (auto error = value.get_double().get(real)) return error;
  // 2e111 (or a huge integer) cannot be a count, and converting it would be undefined: treated as absent.
  if (!(real > -9.0e18 && real < 9.0e18)) return SUCCESS;
  out = static_cast<std::int64_t>(real);
  return SUCCESS;
}

bool is_object(ondemand::value& value) {
  ondemand::json_type type;
  return value.type().get(type) == SUCCESS && type == ondemand::json_type::object;
}

// delta / message: {"content", "reasoning_content", "reasoning", ...}
error_code read_message(ondemand::value value, DocumentTexts& texts) {
  if (!is_object(value)) return SUCCESS;
  ondemand::object object;
  if (auto error = value.get_object().get(object)) return error;
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return error;
    const ondemand::raw_json_string key = field.key();  // raw compare: our keys need no unescaping
    error_code error = SUCCESS;
    if (key == "content") {
      error = optional_string(field.value(), texts.content, texts.has_content);
    } else if (key == "reasoning_content") {
      error = optional_string(field.value(), texts.reasoning_content, texts.has_reasoning_content);
    } else if (key == "reasoning") {
      error = optional_string(field.value(), texts.reasoning, texts.has_reasoning);
    }
    if (error) return error;
  }
  return SUCCESS;
}

// choices: only the first choice is measured.
error_code read_choices(ondemand::value value, DocumentTexts& texts) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type != ondemand::json_type::array) return SUCCESS;
  ondemand::array choices;
  if (auto error = value.get_array().get(choices)) return error;
  for (auto choice_result : choices) {
    ondemand::value choice;
    if (auto error = std::move(choice_result).get(choice)) return error;
    if (!is_object(choice)) return SUCCESS;
    ondemand::object object;
    if (auto error = choice.get_object().get(object)) return error;
    for (auto field_result : object) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) return error;
      const ondemand::raw_json_string key = field.key();
      error_code error = SUCCESS;
      if (key == "delta" || key == "message") {
        error = read_message(field.value(), texts);
      } else if (key == "text") {
        error = optional_string(field.value(), texts.content, texts.has_content);
      }
      if (error) return error;
    }
    break;
  }
  return SUCCESS;
}

struct Usage {
  std::int64_t prompt_tokens;
  std::int64_t completion_tokens;
  std::int64_t reasoning_tokens;
};

error_code read_usage(ondemand::value value, Usage& out) {
  if (!is_object(value)) return SUCCESS;
  ondemand::object usage;
  if (auto error = value.get_object().get(usage)) return error;
  for (auto field_result : usage) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return error;
    const ondemand::raw_json_string key = field.key();
    error_code error = SUCCESS;
    if (key == "prompt_tokens") {
      error = optional_count(field.value(), out.prompt_tokens);
    } else if (key == "completion_tokens") {
      error = optional_count(field.value(), out.completion_tokens);
    } else if (key == "completion_tokens_details") {
      ondemand::value details = field.value();
      if (!is_object(details)) continue;
      ondemand::object details_object;
      if (auto details_error = details.get_object().get(details_object)) return details_error;
      for (auto detail_result : details_object) {
        ondemand::field detail;
        if (auto detail_error = std::move(detail_result).get(detail)) return detail_error;
        const ondemand::raw_json_string detail_key = detail.key();
        if (detail_key == "reasoning_tokens") {
          if (auto detail_error = optional_count(detail.value(), out.reasoning_tokens)) return detail_error;
        }
      }
    }
    if (error) return error;
  }
  return SUCCESS;
}

// data: [{"b64_json": ...} | {"url": ...} | {"embedding": ...}]; only image items are counted.
// Notes in `image_error` a b64_json value that is not a valid base64 string.
error_code check_base64(ondemand::value value, std::string& image_error) {
  std::string_view text;
  if (value.get_string().get(text) != SUCCESS) {
    image_error = "b64_json is not a string";
    return SUCCESS;
  }
  if (!is_valid_base64(text)) {
    image_error = "b64_json is not valid base64 (" + std::to_string(text.size()) + " characters)";
  }
  return SUCCESS;
}

error_code count_images(ondemand::value value, std::int32_t& num_images, std::string& image_error) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type != ondemand::json_type::array) return SUCCESS;
  ondemand::array items;
  if (auto error = value.get_array().get(items)) return error;
  for (auto item_result : items) {
    ondemand::value item;
    if (auto error = std::move(item_result).get(item)) return error;
    if (!is_object(item)) continue;
    ondemand::object object;
    if (auto error = item.get_object().get(object)) return error;
    bool is_image = false;
    for (auto field_result : object) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) return error;
      const ondemand::raw_json_string key = field.key();
      if (key == "b64_json" || key == "url") {
        ondemand::value image = field.value();
        bool is_null = false;
        if (auto error = image.is_null().get(is_null)) return error;
        if (!is_null) is_image = true;
        if (!is_null && key == "b64_json" && image_error.empty()) {
          if (auto error = check_base64(image, image_error)) return error;
        }
      }
    }
    if (is_image) ++num_images;
  }
  return SUCCESS;
}

// error: {"message": ...} or a bare string; null means no error.
error_code read_error(ondemand::value value, std::string& message, bool& found) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == ondemand::json_type::string) {
    std::string_view text;
    if (auto error = value.get_string().get(text)) return error;
    message.assign(text);
    found = true;
    return SUCCESS;
  }
  if (type != ondemand::json_type::object) return SUCCESS;
  found = true;
  message.clear();
  ondemand::object object;
  if (auto error = value.get_object().get(object)) return error;
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return error;
    const ondemand::raw_json_string key = field.key();
    if (key == "message") {
      std::string_view text;
      bool present = false;
      if (auto error = optional_string(field.value(), text, present)) return error;
      message.assign(text);
    }
  }
  if (message.empty()) message = "server returned an error object without a message";
  return SUCCESS;
}

}  // namespace

struct ResponseExtractor::State {
  ondemand::parser parser;
  std::string padded;  // document copy followed by SIMDJSON_PADDING bytes
};

ResponseExtractor::ResponseExtractor() : state_(std::make_unique<State>()) {}
ResponseExtractor::~ResponseExtractor() = default;
ResponseExtractor::ResponseExtractor(ResponseExtractor&&) noexcept = default;
ResponseExtractor& ResponseExtractor::operator=(ResponseExtractor&&) noexcept = default;

std::size_t ResponseExtractor::in_place_padding_bytes() noexcept { return simdjson::SIMDJSON_PADDING; }

ExtractStatus ResponseExtractor::extract(std::string_view document, ResponseFields& out,
                                         std::size_t readable_bytes_after) {
  // simdjson may read up to SIMDJSON_PADDING bytes past the end (never past the document's own structure, whatever
  // those bytes hold). Without that many readable bytes, the document is copied to a reused padded buffer.
  const char* input = document.data();
  std::size_t capacity = document.size() + readable_bytes_after;
  if (readable_bytes_after < simdjson::SIMDJSON_PADDING) {
    const std::size_t padded_size = document.size() + simdjson::SIMDJSON_PADDING;
    std::string& padded = state_->padded;
    if (padded.size() < padded_size) padded.resize(padded_size);
    std::memcpy(padded.data(), document.data(), document.size());
    std::memset(padded.data() + document.size(), 0, simdjson::SIMDJSON_PADDING);
    input = padded.data();
    capacity = padded.size();
  }

  ondemand::document doc;
  if (state_->parser.iterate(input, document.size(), capacity).get(doc)) return ExtractStatus::invalid;
  ondemand::object root;
  if (doc.get_object().get(root)) return ExtractStatus::invalid;

  DocumentTexts texts;
  std::string error_message;
  bool has_error_object = false;
  bool has_top_level_image = false;
  bool is_partial_image = false;
  // Usage is applied only when the whole document parsed, so a truncated document changes nothing.
  Usage usage{out.usage_prompt_tokens, out.usage_completion_tokens, out.usage_reasoning_tokens};
  std::int32_t num_images = 0;

  for (auto field_result : root) {
    ondemand::field field;
    if (std::move(field_result).get(field)) return ExtractStatus::invalid;
    const ondemand::raw_json_string key = field.key();
    error_code error = SUCCESS;
    if (key == "choices") {
      error = read_choices(field.value(), texts);
    } else if (key == "usage") {
      error = read_usage(field.value(), usage);
    } else if (key == "data") {
      error = count_images(field.value(), num_images, out.image_error);
    } else if (key == "error") {
      error = read_error(field.value(), error_message, has_error_object);
    } else if (key == "b64_json") {
      // Streamed image events carry the image at the top level.
      ondemand::value image = field.value();
      bool is_null = false;
      error = image.is_null().get(is_null);
      has_top_level_image = !is_null;
      if (!error && !is_null && out.image_error.empty()) error = check_base64(image, out.image_error);
    } else if (key == "type") {
      std::string_view event_type;
      bool present = false;
      error = optional_string(field.value(), event_type, present);
      is_partial_image = event_type.find("partial") != std::string_view::npos;
    }
    if (error) return ExtractStatus::invalid;
  }

  if (texts.has_content) out.content.append(texts.content);
  if (texts.has_reasoning_content) {
    out.reasoning.append(texts.reasoning_content);
  } else if (texts.has_reasoning) {
    out.reasoning.append(texts.reasoning);
  }
  out.usage_prompt_tokens = usage.prompt_tokens;
  out.usage_completion_tokens = usage.completion_tokens;
  out.usage_reasoning_tokens = usage.reasoning_tokens;
  out.num_images += num_images;
  if (has_top_level_image && !is_partial_image) ++out.num_images;
  if (has_error_object) {
    out.error_message = std::move(error_message);
    return ExtractStatus::error_object;
  }
  return ExtractStatus::ok;
}

bool is_valid_base64(std::string_view text) noexcept {
  if (text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  for (std::size_t i = 0; i + padding < text.size(); ++i) {
    const char c = text[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

}  // namespace aiperf
