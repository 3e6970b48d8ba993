// Tests of MultipartEncoder: byte-exact bodies, name escaping, content type sniffing, boundary collisions.
#include <gtest/gtest.h>

#include <string>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/multipart.hpp"
#include "aiperf/encode/png.hpp"

using aiperf::MultipartEncoder;
using namespace std::string_literals;

TEST(Multipart, BodyMatchesHandWrittenBytes) {
  // File bytes are referenced, not copied: they must outlive encode().
  const std::string image = "\x89PNG\r\n\x1a\nDATA"s;
  const std::string mask = "\x00\x01\x02"s;
  MultipartEncoder form("XyZ-boundary");
  form.add_field("prompt", "a red fox");
  form.add_field("n", "1");
  form.add_file("image", "image.png", image);
  form.add_file("mask", "m.bin", mask, "application/x-mask");
  const std::string expected =
      "--XyZ-boundary\r\n"
      "Content-Disposition: form-data; name=\"prompt\"\r\n"
      "\r\n"
      "a red fox\r\n"
      "--XyZ-boundary\r\n"
      "Content-Disposition: form-data; name=\"n\"\r\n"
      "\r\n"
      "1\r\n"
      "--XyZ-boundary\r\n"
      "Content-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\n"
      "Content-Type: image/png\r\n"
      "\r\n"
      "\x89PNG\r\n\x1a\nDATA\r\n"
      "--XyZ-boundary\r\n"
      "Content-Disposition: form-data; name=\"mask\"; filename=\"m.bin\"\r\n"
      "Content-Type: application/x-mask\r\n"
      "\r\n"
      "\x00\x01\x02\r\n"
      "--XyZ-boundary--\r\n"s;
  EXPECT_EQ(form.encoded_size(), expected.size());
  EXPECT_EQ(form.encode(), expected);
  std::string buffer(expected.size(), '?');
  form.encode_to(buffer.data());
  EXPECT_EQ(buffer, expected);
  EXPECT_EQ(form.content_type(), "multipart/form-data; boundary=XyZ-boundary");
}

TEST(Multipart, EmptyFormIsJustTheCloseDelimiter) {
  MultipartEncoder form("b");
  EXPECT_EQ(form.encode(), "--b--\r\n");
}

TEST(Multipart, EmptyValuesAndUtf8AreKept) {
  MultipartEncoder form("b");
  form.add_field("", "");
  form.add_field("caf\xC3\xA9", "\xE2\x9C\x93 line1\nline2");
  EXPECT_EQ(form.encode(),
            "--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n\r\n"
            "--b\r\nContent-Disposition: form-data; name=\"caf\xC3\xA9\"\r\n\r\n\xE2\x9C\x93 line1\nline2\r\n"
            "--b--\r\n");
}

TEST(Multipart, QuotesAndLineBreaksInNamesAreEscapedAsHtmlDoes) {
  EXPECT_EQ(aiperf::escape_multipart_name("a\"b\r\nc"), "a%22b%0D%0Ac");
  EXPECT_EQ(aiperf::escape_multipart_name("plain %20"), "plain %20");
  MultipartEncoder form("b");
  form.add_file("fi\"le", "my\r\n\"pic\".png", "x", "text/plain");
  EXPECT_EQ(form.encode(),
            "--b\r\nContent-Disposition: form-data; name=\"fi%22le\"; filename=\"my%0D%0A%22pic%22.png\"\r\n"
            "Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n");
}

TEST(Multipart, FileContentTypeIsSniffedOrOctetStream) {
  const std::string png = aiperf::synthetic_png(4, 4, 1);
  const std::string jpeg = "\xFF\xD8\xFF\xDB rest"s;
  MultipartEncoder form("XyZ-boundary");
  form.add_file("image", "image.png", png);
  form.add_file("image", "image.jpg", jpeg);
  form.add_file("blob", "blob", "not an image");
  const std::string body = form.encode();
  EXPECT_NE(body.find("filename=\"image.png\"\r\nContent-Type: image/png\r\n"), std::string::npos);
  EXPECT_NE(body.find("filename=\"image.jpg\"\r\nContent-Type: image/jpeg\r\n"), std::string::npos);
  EXPECT_NE(body.find("filename=\"blob\"\r\nContent-Type: application/octet-stream\r\n"), std::string::npos);
}

