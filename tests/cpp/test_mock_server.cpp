// Tests of the mock server: request parsing and response text directly, then the running server over libcurl.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <thread>

#include "aiperf/common/error.hpp"
#include "aiperf/mock_server.hpp"
#include "aiperf/encode/png.hpp"

namespace {

using aiperf::mock::Endpoint;

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
  return parser.parse(simdjson::padded_string(text));
}

TEST(MockRoutes, KnownPathsResolveAndWrongMethodIsReportedAsKnownPath) {
  bool known = false;
  const auto* chat = aiperf::mock::find_route("/v1/chat/completions", aiperf::mock::Method::post, &known);
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(chat->endpoint, Endpoint::chat_completions);
  EXPECT_EQ(aiperf::mock::find_route("/v1/chat/completions", aiperf::mock::Method::get, &known), nullptr);
  EXPECT_TRUE(known);
  EXPECT_EQ(aiperf::mock::find_route("/v1/nothing", aiperf::mock::Method::post, &known), nullptr);
  EXPECT_FALSE(known);
}

TEST(MockParser, ChatRequestFieldsAreRead) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::TextRequest request;
  std::string error;
  ASSERT_TRUE(parser.parse_text(
      R"({"model":"m\"x","messages":[{"role":"user","content":"12345678"},)"
      R"({"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url","image_url":{"url":"x"}}]}],)"
      R"("stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":7})",
      Endpoint::chat_completions, request, error))
      << error;
  EXPECT_EQ(request.model, "m\"x");
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.max_tokens, 7);
  EXPECT_EQ(request.prompt_chars, 12);
  EXPECT_EQ(request.image_parts, 1);
  auto header = aiperf::mock::make_reply_header(Endpoint::chat_completions, request, 8, 1, 0);
  EXPECT_EQ(header.prompt_tokens, 3 + aiperf::mock::kChatImagePartTokens);
}

TEST(MockParser, CompletionsPromptListsAndTokenIdsCount) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::TextRequest request;
  std::string error;
  ASSERT_TRUE(parser.parse_text(R"({"prompt":["abcd","ef",[1,2]],"max_tokens":3})", Endpoint::completions, request,
                                error));
  EXPECT_EQ(request.prompt_chars, 6 + 8);
  EXPECT_EQ(request.max_tokens, 3);
  EXPECT_FALSE(request.stream);
}

TEST(MockParser, InvalidJsonAndWrongTypesAreErrors) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::TextRequest request;
  std::string error;
  EXPECT_FALSE(parser.parse_text("{not json", Endpoint::chat_completions, request, error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(parser.parse_text("[1,2]", Endpoint::chat_completions, request, error));
  EXPECT_FALSE(parser.parse_text(R"({"max_tokens":"ten"})", Endpoint::chat_completions, request, error));
  EXPECT_FALSE(parser.parse_text(R"({"max_tokens":-1})", Endpoint::chat_completions, request, error));
  EXPECT_FALSE(parser.parse_text("", Endpoint::chat_completions, request, error));
}

TEST(MockParser, EmbeddingsInputsAreCounted) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::EmbeddingsRequest request;
  std::string error;
  ASSERT_TRUE(parser.parse_embeddings(R"({"input":["a","bb","ccc"],"model":"e"})", request, error)) << error;
  EXPECT_EQ(request.inputs, 3);
  EXPECT_EQ(request.model, "e");
  ASSERT_TRUE(parser.parse_embeddings(R"({"input":[1,2,3]})", request, error));
  EXPECT_EQ(request.inputs, 1);
  EXPECT_FALSE(parser.parse_embeddings(R"({"model":"e"})", request, error));
  EXPECT_FALSE(parser.parse_embeddings(R"({"input":[]})", request, error));
}

