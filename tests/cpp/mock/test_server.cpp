// The running mock server over libcurl: routes, streams, disconnects, stops, the image routes.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <thread>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/png.hpp"
#include "aiperf/mock/server.hpp"
#include "helpers.hpp"

namespace {

using aiperf::mock::Endpoint;
using aiperf_test::multipart_body;
using aiperf_test::parse;

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

TEST(MockServer, ServesImageGenerationsEditsAndMockImageUrls) {
  aiperf::MockServerConfig config = fast_config();
  config.image_latency_ms = 0;
  aiperf::MockServer server(config);
  int port = server.start();
  Reply generated =
      http(port, "/v1/images/generations", R"({"prompt":"p","size":"32x16","response_format":"url"})", true);
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
  Reply bad =
      http(port, "/v1/images/edits", multipart_body("XyZ", "GIF89a...."), true, "multipart/form-data; boundary=XyZ");
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
