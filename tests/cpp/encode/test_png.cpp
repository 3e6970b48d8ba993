// Tests of the PNG encoder, synthetic images, png_size and sniff_image_type; decoding uses libpng's reader.
#include <gtest/gtest.h>
#include <png.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "aiperf/common/error.hpp"
#include "aiperf/encode/png.hpp"

namespace {

struct Decoded {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;
  png_uint_32 format = 0;            // the file's own format: PNG_FORMAT_FLAG_COLORMAP for a palette PNG
  png_uint_32 colormap_entries = 0;  // palette size
};

// libpng's simplified read API: no setjmp needed, and it validates CRCs and the zlib stream.
Decoded decode_rgb(const std::string& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "begin_read: " << image.message;
    return {};
  }
  Decoded decoded;
  decoded.format = image.format;
  decoded.colormap_entries = image.colormap_entries;
  image.format = PNG_FORMAT_RGB;
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

TEST(Png, SyntheticImageIsAn8BitPaletteImageWith256Colours) {
  const std::string png = aiperf::synthetic_png(512, 512, 11);
  // IHDR: bit depth 8, colour type 3 (palette); then a PLTE chunk of 256 RGB entries.
  ASSERT_GT(png.size(), 41u);
  EXPECT_EQ(static_cast<unsigned char>(png[24]), 8);
  EXPECT_EQ(static_cast<unsigned char>(png[25]), 3);
  EXPECT_EQ(png.substr(37, 4), "PLTE");
  const Decoded decoded = decode_rgb(png);
  EXPECT_NE(decoded.format & PNG_FORMAT_FLAG_COLORMAP, 0u);
  EXPECT_EQ(decoded.colormap_entries, 256u);
}

TEST(Png, SyntheticImagesArePicturesNotFlatColour) {
  for (std::uint64_t seed : {3u, 4u, 5u}) {
    const std::string png = aiperf::synthetic_png(512, 512, seed);
    EXPECT_GT(png.size(), 4'000u) << "seed " << seed;
    EXPECT_LT(png.size(), 512u * 512u) << "seed " << seed;
    const Decoded decoded = decode_rgb(png);
    std::set<std::uint32_t> colours;
    for (std::size_t i = 0; i + 2 < decoded.rgb.size(); i += 3) {
      colours.insert(std::uint32_t{decoded.rgb[i]} << 16 | std::uint32_t{decoded.rgb[i + 1]} << 8 | decoded.rgb[i + 2]);
    }
    // Sky gradient, sun, mountain layers and the textured ground: many dozens of colours in use.
    EXPECT_GT(colours.size(), 64u) << "seed " << seed;
  }
}

TEST(Png, ManySeedsGiveDistinctImages) {
  std::set<std::string> pngs;
  std::set<std::string> pixels;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    pngs.insert(aiperf::synthetic_png(96, 64, seed));
    pixels.insert(aiperf::synthetic_rgb(96, 64, seed));
  }
  EXPECT_EQ(pngs.size(), 200u);
  EXPECT_EQ(pixels.size(), 200u);
}

TEST(Png, EveryCompressionLevelDecodesToTheSamePixels) {
  const std::string rgb = aiperf::synthetic_rgb(200, 120, 9);
  std::size_t stored_size = 0;
  for (int level = 0; level <= 9; ++level) {
    const std::string png = aiperf::synthetic_png(200, 120, 9, level);
    const Decoded decoded = decode_rgb(png);
    ASSERT_EQ(decoded.rgb.size(), rgb.size()) << "level " << level;
    EXPECT_EQ(0, std::memcmp(decoded.rgb.data(), rgb.data(), rgb.size())) << "level " << level;
    if (level == 0) {
      stored_size = png.size();
      EXPECT_GT(stored_size, 200u * 120u);  // stored: every index byte is in the file
    } else {
      EXPECT_LT(png.size(), stored_size / 2) << "level " << level;
    }
  }
}

TEST(Png, OddSizesAndOnePixelWork) {
  for (auto [w, h] : {std::pair{1, 1}, std::pair{3, 1}, std::pair{1, 5}, std::pair{13, 9}, std::pair{16384, 2},
                      std::pair{2, 16384}}) {
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