TEST(MockResponses, OutputTokenCountHonoursTheRequestLimitUpToTheCap) {
  aiperf::mock::TextRequest request;
  EXPECT_EQ(aiperf::mock::output_token_count(request, 20), 20);
  request.max_tokens = 5;
  EXPECT_EQ(aiperf::mock::output_token_count(request, 20), 5);
  request.max_tokens = 50;
  EXPECT_EQ(aiperf::mock::output_token_count(request, 20), 20);
  EXPECT_EQ(aiperf::mock::prompt_token_estimate(9), 3);
}

TEST(MockResponses, ModelNameIsEscaped) {
  std::string out;
  aiperf::mock::append_json_string(out, std::string("a\"b\\c\n\x01", 7));
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001")");
}

TEST(MockResponses, ChatBodyHasOpenAIShapeAndUsage) {
  aiperf::mock::TextRequest request;
  request.model = "my\"model";
  request.max_tokens = 4;
  request.prompt_chars = 40;
  auto header = aiperf::mock::make_reply_header(Endpoint::chat_completions, request, 20, 1, 1700000000);
  simdjson::dom::parser parser;
  auto doc = parse(parser, aiperf::mock::completion_body(header));
  EXPECT_EQ(std::string_view(doc["object"]), "chat.completion");
  EXPECT_EQ(std::string_view(doc["model"]), "my\"model");
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["message"]["content"]), " the of and to");
  EXPECT_EQ(std::string_view(doc["choices"].at(0)["finish_reason"]), "length");
  EXPECT_EQ(int64_t(doc["usage"]["prompt_tokens"]), 10);
  EXPECT_EQ(int64_t(doc["usage"]["completion_tokens"]), 4);
  EXPECT_EQ(int64_t(doc["usage"]["total_tokens"]), 14);
}

TEST(MockResponses, StreamEventsAreValidJsonWithUsageOnlyWhenAsked) {
  aiperf::mock::TextRequest request;
  request.max_tokens = 2;
  request.include_usage = true;
  for (Endpoint endpoint : {Endpoint::chat_completions, Endpoint::completions}) {
    auto header = aiperf::mock::make_reply_header(endpoint, request, 20, 7, 1);
    std::string prefix = aiperf::mock::stream_event_prefix(header);
    std::string text;
    aiperf::mock::append_stream_token_event(text, header, prefix, 0);
    aiperf::mock::append_stream_token_event(text, header, prefix, 1);
    aiperf::mock::append_stream_end_events(text, header, prefix);
    simdjson::dom::parser parser;
    std::string content;
    int events = 0;
    bool saw_usage = false, saw_done = false;
    for (std::size_t pos = 0; pos < text.size();) {
      std::size_t end = text.find("\n\n", pos);
      ASSERT_NE(end, std::string::npos);
      std::string data = text.substr(pos + 6, end - pos - 6);
      ASSERT_EQ(text.substr(pos, 6), "data: ");
      pos = end + 2;
      if (data == "[DONE]") {
        saw_done = true;
        continue;
      }
      ++events;
      auto doc = parse(parser, data);
      auto choices = doc["choices"].get_array().value();
      if (choices.size() == 0) {
        saw_usage = true;
        EXPECT_EQ(int64_t(doc["usage"]["completion_tokens"]), 2);
        continue;
      }
      auto choice = choices.at(0);
      auto piece = endpoint == Endpoint::completions ? choice["text"] : choice["delta"]["content"];
      if (!piece.error()) content += std::string_view(piece);  // the finish event has an empty delta
    }
    EXPECT_EQ(content, " the of");
    EXPECT_EQ(events, 4);  // two tokens, the finish event, the usage event
    EXPECT_TRUE(saw_usage);
    EXPECT_TRUE(saw_done);
  }
}

TEST(MockResponses, EmbeddingsBodyHasOneVectorOf768PerInput) {
  aiperf::mock::EmbeddingsRequest request;
  request.inputs = 2;
  simdjson::dom::parser parser;
  auto doc = parse(parser, aiperf::mock::embeddings_body(request));
  EXPECT_EQ(std::string_view(doc["object"]), "list");
  auto data = doc["data"].get_array().value();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(int64_t(data.at(1)["index"]), 1);
  EXPECT_EQ(data.at(0)["embedding"].get_array().value().size(), 768u);
}

