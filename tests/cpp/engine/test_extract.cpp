// ResponseExtractor: content, reasoning, usage, image counts and error objects from OpenAI-style JSON.
#include <gtest/gtest.h>

#include "aiperf/engine/extract.hpp"

namespace aiperf {
namespace {

TEST(ResponseExtractor, AppendsChatStreamingDeltas) {
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(extractor.extract(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]})", fields),
            ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({"choices":[{"delta":{"content":"lo \"w\""},"finish_reason":null}]})", fields),
            ExtractStatus::ok);
  EXPECT_EQ(fields.content, "Hello \"w\"");
  EXPECT_EQ(fields.usage_prompt_tokens, -1);
}

TEST(ResponseExtractor, ReadsAChatMessageAndUsage) {
  ResponseExtractor extractor;
  ResponseFields fields;
  const auto status = extractor.extract(
      R"({"id":"x","choices":[{"message":{"role":"assistant","content":"Hi","reasoning_content":"hmm"}}],
          "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,
                   "completion_tokens_details":{"reasoning_tokens":2}}})",
      fields);
  EXPECT_EQ(status, ExtractStatus::ok);
  EXPECT_EQ(fields.content, "Hi");
  EXPECT_EQ(fields.reasoning, "hmm");
  EXPECT_EQ(fields.usage_prompt_tokens, 12);
  EXPECT_EQ(fields.usage_completion_tokens, 3);
  EXPECT_EQ(fields.usage_reasoning_tokens, 2);
}

TEST(ResponseExtractor, CountsOutOfTheInt64RangeAreAbsent) {
  // Found by fuzz_extract: converting 2e111 to an integer was undefined behaviour.
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(extractor.extract(R"({"usage":{"prompt_tokens":2.0,"completion_tokens":2e111,
                                 "completion_tokens_details":{"reasoning_tokens":-1e300}}})",
                              fields),
            ExtractStatus::ok);
  EXPECT_EQ(fields.usage_prompt_tokens, 2);
  EXPECT_EQ(fields.usage_completion_tokens, -1);
  EXPECT_EQ(fields.usage_reasoning_tokens, -1);
}

TEST(ResponseExtractor, ReadsCompletionsText) {
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(extractor.extract(R"({"choices":[{"text":"abc","index":0}]})", fields), ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({"choices":[{"text":"d"},{"text":"ignored second choice"}]})", fields),
            ExtractStatus::ok);
  EXPECT_EQ(fields.content, "abcd");
}

TEST(ResponseExtractor, PrefersReasoningContentOverReasoning) {
  ResponseExtractor extractor;
  ResponseFields fields;
  extractor.extract(R"({"choices":[{"delta":{"reasoning":"r1"}}]})", fields);
  extractor.extract(R"({"choices":[{"delta":{"reasoning":"dup","reasoning_content":"r2"}}]})", fields);
  EXPECT_EQ(fields.reasoning, "r1r2");
}

TEST(ResponseExtractor, ToleratesNullsAndMissingFields) {
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(
      extractor.extract(R"({"choices":[{"delta":{"content":null,"reasoning_content":null}}],"usage":null})", fields),
      ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":null}})", fields),
            ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({"choices":null,"error":null})", fields), ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({})", fields), ExtractStatus::ok);
  EXPECT_EQ(fields.content, "");
  EXPECT_EQ(fields.usage_prompt_tokens, 4);
  EXPECT_EQ(fields.usage_completion_tokens, -1);
}

TEST(ResponseExtractor, ParsesInPlaceWhenEnoughBytesFollowWhateverTheyHold) {
  // As inside libcurl's receive buffer: the document is followed by the next events, not by zeros.
  const std::string document =
      R"({"choices":[{"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":17}})";
  const std::string buffer = document + "\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"NOT THIS\"}}]}\n\n" +
                             std::string(ResponseExtractor::in_place_padding_bytes(), '9');
  ResponseExtractor extractor;
  ResponseFields in_place;
  const std::size_t after = buffer.size() - document.size();
  EXPECT_EQ(extractor.extract(std::string_view(buffer.data(), document.size()), in_place, after), ExtractStatus::ok);
  ResponseFields copied;
  EXPECT_EQ(extractor.extract(document, copied), ExtractStatus::ok);
  EXPECT_EQ(in_place.content, "Hi");
  EXPECT_EQ(in_place.content, copied.content);
  EXPECT_EQ(in_place.usage_completion_tokens, 17);
  EXPECT_EQ(in_place.usage_completion_tokens, copied.usage_completion_tokens);
  // A truncated document followed by the rest of a valid one is still invalid: parsing stops at its length.
  ResponseFields truncated;
  EXPECT_EQ(extractor.extract(std::string_view(buffer.data(), 30), truncated, buffer.size() - 30),
            ExtractStatus::invalid);
  EXPECT_EQ(truncated.content, "");
}

