// The mock server's image parts without a server: routes, multipart bodies, edit requests, PNG cache, replies.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "aiperf/encode/png.hpp"
#include "aiperf/mock/images.hpp"
#include "aiperf/mock/routes.hpp"
#include "helpers.hpp"

namespace {

using aiperf::mock::Endpoint;
using aiperf_test::multipart_body;
using aiperf_test::parse;

// A minimal JPEG head: SOI, an APP0 segment, then a baseline frame header for 128x64.
std::string tiny_jpeg() {
  const unsigned char bytes[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0,
                                 0x00, 0x11, 0x08, 0x00, 0x40, 0x00, 0x80, 0x03, 0x01, 0x11,
                                 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00, 0xFF, 0xD9};
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
  EXPECT_FALSE(
      aiperf::mock::parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--\r\n", "b", parts, error));
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

  EXPECT_FALSE(
      aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", "hello"), request, error));
  EXPECT_NE(error.find("must be a PNG or JPEG"), std::string::npos) << error;

  const std::string truncated_png = aiperf::synthetic_png(8, 8, 1).substr(0, 12);
  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B", multipart_body("B", truncated_png),
                                              request, error));
  EXPECT_NE(error.find("not a decodable PNG"), std::string::npos) << error;

  EXPECT_FALSE(aiperf::mock::parse_image_edit("multipart/form-data; boundary=B",
                                              multipart_body("B", tiny_jpeg().substr(0, 8)), request, error));
  EXPECT_NE(error.find("not a decodable JPEG"), std::string::npos) << error;

  EXPECT_FALSE(aiperf::mock::parse_image_edit("application/json", R"({"prompt":"x"})", request, error));
  EXPECT_NE(error.find("multipart/form-data"), std::string::npos) << error;
}

TEST(MockImages, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
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

}  // namespace