// ---- the running server, over libcurl ----

size_t collect(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Reply {
  long status = 0;
  std::string body;
  std::string content_type;
};

Reply http(int port, const std::string& path, const std::string& post_body = "", bool post = false,
           const std::string& content_type = "application/json") {
  Reply reply;
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_slist* headers = curl_slist_append(nullptr, ("Content-Type: " + content_type).c_str());
  if (post) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type) reply.content_type = type;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

aiperf::MockServerConfig fast_config() {
  aiperf::MockServerConfig config;
  config.ttft_ms = 0;
  config.itl_ms = 0;
  config.output_tokens = 8;
  return config;
}

TEST(MockServer, ServesHealthChatAndErrorsThenStops) {
  aiperf::MockServer server(fast_config());
  int port = server.start();
  ASSERT_GT(port, 0);
  EXPECT_EQ(server.port(), port);
  Reply health = http(port, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  Reply chat = http(port, "/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", true);
  EXPECT_EQ(chat.status, 200);
  EXPECT_EQ(chat.content_type, "application/json");
  EXPECT_NE(chat.body.find("\"chat.completion\""), std::string::npos);
  EXPECT_EQ(http(port, "/nope").status, 404);
  EXPECT_EQ(http(port, "/v1/chat/completions", "{bad", true).status, 400);
  EXPECT_EQ(http(port, "/v1/chat/completions").status, 405);
  auto stats = server.stats();
  EXPECT_EQ(stats["health"], 1);
  EXPECT_EQ(stats["chat_completions"], 1);
  EXPECT_EQ(stats["not_found"], 1);
  EXPECT_EQ(stats["bad_request"], 1);
  EXPECT_FALSE(server.wait(0.0));
  server.stop();
  EXPECT_TRUE(server.wait(5.0));
  EXPECT_EQ(http(port, "/health").status, 0);  // the port is closed once stopped
}

TEST(MockServer, StreamsEveryTokenThenDone) {
  aiperf::MockServerConfig config = fast_config();
  config.itl_ms = 1;
  config.threads = 2;
  aiperf::MockServer server(config);
  int port = server.start();
  Reply reply = http(port, "/v1/completions", R"({"prompt":"x","stream":true,"max_tokens":5})", true);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/event-stream");
  size_t events = 0;
  for (size_t pos = 0; (pos = reply.body.find("data: ", pos)) != std::string::npos; pos += 6) ++events;
  EXPECT_EQ(events, 5u + 1u + 1u);  // tokens, finish event, [DONE]
  EXPECT_NE(reply.body.find("data: [DONE]\n\n"), std::string::npos);
  EXPECT_EQ(reply.body.find("\"usage\""), std::string::npos);
}

size_t abort_after_first_chunk(char*, size_t size, size_t count, void* user) {
  *static_cast<int*>(user) += 1;
  return *static_cast<int*>(user) > 1 ? 0 : size * count;  // returning less than given aborts the transfer
}

TEST(MockServer, ClientDisconnectMidStreamIsSurvived) {
  aiperf::MockServerConfig config = fast_config();
  config.itl_ms = 2;
  config.output_tokens = 200;
  aiperf::MockServer server(config);
  int port = server.start();
  for (int i = 0; i < 3; ++i) {
    CURL* curl = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
    int chunks = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, R"({"stream":true,"messages":[]})");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, abort_after_first_chunk);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &chunks);
    EXPECT_EQ(curl_easy_perform(curl), CURLE_WRITE_ERROR);
    curl_easy_cleanup(curl);
  }
  // The server notices on its next writes; wait for all three streams to be dropped.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.stats()["streams_open"] != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.stats()["streams_open"], 0);
  EXPECT_EQ(server.stats()["client_disconnects"], 3);
  EXPECT_EQ(http(port, "/health").status, 200);
}

