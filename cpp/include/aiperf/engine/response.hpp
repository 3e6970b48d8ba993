// How a finished transfer becomes a record: transport errors, the body's extraction, and the rules a 2xx response
// must meet. Pure functions over what the loop noted, testable without sockets (tests/cpp/engine/test_response.cpp).
#pragma once
#include <curl/curl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "aiperf/engine/engine.hpp"
#include "aiperf/engine/extract.hpp"
#include "aiperf/engine/record.hpp"

namespace aiperf {

// An error a record ends with.
struct RecordError {
  ErrorKind kind = ErrorKind::ok;
  std::string message;
};

// What extraction found wrong with a response's documents: the first problem is kept.
struct ExtractionState {
  bool invalid = false;
  std::string message;

  void clear() noexcept {
    invalid = false;
    message.clear();
  }
  void note(std::string problem) {
    if (invalid) return;
    invalid = true;
    message = std::move(problem);
  }
};

// How libcurl's transfer ended, before any byte of it is judged.
struct TransferOutcome {
  CURLcode result = CURLE_OK;
  bool too_large = false;       // on_write cut the body off at max_response_bytes
  bool write_failed = false;    // a callback could not store data (out of memory)
  int peek_errno = 0;           // an error a kernel-timestamp peek received in libcurl's place
  std::string_view curl_error;  // libcurl's CURLOPT_ERRORBUFFER
};

// A 2xx or error response as received, for validate_response.
struct ResponseView {
  std::int32_t status = 0;
  std::string_view body;               // an error response's body (the message quotes it)
  std::string_view retry_after;        // an error response's Retry-After header
  const char* content_type = nullptr;  // null: the response had none
  std::int32_t sse_events = 0;
  std::int64_t sse_invalid_lines = 0;
  std::string_view first_invalid_line;
  bool done_seen = false;  // data: [DONE] arrived
  const ExtractionState* extraction = nullptr;
  const ResponseFields* fields = nullptr;
};

// The error of a transfer that libcurl did not complete (or whose body passed the limit); nullopt when it did.
std::optional<RecordError> classify_transport_error(const TransferOutcome& outcome, std::int64_t max_response_bytes);

// Parses one document into `fields`; one that is not a JSON object is noted in `state`.
void extract_document(ResponseExtractor& extractor, std::string_view document, std::size_t readable_bytes_after,
                      ResponseFields& fields, ExtractionState& state);

// After a completed transfer: a non-streaming 2xx body is extracted as the record's one chunk (timed at end_ns,
// raw text kept with keep_raw); a stream that yielded no event is explained by its first bytes. Error responses
// (status >= 400) are left alone.
void finish_plain_body(ResponseExtractor& extractor, const EngineConfig& config, std::string_view body,
                       std::int32_t sse_events, RequestRecord& record, ExtractionState& state);

// The first rule a completed response breaks, in order: HTTP status, an error object, Content-Type, SSE framing,
// extraction, [DONE], images, content (expect_content); nullopt for a success.
std::optional<RecordError> validate_response(const ResponseView& response, const EngineConfig& config);

}  // namespace aiperf
