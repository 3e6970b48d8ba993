// Tests of the PNG encoder, synthetic images, png_size and sniff_image_type; decoding uses libpng's reader.
#include <gtest/gtest.h>
#include <png.h>

#include <cstring>
#include <string>
#include <vector>

#include "aiperf/error.hpp"
#include "aiperf/png.hpp"

namespace {

struct Decoded {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;
};

// libpng's simplified read API: no setjmp needed, and it validates CRCs and the zlib stream.
Decoded decode_rgb(const std::string& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "begin_read: " << image.message;
    return {};
  }
  image.format = PNG_FORMAT_RGB;
  Decoded decoded;
  decoded.width = static_cast<int>(image.width);
  decoded.height = static_cast<int>(image.height);
  decoded.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, decoded.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << "finish_read: " << image.message;
    png_image_free(&image);
    return {};
  }
  return decoded;
}

}  // namespace

TEST(Png, EncodedPixelsDecodeBackExactly) {
  const int width = 7;
  const int height = 5;
  std::vector<std::uint8_t> rgb(width * height * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i * 37 + 11);
  for (int level : {0, 1, 9}) {
    const std::string png = aiperf::encode_png_rgb(rgb.data(), width, height, level);
    const Decoded decoded = decode_rgb(png);
    EXPECT_EQ(decoded.width, width);
    EXPECT_EQ(decoded.height, height);
    EXPECT_EQ(decoded.rgb, rgb) << "level " << level;
  }
}

TEST(Png, SyntheticImageDecodesToItsPixelsAndSize) {
  const std::string png = aiperf::synthetic_png(512, 384, 42);
  const Decoded decoded = decode_rgb(png);
  EXPECT_EQ(decoded.width, 512);
  EXPECT_EQ(decoded.height, 384);
  const std::string rgb = aiperf::synthetic_rgb(512, 384, 42);
  ASSERT_EQ(decoded.rgb.size(), rgb.size());
  EXPECT_EQ(0, std::memcmp(decoded.rgb.data(), rgb.data(), rgb.size()));
  EXPECT_EQ(aiperf::png_size(png), std::make_pair(512, 384));
}

TEST(Png, SameSeedGivesSameBytesAndDifferentSeedsDiffer) {
  EXPECT_EQ(aiperf::synthetic_png(64, 48, 7), aiperf::synthetic_png(64, 48, 7));
  EXPECT_NE(aiperf::synthetic_png(64, 48, 7), aiperf::synthetic_png(64, 48, 8));
  EXPECT_NE(aiperf::synthetic_rgb(64, 48, 1), aiperf::synthetic_rgb(64, 48, 2));
}

TEST(Png, SyntheticImagesDoNotCompressToNothing) {
  const std::string png = aiperf::synthetic_png(512, 512, 3);
  EXPECT_GT(png.size(), 10'000u);
  EXPECT_LT(png.size(), 512u * 512u * 3u);
}

TEST(Png, OddSizesAndOnePixelWork) {
  for (auto [w, h] : {std::pair{1, 1}, std::pair{3, 1}, std::pair{1, 5}, std::pair{13, 9}}) {
    const Decoded decoded = decode_rgb(aiperf::synthetic_png(w, h, 1));
    EXPECT_EQ(decoded.width, w);
    EXPECT_EQ(decoded.height, h);
  }
}

TEST(Png, BadSizesAndLevelsThrow) {
  EXPECT_THROW(aiperf::synthetic_png(0, 10, 1), aiperf::Error);
  EXPECT_THROW(aiperf::synthetic_png(10, -1, 1), aiperf::Error);
  EXPECT_THROW(aiperf::synthetic_png(16385, 1, 1), aiperf::Error);
  EXPECT_THROW(aiperf::synthetic_png(8, 8, 1, 10), aiperf::Error);
  EXPECT_THROW(aiperf::synthetic_png(8, 8, 1, -1), aiperf::Error);
  const std::uint8_t pixel[3] = {1, 2, 3};
  EXPECT_THROW(aiperf::encode_png_rgb(pixel, 0, 1), aiperf::Error);
  EXPECT_THROW(aiperf::encode_png_rgb(nullptr, 1, 1), aiperf::Error);
}

TEST(Png, SizeOfNonPngIsZero) {
  EXPECT_EQ(aiperf::png_size(""), std::make_pair(0, 0));
  EXPECT_EQ(aiperf::png_size("GIF89a........................"), std::make_pair(0, 0));
  std::string truncated = aiperf::synthetic_png(20, 10, 1).substr(0, 23);
  EXPECT_EQ(aiperf::png_size(truncated), std::make_pair(0, 0));
}

TEST(Png, SniffsTypesFromMagicBytes) {
  using namespace std::string_literals;
  EXPECT_EQ(aiperf::sniff_image_type(aiperf::synthetic_png(2, 2, 1)), "image/png");
  EXPECT_EQ(aiperf::sniff_image_type("\xFF\xD8\xFF\xE0\x00\x10JFIF"s), "image/jpeg");
  EXPECT_EQ(aiperf::sniff_image_type("RIFF\x24\x00\x00\x00WEBPVP8 "s), "image/webp");
  EXPECT_EQ(aiperf::sniff_image_type("GIF87a\x01\x00"s), "image/gif");
  EXPECT_EQ(aiperf::sniff_image_type("GIF89a"s), "image/gif");
  EXPECT_EQ(aiperf::sniff_image_type("RIFF\x24\x00\x00\x00WAVEfmt "s), "");
  EXPECT_EQ(aiperf::sniff_image_type("\x89PNG\r\n"s), "");  // truncated signature
  EXPECT_EQ(aiperf::sniff_image_type(""), "");
  EXPECT_EQ(aiperf::sniff_image_type("hello world"), "");
}