TEST(MockServer, StopWhileStreamsAreOpenFreesThem) {
  aiperf::MockServerConfig config = fast_config();
  config.ttft_ms = 10000;  // the reply never comes before the stop
  aiperf::MockServer server(config);
  int port = server.start();
  std::thread client([port] { http(port, "/v1/chat/completions", R"({"stream":true})", true); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.stats()["streams_open"] != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.stats()["streams_open"], 1);
  server.stop();
  EXPECT_TRUE(server.wait(5.0));
  client.join();
}

TEST(MockServer, ClientGoneBeforeADelayedReplyIsSurvived) {
  aiperf::MockServerConfig config = fast_config();
  config.ttft_ms = 30;
  aiperf::MockServer server(config);
  int port = server.start();
  CURL* curl = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, R"({"messages":[]})");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5L);  // gives up before the reply is due
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OPERATION_TIMEDOUT);
  curl_easy_cleanup(curl);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // the reply is written to a closed socket
  Reply health = http(port, "/health");
  EXPECT_EQ(health.status, 200);
}

TEST(MockServer, StreamLargerThanTheSocketBufferArrivesWhole) {
  aiperf::MockServerConfig config = fast_config();
  config.output_tokens = 50000;  // with ITL 0 every token is due at once: one write the socket cannot take
  aiperf::MockServer server(config);
  int port = server.start();
  Reply reply = http(port, "/v1/chat/completions", R"({"stream":true})", true);
  EXPECT_EQ(reply.status, 200);
  size_t tokens = 0;
  for (size_t pos = 0; (pos = reply.body.find("\"content\"", pos)) != std::string::npos; ++pos) ++tokens;
  EXPECT_EQ(tokens, 50000u);
  EXPECT_EQ(reply.body.size() - reply.body.rfind("data: [DONE]\n\n"), 14u);
  EXPECT_EQ(http(port, "/health").status, 200);
}

TEST(MockServer, PortInUseIsAnError) {
  aiperf::MockServer first(fast_config());
  int port = first.start();
  aiperf::MockServerConfig config = fast_config();
  config.port = port;
  aiperf::MockServer second(config);
  EXPECT_THROW(second.start(), aiperf::Error);
}

// ---- Image routes ----

std::string multipart_body(const std::string& boundary, const std::string& image_bytes, const std::string& eol = "\r\n") {
  std::string body = "--" + boundary + eol + "Content-Disposition: form-data; name=\"prompt\"" + eol + eol +
                     "make it\r\nblue" + eol;
  body += "--" + boundary + eol + "Content-Disposition: form-data; name=\"n\"" + eol + eol + "2" + eol;
  body += "--" + boundary + eol + "Content-Disposition: form-data; name=\"image\"; filename=\"ref.png\"" + eol +
          "Content-Type: image/png" + eol + eol + image_bytes + eol;
  body += "--" + boundary + "--" + eol;
  return body;
}