TEST(Multipart, ContentTypeWithLineBreakIsRefused) {
  MultipartEncoder form("b");
  EXPECT_THROW(form.add_file("f", "f", "x", "text/plain\r\nX-Evil: 1"), aiperf::Error);
}

TEST(Multipart, CallerBoundaryFoundInAPartThrows) {
  MultipartEncoder form("collide");
  form.add_file("image", "i.bin", "abc--collide--xyz");
  EXPECT_THROW(form.encode(), aiperf::Error);
  MultipartEncoder in_a_field("collide");
  in_a_field.add_field("prompt", "collide");
  EXPECT_THROW(in_a_field.encode(), aiperf::Error);
  std::string buffer(in_a_field.encoded_size(), '\0');
  EXPECT_THROW(in_a_field.encode_to(buffer.data()), aiperf::Error);
}

TEST(Multipart, GeneratedBoundaryFoundInAPartIsReplaced) {
  MultipartEncoder form;
  const std::string first = form.boundary();
  const std::string data = "xx" + first + "yy";
  form.add_file("image", "i.bin", data);
  const std::string body = form.encode();
  EXPECT_NE(form.boundary(), first);
  EXPECT_EQ(body.rfind("--" + form.boundary() + "--\r\n"), body.size() - form.boundary().size() - 6);
  EXPECT_EQ(body.find(first), body.find(data) + 2);  // only inside the file itself
  EXPECT_EQ(form.content_type(), "multipart/form-data; boundary=" + form.boundary());
}

TEST(Multipart, RandomBoundariesAreLongValidAndDistinct) {
  const std::string a = MultipartEncoder::random_boundary();
  const std::string b = MultipartEncoder::random_boundary();
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), 30u);
  EXPECT_LE(a.size(), 70u);
  EXPECT_NO_THROW(MultipartEncoder{a});
}

TEST(Multipart, InvalidBoundariesAreRefused) {
  EXPECT_THROW(MultipartEncoder{""}, aiperf::Error);
  EXPECT_THROW(MultipartEncoder{std::string(71, 'a')}, aiperf::Error);
  EXPECT_THROW(MultipartEncoder{"ends in space "}, aiperf::Error);
  EXPECT_THROW(MultipartEncoder{"semi;colon"}, aiperf::Error);
  EXPECT_THROW(MultipartEncoder{"quote\""}, aiperf::Error);
  EXPECT_NO_THROW(MultipartEncoder{"a'()+_,-./:=? b"});
}

TEST(Multipart, LargeFileIsCopiedIntact) {
  const std::string png = aiperf::synthetic_png(256, 256, 9);
  MultipartEncoder form;
  form.add_field("prompt", "p");
  form.add_file("image", "image.png", png);
  const std::string body = form.encode();
  const std::string head = "Content-Type: image/png\r\n\r\n";
  const std::size_t start = body.find(head) + head.size();
  EXPECT_EQ(body.substr(start, png.size()), png);
  EXPECT_EQ(body.size(), form.encoded_size());
}

TEST(Multipart, BoundaryStraddlingAScanChunkEdgeIsFound) {
  for (std::size_t offset : {32u * 1024 - 5, 32u * 1024 - 1, 32u * 1024, 64u * 1024 - 3}) {
    std::string data(100 * 1024, 'x');
    data.replace(offset, 10, "BOUNDARY42");
    MultipartEncoder form("BOUNDARY42");
    form.add_file("f", "f", data, "application/octet-stream");
    EXPECT_THROW(form.encode(), aiperf::Error) << offset;
  }
}
