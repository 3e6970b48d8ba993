// Response classification and extraction: what a finished transfer's record says, from what the loop noted.
#include "aiperf/engine/response.hpp"

#include <cstring>

#include "aiperf/common/text.hpp"

namespace aiperf {
namespace {

constexpr std::size_t kErrorMessageBodyBytes = 500;
// NVIDIA AIPerf's words for a success that carried nothing (its InvalidInferenceResultError), so users recognise it.
constexpr std::string_view kEmptyResponseMessage = "No responses with actual content were received from the server";

// The first `limit` bytes, cut back to a UTF-8 character boundary.
std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

// A 2xx response's Content-Type fits the request: text/event-stream for streams, a JSON type otherwise.
bool content_type_fits(std::string_view content_type, bool streaming) {
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  if (streaming) return starts_with_ignoring_case(media, "text/event-stream");
  for (std::size_t i = 0; i + 4 <= media.size(); ++i) {
    if (starts_with_ignoring_case(media.substr(i), "json")) return true;  // application/json, …+json
  }
  return false;
}

RecordError invalid(std::string message) { return RecordError{ErrorKind::invalid_response, std::move(message)}; }

}  // namespace

std::optional<RecordError> classify_transport_error(const TransferOutcome& outcome, std::int64_t max_response_bytes) {
  if (outcome.too_large || outcome.result == CURLE_FILESIZE_EXCEEDED) {
    return RecordError{ErrorKind::response_too_large, "response too large: over the limit of " +
                                                          std::to_string(max_response_bytes) +
                                                          " bytes (--max-response-bytes)"};
  }
  if (outcome.result == CURLE_OK) return std::nullopt;
  RecordError error;
  switch (outcome.result) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR: error.kind = ErrorKind::connect; break;
    case CURLE_OPERATION_TIMEDOUT: error.kind = ErrorKind::timeout; break;
    default: error.kind = ErrorKind::transport; break;
  }
  error.message = curl_easy_strerror(outcome.result);
  if (outcome.write_failed) {
    error.message = "out of memory while storing the response";
  } else if (outcome.peek_errno != 0 && (outcome.result == CURLE_PARTIAL_FILE || outcome.result == CURLE_RECV_ERROR ||
                                         outcome.result == CURLE_GOT_NOTHING)) {
    // The kernel-timestamp peek received the socket's error before libcurl could: report it as libcurl would.
    error.message =
        std::string(curl_easy_strerror(CURLE_RECV_ERROR)) + ": Recv failure: " + std::strerror(outcome.peek_errno);
  } else if (!outcome.curl_error.empty()) {
    error.message.append(": ").append(outcome.curl_error);
  }
  return error;
}

void extract_document(ResponseExtractor& extractor, std::string_view document, std::size_t readable_bytes_after,
                      ResponseFields& fields, ExtractionState& state) {
  if (extractor.extract(document, fields, readable_bytes_after) == ExtractStatus::invalid && !state.invalid) {
    state.note("invalid response: not a valid JSON object: " + std::string(utf8_prefix(document, 200)));
  }
}

void finish_plain_body(ResponseExtractor& extractor, const EngineConfig& config, std::string_view body,
                       std::int32_t sse_events, RequestRecord& record, ExtractionState& state) {
  if (record.status >= 400) return;
  if (!config.streaming) {
    if (body.empty()) {
      state.note("invalid response: empty body");
      return;
    }
    // One chunk: the whole body, timed at its last byte.
    record.chunk_ns.push_back(record.end_ns);
    if (config.keep_raw) {
      record.raw.assign(body);
      record.raw_chunk_ends.push_back(static_cast<std::int64_t>(record.raw.size()));
    }
    const std::size_t text_before = record.fields.content.size() + record.fields.reasoning.size();
    extract_document(extractor, body, 0, record.fields, state);
    const std::size_t text_after = record.fields.content.size() + record.fields.reasoning.size();
    record.chunk_content_bytes.push_back(static_cast<std::int32_t>(text_after - text_before));
  } else if (sse_events == 0) {
    if (body.empty()) {
      state.note("invalid response: empty stream");
    } else if (extractor.extract(body, record.fields) != ExtractStatus::error_object) {
      state.note("invalid response: no SSE data events in the streaming response");
    }
  }
}

std::optional<RecordError> validate_response(const ResponseView& response, const EngineConfig& config) {
  const ResponseFields& fields = *response.fields;
  if (response.status >= 400) {
    RecordError error{ErrorKind::http_status, "HTTP " + std::to_string(response.status)};
    if (!response.retry_after.empty()) {
      error.message.append(" (Retry-After: ").append(response.retry_after).append(")");
    }
    error.message.append(": ").append(utf8_prefix(response.body, kErrorMessageBodyBytes));
    return error;
  }
  if (!fields.error_message.empty()) return invalid(fields.error_message);
  if (response.content_type != nullptr && !content_type_fits(response.content_type, config.streaming)) {
    return invalid(std::string("invalid response: Content-Type ") + response.content_type + ", expected " +
                   (config.streaming ? "text/event-stream" : "JSON"));
  }
  if (config.streaming && response.sse_invalid_lines > 0) {
    return invalid(
        "invalid response: bad SSE framing: " + std::to_string(response.sse_invalid_lines) +
        " line(s) not 'field: value', the first: " + std::string(utf8_prefix(response.first_invalid_line, 60)));
  }
  if (response.extraction != nullptr && response.extraction->invalid) return invalid(response.extraction->message);
  if (config.streaming && !config.expect_images && !response.done_seen) {
    // OpenAI-compatible text streams end with data: [DONE]; without it the stream may have been cut short.
    return invalid("invalid response: the stream ended without data: [DONE] after " +
                   std::to_string(response.sse_events) + " events");
  }
  if (config.expect_images && !fields.image_error.empty()) return invalid("invalid response: " + fields.image_error);
  if (config.expect_images && fields.num_images == 0) {
    if (!config.expect_content) return invalid("invalid response: no image in the response");
    return RecordError{ErrorKind::empty_response, std::string(kEmptyResponseMessage) + " (no image in the response)"};
  }
  if (config.expect_content && !config.expect_images && fields.content.empty() && fields.reasoning.empty()) {
    // A server shedding load may end a stream after only a role delta: a 2xx that measured nothing.
    return RecordError{ErrorKind::empty_response, std::string(kEmptyResponseMessage) +
                                                      " (only usage/metadata, null/empty data, or [DONE] markers)"};
  }
  return std::nullopt;
}

}  // namespace aiperf