// A minimal JPEG head: SOI, an APP0 segment, then a baseline frame header for 128x64.
std::string tiny_jpeg() {
  const unsigned char bytes[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08,
                                 0x00, 0x40, 0x00, 0x80, 0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11,
                                 0x00, 0xFF, 0xD9};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

TEST(MockRoutes, ImageRoutesResolveAndMockImagePathsArePrefixed) {
  using aiperf::mock::Method;
  EXPECT_EQ(aiperf::mock::find_route("/v1/images/generations", Method::post, nullptr)->endpoint,
            Endpoint::image_generations);
  EXPECT_EQ(aiperf::mock::find_route("/v1/images/edits", Method::post, nullptr)->endpoint, Endpoint::image_edits);
  EXPECT_EQ(aiperf::mock::find_route("/v1/mock-images/64x32.png", Method::get, nullptr)->endpoint,
            Endpoint::mock_image);
  EXPECT_EQ(aiperf::mock::mock_image_path_size("/v1/mock-images/64x32.png"), std::make_pair(64, 32));
  EXPECT_EQ(aiperf::mock::mock_image_path_size("/v1/mock-images/64x32.jpg"), std::make_pair(0, 0));
  EXPECT_EQ(aiperf::mock::mock_image_path_size("/v1/mock-images/../x.png"), std::make_pair(0, 0));
}

TEST(MockMultipart, BoundaryIsReadQuotedOrBareAndOnlyForFormData) {
  EXPECT_EQ(aiperf::mock::multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(aiperf::mock::multipart_boundary("Multipart/Form-Data;boundary=\"a b;c\""), "a b;c");
  EXPECT_EQ(aiperf::mock::multipart_boundary("multipart/form-data; charset=utf-8; boundary=xyz; foo=bar"), "xyz");
  EXPECT_EQ(aiperf::mock::multipart_boundary("application/json"), "");
  EXPECT_EQ(aiperf::mock::multipart_boundary("multipart/form-data"), "");
}

TEST(MockMultipart, PartsAreSplitAtCrlfBoundaryLinesKeepingTheirBytes) {
  const std::string image("\x89PNG\r\n\x1a\n--not-the-boundary\r\n\0tail", 33);
  const std::string body = "preamble\r\n" + multipart_body("BOUND", image);
  std::vector<aiperf::mock::MultipartPart> parts;
  std::string error;
  ASSERT_TRUE(aiperf::mock::parse_multipart(body, "BOUND", parts, error)) << error;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "prompt");
  EXPECT_EQ(parts[0].data, "make it\r\nblue");
  EXPECT_FALSE(parts[0].is_file);
  EXPECT_EQ(parts[1].data, "2");
  EXPECT_EQ(parts[2].name, "image");
  EXPECT_EQ(parts[2].filename, "ref.png");
  EXPECT_TRUE(parts[2].is_file);
  EXPECT_EQ(parts[2].content_type, "image/png");
  EXPECT_EQ(parts[2].data, image);
}

TEST(MockMultipart, BareLfLineEndingsAreAccepted) {
  std::vector<aiperf::mock::MultipartPart> parts;
  std::string error;
  const std::string body = multipart_body("b", "PNGDATA", "\n");  // the parts are views into it
  ASSERT_TRUE(aiperf::mock::parse_multipart(body, "b", parts, error)) << error;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].data, "PNGDATA");
}

TEST(MockMultipart, MalformedBodiesAreErrors) {
  std::vector<aiperf::mock::MultipartPart> parts;
  std::string error;
  EXPECT_FALSE(aiperf::mock::parse_multipart("no boundary here", "b", parts, error));
  EXPECT_NE(error.find("boundary"), std::string::npos);
  EXPECT_FALSE(aiperf::mock::parse_multipart("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nvalue", "b",
                                             parts, error));
  EXPECT_NE(error.find("closing boundary"), std::string::npos);
  EXPECT_FALSE(aiperf::mock::parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--\r\n", "b", parts, error));
  EXPECT_NE(error.find("name"), std::string::npos);
}

TEST(MockImageEdit, AValidPngSetsTheDefaultSizeAndFieldsAreRead) {
  aiperf::mock::ImageRequest request;
  std::string error;
  ASSERT_TRUE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=\"BOUND\"",
                                             multipart_body("BOUND", aiperf::synthetic_png(48, 20, 1)), request, error))
      << error;
  EXPECT_EQ(request.prompt, "make it\r\nblue");
  EXPECT_EQ(request.n, 2);
  EXPECT_EQ(request.reference_images, 1);
  EXPECT_EQ(aiperf::mock::image_output_size(request), std::make_pair(48, 20));
}

TEST(MockImageEdit, AJpegReferenceIsAcceptedWithItsFrameSize) {
  EXPECT_EQ(aiperf::mock::jpeg_size(tiny_jpeg()), std::make_pair(128, 64));
  aiperf::mock::ImageRequest request;
  std::string error;
  ASSERT_TRUE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", tiny_jpeg()),
                                             request, error))
      << error;
  EXPECT_EQ(aiperf::mock::image_output_size(request), std::make_pair(128, 64));
}

