// The mock server's request parser: the fields it reads, and the 400 messages of what it rejects.
#include <gtest/gtest.h>

#include <string>

#include "aiperf/mock/images.hpp"
#include "aiperf/mock/requests.hpp"
#include "aiperf/mock/responses.hpp"

namespace {

using aiperf::mock::Endpoint;

std::string text_error(std::string_view body, Endpoint endpoint = Endpoint::chat_completions) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::TextRequest request;
  std::string error;
  return parser.parse_text(body, endpoint, request, error) ? "ok" : error;
}

std::string embeddings_error(std::string_view body) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::EmbeddingsRequest request;
  std::string error;
  return parser.parse_embeddings(body, request, error) ? "ok" : error;
}

std::string image_error(std::string_view body) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::ImageRequest request;
  std::string error;
  return parser.parse_image_generation(body, request, error) ? "ok" : error;
}

TEST(MockParser, RejectionsNameTheFieldAndTheProblem) {
  EXPECT_EQ(text_error(R"({"model":"m","max_tokens":"ten"})"),
            "Invalid request body (field 'max_tokens'): The JSON element does not have the requested "
            "type.");
  EXPECT_EQ(text_error(R"({"max_completion_tokens":-1})"), "max_completion_tokens must be a non-negative integer");
  EXPECT_EQ(text_error("[1,2]"),
            "Invalid request body: The JSON element does not have the requested "
            "type.");
  EXPECT_EQ(text_error(R"({"messages":[{"content":[{"type":"text","text":"a"}]}],"stream":"yes"})"),
            "Invalid request body (field 'stream'): The JSON element does not have the requested "
            "type.");
  EXPECT_EQ(text_error(R"({"messages":["hi"]})"),
            "Invalid request body (field 'messages'): The JSON element does not have the requested "
            "type.");
  EXPECT_EQ(text_error(R"({"prompt":{"a":1}})", Endpoint::completions),
            "Invalid request body (field 'prompt'): The JSON element does not have the requested "
            "type.");
  EXPECT_NE(text_error("{not json").find("Invalid request body"), std::string::npos);
  EXPECT_NE(text_error("").find("Invalid request body"), std::string::npos);
  EXPECT_EQ(embeddings_error(R"({"input":[1,"a"]})"), "'input' mixes token ids with other inputs");
  EXPECT_EQ(embeddings_error(R"({"input":[1.5]})"),
            "Invalid request body (field 'input'): The JSON element does not have the requested "
            "type.");
  EXPECT_EQ(embeddings_error(R"({"model":"e"})"), "'input' is required and must not be empty");
  EXPECT_EQ(image_error(R"({"model":"m"})"), "'prompt' is required");
  EXPECT_EQ(image_error(R"({"prompt":null})"),
            "Invalid request body (field 'prompt'): The JSON element does not have the requested "
            "type.");
  EXPECT_NE(image_error(R"({"prompt":"x","n":0})").find("'n'"), std::string::npos);
}

TEST(MockParser, NullsMeanNotGivenAndUnknownFieldsAreSkipped) {
  aiperf::mock::RequestParser parser;
  aiperf::mock::TextRequest text;
  std::string error;
  ASSERT_TRUE(
      parser.parse_text(R"({"stream":null,"stream_options":null,"max_tokens":null,"tools":[{"x":[1,{}]}],)"
                        R"("messages":[{"role":"user","content":null},{"content":[5,"ab",{"type":"input_image"}]}]})",
                        Endpoint::chat_completions, text, error))
      << error;
  EXPECT_FALSE(text.stream);
  EXPECT_EQ(text.max_tokens, -1);
  EXPECT_EQ(text.prompt_chars, 2);
  EXPECT_EQ(text.image_parts, 1);
  ASSERT_TRUE(parser.parse_text(R"({"max_tokens":9,"max_completion_tokens":4,"stream_options":{"include_usage":null}})",
                                Endpoint::chat_completions, text, error));
  EXPECT_EQ(text.max_tokens, 4);
  EXPECT_FALSE(text.include_usage);
  // A chat body's prompt and a completions body's messages are not read.
  EXPECT_EQ(text_error(R"({"prompt":{"a":1}})"), "ok");
  EXPECT_EQ(text_error(R"({"messages":"x"})", Endpoint::completions), "ok");
  aiperf::mock::ImageRequest image;
  ASSERT_TRUE(parser.parse_image_generation(R"({"prompt":"x","n":null,"size":null,"stream":null})", image, error))
      << error;
  EXPECT_EQ(image.n, 1);
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
  ASSERT_TRUE(
      parser.parse_text(R"({"prompt":["abcd","ef",[1,2]],"max_tokens":3})", Endpoint::completions, request, error));
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

}  // namespace
