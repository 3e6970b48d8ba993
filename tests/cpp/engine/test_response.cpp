// Response classification without sockets: every transport rule, the body's extraction, and every rule a completed
// response must meet, in the order they apply.
#include <gtest/gtest.h>

#include <cerrno>

#include "aiperf/engine/response.hpp"

namespace aiperf {
namespace {

// A completed 2xx response, judged by validate_response.
struct Response {
  EngineConfig config;
  ResponseFields fields;
  ExtractionState extraction;
  ResponseView view;

  explicit Response(bool streaming = false) {
    config.streaming = streaming;
    view.status = 200;
    view.content_type = streaming ? "text/event-stream" : "application/json";
    view.done_seen = streaming;
    view.sse_events = streaming ? 3 : 0;
    fields.content = "hello";
  }
  std::optional<RecordError> judge() {
    view.fields = &fields;
    view.extraction = &extraction;
    return validate_response(view, config);
  }
};

void expect_error(const std::optional<RecordError>& error, ErrorKind kind, std::string_view message) {
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, kind) << error->message;
  EXPECT_EQ(error->message, message);
}

TEST(ClassifyTransportError, ACompletedTransferIsNoError) {
  EXPECT_FALSE(classify_transport_error(TransferOutcome{}, 100).has_value());
}

TEST(ClassifyTransportError, ABodyOverTheLimitIsTooLargeHoweverLibcurlEnded) {
  const std::string message = "response too large: over the limit of 100 bytes (--max-response-bytes)";
  TransferOutcome cut_off;
  cut_off.result = CURLE_WRITE_ERROR;
  cut_off.too_large = true;
  expect_error(classify_transport_error(cut_off, 100), ErrorKind::response_too_large, message);
  TransferOutcome announced;
  announced.result = CURLE_FILESIZE_EXCEEDED;
  expect_error(classify_transport_error(announced, 100), ErrorKind::response_too_large, message);
}

TEST(ClassifyTransportError, LibcurlCodesMapToConnectTimeoutOrTransport) {
  for (const CURLcode code :
       {CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SSL_CONNECT_ERROR}) {
    TransferOutcome outcome;
    outcome.result = code;
    EXPECT_EQ(classify_transport_error(outcome, 0)->kind, ErrorKind::connect) << code;
  }
  TransferOutcome timed_out;
  timed_out.result = CURLE_OPERATION_TIMEDOUT;
  timed_out.curl_error = "Operation timed out after 200 milliseconds";
  expect_error(classify_transport_error(timed_out, 0), ErrorKind::timeout,
               "Timeout was reached: Operation timed out after 200 milliseconds");
  TransferOutcome reset;
  reset.result = CURLE_RECV_ERROR;
  expect_error(classify_transport_error(reset, 0), ErrorKind::transport, curl_easy_strerror(CURLE_RECV_ERROR));
}

TEST(ClassifyTransportError, OutOfMemoryAndAPeekedResetAreNamed) {
  TransferOutcome no_memory;
  no_memory.result = CURLE_WRITE_ERROR;
  no_memory.write_failed = true;
  no_memory.curl_error = "Failure writing output";
  expect_error(classify_transport_error(no_memory, 0), ErrorKind::transport,
               "out of memory while storing the response");
  TransferOutcome peeked;
  peeked.result = CURLE_PARTIAL_FILE;
  peeked.peek_errno = ECONNRESET;
  expect_error(classify_transport_error(peeked, 0), ErrorKind::transport,
               std::string(curl_easy_strerror(CURLE_RECV_ERROR)) + ": Recv failure: Connection reset by peer");
  peeked.result = CURLE_OPERATION_TIMEDOUT;  // only a read failure is the peek's error
  EXPECT_EQ(classify_transport_error(peeked, 0)->kind, ErrorKind::timeout);
}

TEST(FinishPlainBody, ANonStreamingBodyIsTheRecordsOneChunk) {
  ResponseExtractor extractor;
  EngineConfig config;
  config.keep_raw = true;
  RequestRecord record;
  record.status = 200;
  record.end_ns = 42;
  ExtractionState state;
  const std::string body = R"({"choices":[{"message":{"content":"hi","reasoning_content":"hm"}}]})";
  finish_plain_body(extractor, config, body, 0, record, state);
  EXPECT_FALSE(state.invalid);
  EXPECT_EQ(record.chunk_ns, std::vector<std::int64_t>{42});
  EXPECT_EQ(record.chunk_content_bytes, std::vector<std::int32_t>{4});
  EXPECT_EQ(record.raw, body);
  EXPECT_EQ(record.raw_chunk_ends, std::vector<std::int64_t>{static_cast<std::int64_t>(body.size())});
  EXPECT_EQ(record.fields.content, "hi");
}

TEST(FinishPlainBody, EmptyOrNonJsonBodiesAreNotedAndErrorBodiesLeftAlone) {
  ResponseExtractor extractor;
  EngineConfig config;
  RequestRecord record;
  record.status = 200;
  ExtractionState state;
  finish_plain_body(extractor, config, "", 0, record, state);
  EXPECT_EQ(state.message, "invalid response: empty body");
  EXPECT_TRUE(record.chunk_ns.empty());
  state.clear();
  finish_plain_body(extractor, config, "<html>", 0, record, state);
  EXPECT_EQ(state.message, "invalid response: not a valid JSON object: <html>");
  state.clear();
  record = RequestRecord{};
  record.status = 500;
  finish_plain_body(extractor, config, "<html>", 0, record, state);
  EXPECT_FALSE(state.invalid);
  EXPECT_TRUE(record.chunk_ns.empty());
}

TEST(FinishPlainBody, AStreamWithoutEventsIsExplainedByItsFirstBytes) {
  ResponseExtractor extractor;
  EngineConfig config;
  config.streaming = true;
  RequestRecord record;
  record.status = 200;
  ExtractionState state;
  finish_plain_body(extractor, config, "", 0, record, state);
  EXPECT_EQ(state.message, "invalid response: empty stream");
  state.clear();
  finish_plain_body(extractor, config, "hello", 0, record, state);
  EXPECT_EQ(state.message, "invalid response: no SSE data events in the streaming response");
  state.clear();
  finish_plain_body(extractor, config, R"({"error":{"message":"overloaded"}})", 0, record, state);
  EXPECT_FALSE(state.invalid);  // an error object answered the stream: validate_response reports it
  EXPECT_EQ(record.fields.error_message, "overloaded");
  state.clear();
  finish_plain_body(extractor, config, "ignored once events came", 2, record, state);
  EXPECT_FALSE(state.invalid);
}

TEST(ExtractionState, KeepsTheFirstProblem) {
  ResponseExtractor extractor;
  ResponseFields fields;
  ExtractionState state;
  extract_document(extractor, "not json", 0, fields, state);
  extract_document(extractor, "also not", 0, fields, state);
  EXPECT_EQ(state.message, "invalid response: not a valid JSON object: not json");
  extract_document(extractor, R"({"choices":[{"text":"ok"}]})", 0, fields, state);
  EXPECT_EQ(fields.content, "ok");
}

TEST(ValidateResponse, ASuccessWithContentPasses) {
  EXPECT_FALSE(Response().judge().has_value());
  EXPECT_FALSE(Response(/*streaming=*/true).judge().has_value());
  Response no_content_type;
  no_content_type.view.content_type = nullptr;  // a missing header is accepted
  EXPECT_FALSE(no_content_type.judge().has_value());
}

TEST(ValidateResponse, AnErrorStatusQuotesTheBodyAndRetryAfter) {
  Response response;
  response.view.status = 429;
  response.view.retry_after = "1";
  const std::string body(600, 'x');
  response.view.body = body;
  expect_error(response.judge(), ErrorKind::http_status, "HTTP 429 (Retry-After: 1): " + std::string(500, 'x'));
}

TEST(ValidateResponse, TheQuotedBodyIsCutAtACharacterBoundary) {
  Response response;
  response.view.status = 500;
  const std::string body = std::string(499, 'x') + "\xC3\xA9";  // é straddles byte 500
  response.view.body = body;
  expect_error(response.judge(), ErrorKind::http_status, "HTTP 500: " + std::string(499, 'x'));
}

TEST(ValidateResponse, AnErrorObjectIsReportedWithItsMessage) {
  Response response;
  response.fields.error_message = "overloaded";
  expect_error(response.judge(), ErrorKind::invalid_response, "overloaded");
}

TEST(ValidateResponse, TheContentTypeMustFitTheRequest) {
  Response plain;
  plain.view.content_type = "text/html; charset=utf-8";
  expect_error(plain.judge(), ErrorKind::invalid_response,
               "invalid response: Content-Type text/html; charset=utf-8, expected JSON");
  plain.view.content_type = "application/vnd.api+json; charset=utf-8";
  EXPECT_FALSE(plain.judge().has_value());
  Response stream(/*streaming=*/true);
  stream.view.content_type = "application/json";
  expect_error(stream.judge(), ErrorKind::invalid_response,
               "invalid response: Content-Type application/json, expected text/event-stream");
  stream.view.content_type = "Text/Event-Stream";
  EXPECT_FALSE(stream.judge().has_value());
}

TEST(ValidateResponse, BadSseFramingNamesTheFirstBadLine) {
  Response stream(/*streaming=*/true);
  stream.view.sse_invalid_lines = 4;
  const std::string line(80, 'j');
  stream.view.first_invalid_line = line;
  expect_error(stream.judge(), ErrorKind::invalid_response,
               "invalid response: bad SSE framing: 4 line(s) not 'field: value', the first: " + std::string(60, 'j'));
}

TEST(ValidateResponse, ADocumentThatWasNotJsonIsAnInvalidResponse) {
  Response response;
  response.extraction.note("invalid response: not a valid JSON object: {");
  expect_error(response.judge(), ErrorKind::invalid_response, "invalid response: not a valid JSON object: {");
}

TEST(ValidateResponse, TextStreamsMustEndWithDoneImageStreamsNeedNot) {
  Response stream(/*streaming=*/true);
  stream.view.done_seen = false;
  stream.view.sse_events = 10;
  expect_error(stream.judge(), ErrorKind::invalid_response,
               "invalid response: the stream ended without data: [DONE] after 10 events");
  stream.config.expect_images = true;
  stream.fields.num_images = 1;
  EXPECT_FALSE(stream.judge().has_value());
}

TEST(ValidateResponse, ImagesMustBeThereAndValidBase64) {
  Response response;
  response.config.expect_images = true;
  response.fields.num_images = 1;
  EXPECT_FALSE(response.judge().has_value());
  response.fields.image_error = "b64_json is not valid base64 (5 characters)";
  expect_error(response.judge(), ErrorKind::invalid_response,
               "invalid response: b64_json is not valid base64 (5 characters)");
  response.fields.image_error.clear();
  response.fields.num_images = 0;
  expect_error(response.judge(), ErrorKind::invalid_response, "invalid response: no image in the response");
  response.config.expect_content = true;  // data: [] is an empty response then
  expect_error(response.judge(), ErrorKind::empty_response,
               "No responses with actual content were received from the server (no image in the response)");
}

TEST(ValidateResponse, ExpectContentMakesEveryEmptyShapeAnEmptyResponse) {
  const std::string message =
      "No responses with actual content were received from the server (only usage/metadata, "
      "null/empty data, or [DONE] markers)";
  // A role-only stream, empty choices, a usage-only body, content "": all leave content and reasoning empty.
  for (const bool streaming : {false, true}) {
    Response response(streaming);
    response.config.expect_content = true;
    response.fields.content.clear();
    response.fields.usage_prompt_tokens = 3;
    expect_error(response.judge(), ErrorKind::empty_response, message);
    response.fields.reasoning = "thinking";  // reasoning alone is content
    EXPECT_FALSE(response.judge().has_value());
    response.fields.reasoning.clear();
    response.config.expect_content = false;  // embeddings: vectors, no content, never judged for it
    EXPECT_FALSE(response.judge().has_value());
  }
}

TEST(ValidateResponse, AnEarlierRuleWinsOverAnEmptyResponse) {
  Response stream(/*streaming=*/true);
  stream.config.expect_content = true;
  stream.fields.content.clear();
  stream.view.done_seen = false;
  EXPECT_EQ(stream.judge()->kind, ErrorKind::invalid_response);
  Response failed;
  failed.config.expect_content = true;
  failed.fields.content.clear();
  failed.view.status = 503;
  EXPECT_EQ(failed.judge()->kind, ErrorKind::http_status);
}

}  // namespace
}  // namespace aiperf