TEST(MockImageEdit, MissingOrUndecodableImagesAndNonMultipartBodiesAreErrors) {
  aiperf::mock::ImageRequest request;
  std::string error;
  const std::string no_image = "--B\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n--B--\r\n";
  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", no_image, request, error));
  EXPECT_NE(error.find("'image' is required"), std::string::npos) << error;

  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", "hello"), request,
                                              error));
  EXPECT_NE(error.find("must be a PNG or JPEG"), std::string::npos) << error;

  const std::string truncated_png = aiperf::synthetic_png(8, 8, 1).substr(0, 12);
  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", truncated_png),
                                              request, error));
  EXPECT_NE(error.find("not a decodable PNG"), std::string::npos) << error;

  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", tiny_jpeg().substr(0, 8)),
                                              request, error));
  EXPECT_NE(error.find("not a decodable JPEG"), std::string::npos) << error;

  EXPECT_FALSE(aiperf::mock::parse_image_edit("application/json", R"({"prompt":"x"})", request, error));
  EXPECT_NE(error.find("multipart/form-data"), std::string::npos) << error;
}

TEST(MockImageGeneration, FieldsAreReadAndBadValuesAreErrors) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::ImageRequest request;
  std::string error;
  ASSERT_TRUE(parser.parse_image_generation(
      R"({"prompt":"a cat","model":"flux","n":3,"size":"640x480","response_format":"url","quality":"hd",)"
      R"("stream":true,"partial_images":2,"num_inference_steps":4,"seed":null})",
      request, error))
      << error;
  EXPECT_EQ(request.prompt, "a cat");
  EXPECT_EQ(request.model, "flux");
  EXPECT_EQ(request.n, 3);
  EXPECT_EQ(aiperf::mock::image_output_size(request), std::make_pair(640, 480));
  EXPECT_EQ(request.response_format, aiperf::mock::ImageResponseFormat::url);
  EXPECT_EQ(request.quality, "hd");
  EXPECT_TRUE(request.stream);
  EXPECT_EQ(request.partial_images, 2);
  ASSERT_TRUE(parser.parse_image_generation(R"({"prompt":"x","size":"auto"})", request, error));
  EXPECT_EQ(aiperf::mock::image_output_size(request), std::make_pair(1024, 1024));

  for (const char* bad : {R"({"model":"m"})", R"({"prompt":"x","size":"1024"})", R"({"prompt":"x","size":"0x5"})",
                          R"({"prompt":"x","size":"5000x5"})", R"({"prompt":"x","n":0})", R"({"prompt":"x","n":11})",
                          R"({"prompt":"x","response_format":"png"})", R"({"prompt":5})", "{not json"}) {
    EXPECT_FALSE(parser.parse_image_generation(bad, request, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(MockImages, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},     {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    std::string out = "prefix:";
    aiperf::mock::append_base64(out, plain);
    EXPECT_EQ(out, std::string("prefix:") + encoded);
  }
}

TEST(MockImages, CacheReturnsOnePngPerSize) {
  aiperf::mock::ImageCache cache;
  auto a = cache.get(40, 30);
  EXPECT_EQ(aiperf::png_size(a->png), std::make_pair(40, 30));
  EXPECT_EQ(cache.get(40, 30).get(), a.get());
  EXPECT_NE(cache.get(30, 40).get(), a.get());
}

TEST(MockImages, BodyHasNImagesOfTheRequestedSizeAndUsage) {
  aiperf::mock::ImageCache cache;
  aiperf::mock::ImageRequest request;
  request.prompt = "12345678";
  request.n = 2;
  request.width = 64;
  request.height = 32;
  auto image = cache.get(64, 32);
  simdjson::dom::parser parser;
  auto doc = parse(parser, aiperf::mock::images_body(request, *image, "http://h:1", 1700000000));
  EXPECT_EQ(int64_t(doc["created"]), 1700000000);
  EXPECT_EQ(simdjson::dom::array(doc["data"]).size(), 2u);
  EXPECT_EQ(std::string_view(doc["data"].at(1)["b64_json"]), image->base64);
  EXPECT_EQ(std::string_view(doc["size"]), "64x32");
  EXPECT_EQ(int64_t(doc["usage"]["input_tokens"]), 2);
  EXPECT_EQ(int64_t(doc["usage"]["output_tokens"]), 2 * 2 * 1);
  request.response_format = aiperf::mock::ImageResponseFormat::url;
  auto url_doc = parse(parser, aiperf::mock::images_body(request, *image, "http://h:1", 0));
  EXPECT_EQ(std::string_view(url_doc["data"].at(0)["url"]), "http://h:1/v1/mock-images/64x32.png");
}

TEST(MockImages, StreamEventsCarryB64JsonThenDone) {
  aiperf::mock::ImageCache cache;
  aiperf::mock::ImageRequest request;
  request.prompt = "x";
  request.n = 2;
  request.partial_images = 1;
  request.width = request.height = 16;
  auto image = cache.get(16, 16);
  auto rounds = aiperf::mock::image_stream_events(Endpoint::image_edits, request, *image, 5);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0].find("event: image_edit.partial_image\ndata: {\"type\":\"image_edit.partial_image\""), 0u);
  const std::string& last = rounds[1];
  EXPECT_TRUE(last.ends_with("}\n\ndata: [DONE]\n\n"));
  simdjson::dom::parser parser;
  std::size_t completed = 0;
  for (std::size_t pos = 0; (pos = last.find("data: {", pos)) != std::string::npos; ++completed) {
    const std::size_t end = last.find("\n\n", pos);
    auto event = parse(parser, last.substr(pos + 6, end - pos - 6));
    EXPECT_EQ(std::string_view(event["type"]), "image_edit.completed");
    EXPECT_EQ(std::string_view(event["b64_json"]), image->base64);
    EXPECT_EQ(int64_t(event["created_at"]), 5);
    pos = end;
  }
  EXPECT_EQ(completed, 2u);
}

