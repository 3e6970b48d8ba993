// The mock server's text replies, checked as JSON: bodies, stream events, usage, embeddings.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "aiperf/mock/responses.hpp"
#include "helpers.hpp"

namespace {

using aiperf::mock::Endpoint;
using aiperf_test::parse;

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

}  // namespace
