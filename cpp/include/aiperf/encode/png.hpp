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

// A deterministic synthetic image (same seed, same bytes, different seeds different images): an 8-bit palette PNG
// (256 seeded colours) of a landscape - sky gradient, sun, four fractal mountain ridges, a noise-textured ground.
// Throws aiperf::Error for width/height < 1 or > 16384 or a level outside 0..9. Level 1 (the default) uses zlib's
// run-length strategy, which codes the flat areas almost for free: 512x512 is ~0.36 ms and ~6.5 KiB; level 0
// stores the indices (~0.3 ms, 257 KiB); levels 2-9 use zlib's default strategy (see bench/images).
std::string synthetic_png(int width, int height, std::uint64_t seed, int compression_level = 1);

// The RGB pixels synthetic_png encodes (width*height*3 bytes, the palette looked up), e.g. for other encoders.
std::string synthetic_rgb(int width, int height, std::uint64_t seed);

// Width and height of a PNG (from IHDR), or {0,0} when the bytes are not a PNG.
std::pair<int, int> png_size(std::string_view png_bytes);

// "image/png", "image/jpeg", "image/webp", "image/gif" from the magic bytes, or "" when unknown.
std::string_view sniff_image_type(std::string_view bytes);

}  // namespace aiperf