TEST(MockServer, ServesImageGenerationsEditsAndMockImageUrls) {
  aiperf::MockServerConfig config = fast_config();
  config.image_latency_ms = 0;
  aiperf::MockServer server(config);
  int port = server.start();
  Reply generated = http(port, "/v1/images/generations", R"({"prompt":"p","size":"32x16","response_format":"url"})", true);
  ASSERT_EQ(generated.status, 200) << generated.body;
  simdjson::dom::parser parser;
  std::string url(std::string_view(parse(parser, generated.body)["data"].at(0)["url"]));
  const std::string prefix = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_EQ(url.rfind(prefix, 0), 0u) << url;
  Reply png = http(port, url.substr(prefix.size()));
  EXPECT_EQ(png.status, 200);
  EXPECT_EQ(png.content_type, "image/png");
  EXPECT_EQ(aiperf::png_size(png.body), std::make_pair(32, 16));

  Reply edited = http(port, "/v1/images/edits", multipart_body("XyZ", aiperf::synthetic_png(24, 12, 3)), true,
                      "multipart/form-data; boundary=XyZ");
  ASSERT_EQ(edited.status, 200) << edited.body;
  EXPECT_EQ(std::string_view(parse(parser, edited.body)["size"]), "24x12");
  Reply bad = http(port, "/v1/images/edits", multipart_body("XyZ", "GIF89a...."), true,
                   "multipart/form-data; boundary=XyZ");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("\"error\""), std::string::npos);
  EXPECT_EQ(http(port, "/v1/mock-images/nothing.png").status, 404);
  auto stats = server.stats();
  EXPECT_EQ(stats["image_generations"], 1);
  EXPECT_EQ(stats["image_edits"], 1);
  EXPECT_EQ(stats["mock_images"], 1);
  EXPECT_EQ(stats["images_sent"], 3);
}

}  // namespace