TEST(ResponseExtractor, LaterUsageReplacesEarlierUsage) {
  ResponseExtractor extractor;
  ResponseFields fields;
  extractor.extract(R"({"usage":{"prompt_tokens":4,"completion_tokens":1}})", fields);
  extractor.extract(R"({"usage":{"prompt_tokens":4,"completion_tokens":9}})", fields);
  EXPECT_EQ(fields.usage_completion_tokens, 9);
}

TEST(ResponseExtractor, RejectsDocumentsThatAreNotJsonObjects) {
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(extractor.extract("<html>", fields), ExtractStatus::invalid);
  EXPECT_EQ(extractor.extract("", fields), ExtractStatus::invalid);
  EXPECT_EQ(extractor.extract("[1,2]", fields), ExtractStatus::invalid);
  EXPECT_EQ(extractor.extract(R"({"choices":[{"delta":{"content":"x"})", fields), ExtractStatus::invalid);
  EXPECT_EQ(fields.content, "");  // a truncated document contributes nothing
}

TEST(ResponseExtractor, ReportsAnOpenAiErrorObjectMessage) {
  ResponseExtractor extractor;
  ResponseFields fields;
  EXPECT_EQ(
      extractor.extract(R"({"error":{"message":"model not found","type":"invalid_request_error","code":404}})", fields),
      ExtractStatus::error_object);
  EXPECT_EQ(fields.error_message, "model not found");
  ResponseFields bare;
  EXPECT_EQ(extractor.extract(R"({"error":"overloaded"})", bare), ExtractStatus::error_object);
  EXPECT_EQ(bare.error_message, "overloaded");
}

TEST(ResponseExtractor, CountsImagesButNotEmbeddings) {
  ResponseExtractor extractor;
  ResponseFields images;
  EXPECT_EQ(
      extractor.extract(R"({"created":1,"data":[{"b64_json":"iVBO"},{"url":"http://x/y.png"},{"url":null}]})", images),
      ExtractStatus::ok);
  EXPECT_EQ(images.num_images, 2);
  ResponseFields embeddings;
  EXPECT_EQ(extractor.extract(R"({"object":"list","data":[{"object":"embedding","embedding":[0.1,-2e-3],"index":0}],
                                  "usage":{"prompt_tokens":3,"total_tokens":3}})",
                              embeddings),
            ExtractStatus::ok);
  EXPECT_EQ(embeddings.num_images, 0);
  EXPECT_EQ(embeddings.usage_prompt_tokens, 3);
}

TEST(ResponseExtractor, CountsCompletedStreamedImagesOnly) {
  ResponseExtractor extractor;
  ResponseFields fields;
  extractor.extract(R"({"type":"image_generation.partial_image","b64_json":"AA"})", fields);
  extractor.extract(R"({"b64_json":"AAAA","type":"image_generation.completed"})", fields);
  EXPECT_EQ(fields.num_images, 1);
}

TEST(ResponseExtractor, ReusesItsBuffersForDocumentsOfAnySize) {
  ResponseExtractor extractor;
  ResponseFields fields;
  const std::string long_text(100000, 'z');
  EXPECT_EQ(extractor.extract(R"({"choices":[{"text":")" + long_text + R"("}]})", fields), ExtractStatus::ok);
  EXPECT_EQ(extractor.extract(R"({"choices":[{"text":"!"}]})", fields), ExtractStatus::ok);
  EXPECT_EQ(fields.content, long_text + "!");
}

}  // namespace
}  // namespace aiperf

TEST(Extract, Base64ValidationFollowsRfc4648) {
  EXPECT_TRUE(aiperf::is_valid_base64(""));
  EXPECT_TRUE(aiperf::is_valid_base64("iVBORw0KGgo="));
  EXPECT_TRUE(aiperf::is_valid_base64("YWJjZA=="));
  EXPECT_TRUE(aiperf::is_valid_base64("a+/9"));
  EXPECT_FALSE(aiperf::is_valid_base64("abc"));   // length not a multiple of 4
  EXPECT_FALSE(aiperf::is_valid_base64("ab=c"));  // padding inside
  EXPECT_FALSE(aiperf::is_valid_base64("a==="));  // at most two padding characters
  EXPECT_FALSE(aiperf::is_valid_base64("ab c"));  // whitespace
  EXPECT_FALSE(aiperf::is_valid_base64("ab-_"));  // URL-safe alphabet is not OpenAI's
}

TEST(Extract, InvalidBase64ImageIsNotedAndStillCounted) {
  aiperf::ResponseExtractor extractor;
  aiperf::ResponseFields fields;
  EXPECT_EQ(extractor.extract(R"({"data": [{"b64_json": "YWJj"}, {"b64_json": "%%%"}]})", fields),
            aiperf::ExtractStatus::ok);
  EXPECT_EQ(fields.num_images, 2);
  EXPECT_NE(fields.image_error.find("not valid base64"), std::string::npos);
  fields.clear();
  EXPECT_TRUE(fields.image_error.empty());
}
