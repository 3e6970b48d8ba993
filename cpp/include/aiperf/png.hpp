// PNG encoding (libpng + zlib), synthetic reference images, and image type sniffing from magic bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace aiperf {

// Largest width or height synthetic_png accepts.
inline constexpr int kMaxSyntheticImageSide = 16384;

// Encodes 8-bit RGB pixels (row-major, width*3 bytes per row) as PNG with libpng; zlib level 0-9.
// Throws aiperf::Error for a bad size or level, or when libpng reports an error.
std::string encode_png_rgb(const std::uint8_t* rgb, int width, int height, int compression_level = 1);

// A deterministic synthetic image (same seed, same bytes): smooth colour gradients plus noise so that
// images differ and do not compress to nothing. Throws aiperf::Error for width/height < 1 or > 16384.
// The pixels are a mosaic of 4x4 squares (gradient + low-bit noise per square), which zlib encodes quickly:
// 512x512 is ~4 ms and 60-100 KB at level 1, ~1 ms and 787 KB at level 0 (see bench/images).
std::string synthetic_png(int width, int height, std::uint64_t seed, int compression_level = 1);

// The RGB pixels synthetic_png encodes (width*height*3 bytes), e.g. for other encoders.
std::string synthetic_rgb(int width, int height, std::uint64_t seed);

// Width and height of a PNG (from IHDR), or {0,0} when the bytes are not a PNG.
std::pair<int, int> png_size(std::string_view png_bytes);

// "image/png", "image/jpeg", "image/webp", "image/gif" from the magic bytes, or "" when unknown.
std::string_view sniff_image_type(std::string_view bytes);

}  // namespace aiperf
