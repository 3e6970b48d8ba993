// PNG encoding with libpng, cheap deterministic synthetic pixels, PNG size and image type sniffing.
#include "aiperf/png.hpp"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "aiperf/error.hpp"

namespace aiperf {
namespace {

// Side of the synthetic mosaic's squares. Measured on 512x512 at zlib level 1: 1 pixel (pure per-pixel noise)
// ~23 ms and ~480 KB per image, 4 pixels ~4.5 ms and ~60-100 KB, 8 pixels ~3 ms and ~20-40 KB.
constexpr int kSquareSide = 4;
constexpr unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// Owns a libpng write struct and its info struct for the length of one encode.
class PngWriteHandle {
 public:
  PngWriteHandle() {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png_ == nullptr) throw Error("libpng: png_create_write_struct failed");
    info_ = png_create_info_struct(png_);
    if (info_ == nullptr) {
      png_destroy_write_struct(&png_, nullptr);
      throw Error("libpng: png_create_info_struct failed");
    }
  }
  ~PngWriteHandle() { png_destroy_write_struct(&png_, &info_); }
  PngWriteHandle(const PngWriteHandle&) = delete;
  PngWriteHandle& operator=(const PngWriteHandle&) = delete;

  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// Shared between the libpng callbacks and write_png_rows; plain data only, so a longjmp skips no destructor.
struct WriteState {
  std::string* out = nullptr;
  char error_message[256] = {};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<WriteState*>(png_get_error_ptr(png));
  std::snprintf(state->error_message, sizeof state->error_message, "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void on_png_write(png_structp png, png_bytep data, png_size_t length) {
  auto* state = static_cast<WriteState*>(png_get_io_ptr(png));
  bool out_of_memory = false;
  try {
    state->out->append(reinterpret_cast<const char*>(data), length);
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  // png_error longjmps, so it is called only after the catch block has ended.
  if (out_of_memory) png_error(png, "out of memory");
}

void on_png_flush(png_structp) {}

// The only function with a setjmp: it owns no C++ objects, so libpng's longjmp on error leaks nothing.
bool write_png_rows(png_structp png, png_infop info, WriteState* state, png_bytepp rows, int width, int height,
                    int compression_level) {
  png_set_error_fn(png, state, on_png_error, on_png_warning);
  png_set_write_fn(png, state, on_png_write, on_png_flush);
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, compression_level);
  // One fixed filter skips libpng's per-row filter heuristic (half the time when measured); SUB turns a mosaic
  // row into runs of zeros.
  png_set_filter(png, PNG_FILTER_TYPE_BASE, compression_level == 0 ? PNG_FILTER_NONE : PNG_FILTER_SUB);
  // Fewer, larger IDAT chunks: fewer write callbacks and CRC calls.
  png_set_compression_buffer_size(png, 256 * 1024);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void check_image_size(int width, int height, const char* what) {
  if (width < 1 || height < 1 || width > kMaxSyntheticImageSide || height > kMaxSyntheticImageSide) {
    throw Error(std::string(what) + ": image size " + std::to_string(width) + "x" + std::to_string(height) +
                " is outside 1x1.." + std::to_string(kMaxSyntheticImageSide) + "x" +
                std::to_string(kMaxSyntheticImageSide));
  }
}

// Fills rgb (width*height*3 bytes) with a mosaic of square_side x square_side squares: a bilinear blend of four
// seeded corner colours plus seeded xorshift noise in the low bits, one colour per square. Exact repeats inside a
// square let zlib's fast level encode it as long back-references, which is what makes encoding cheap.
void fill_synthetic_rgb(std::uint8_t* rgb, int width, int height, std::uint64_t seed, int square_side) {
  std::uint64_t state = seed;
  int corner[4][3];  // top-left, top-right, bottom-left, bottom-right
  for (auto& colour : corner) {
    const std::uint64_t r = splitmix64(state);
    for (int c = 0; c < 3; ++c) colour[c] = static_cast<int>((r >> (8 * c)) & 0xFF);
  }
  // 2 to 5 noise bits: images of one run differ in texture as well as colour.
  const int noise_bits = 2 + static_cast<int>(splitmix64(state) % 4);
  const std::uint64_t noise_mask = (std::uint64_t{1} << noise_bits) - 1;
  std::uint64_t noise = splitmix64(state) | 1;  // xorshift state must not be zero

  const std::size_t row_bytes = static_cast<std::size_t>(width) * 3;
  const std::int64_t x_span = std::max(width - 1, 1);
  const std::int64_t y_span = std::max(height - 1, 1);
  for (int y = 0; y < height; y += square_side) {
    std::uint8_t* row = rgb + static_cast<std::size_t>(y) * row_bytes;
    // 16.16 fixed point: colour at the left edge and the step per square for this row of squares.
    std::int64_t value[3];
    std::int64_t step[3];
    for (int c = 0; c < 3; ++c) {
      const std::int64_t left = (corner[0][c] * (y_span - y) + corner[2][c] * y) * 65536 / y_span;
      const std::int64_t right = (corner[1][c] * (y_span - y) + corner[3][c] * y) * 65536 / y_span;
      value[c] = left;
      step[c] = (right - left) * square_side / x_span;
    }
    for (int x = 0; x < width; x += square_side) {
      noise ^= noise << 13;
      noise ^= noise >> 7;
      noise ^= noise << 17;
      std::uint8_t pixel[3];
      for (int c = 0; c < 3; ++c) {
        pixel[c] = static_cast<std::uint8_t>((value[c] >> 16) ^ ((noise >> (8 * c)) & noise_mask));
        value[c] += step[c];
      }
      const int square_width = std::min(square_side, width - x);
      std::uint8_t* out = row + static_cast<std::size_t>(x) * 3;
      for (int i = 0; i < square_width; ++i, out += 3) std::memcpy(out, pixel, 3);
    }
    const int square_height = std::min(square_side, height - y);
    for (int i = 1; i < square_height; ++i) std::memcpy(row + static_cast<std::size_t>(i) * row_bytes, row, row_bytes);
  }
}

}  // namespace

std::string encode_png_rgb(const std::uint8_t* rgb, int width, int height, int compression_level) {
  if (width < 1 || height < 1 || width > 0x7FFFFFFF / 3) {
    throw Error("encode_png_rgb: invalid image size " + std::to_string(width) + "x" + std::to_string(height));
  }
  if (compression_level < 0 || compression_level > 9) {
    throw Error("encode_png_rgb: compression level " + std::to_string(compression_level) + " is outside 0..9");
  }
  if (rgb == nullptr) throw Error("encode_png_rgb: no pixels");
  const std::size_t row_bytes = static_cast<std::size_t>(width) * 3;
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    // libpng takes non-const row pointers but only reads them when writing.
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(rgb + static_cast<std::size_t>(y) * row_bytes);
  }
  std::string out;
  // Level 0 stores the pixels (plus a filter byte per row); otherwise start at half and let append grow it.
  const std::size_t raw_bytes = (row_bytes + 1) * static_cast<std::size_t>(height);
  out.reserve(compression_level == 0 ? raw_bytes + raw_bytes / 1000 + 1024 : raw_bytes / 2 + 1024);
  PngWriteHandle handle;
  WriteState state;
  state.out = &out;
  if (!write_png_rows(handle.png(), handle.info(), &state, rows.data(), width, height, compression_level)) {
    throw Error(std::string("libpng: ") + state.error_message);
  }
  return out;
}

std::string synthetic_rgb(int width, int height, std::uint64_t seed) {
  check_image_size(width, height, "synthetic_rgb");
  std::string rgb(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3, '\0');
  fill_synthetic_rgb(reinterpret_cast<std::uint8_t*>(rgb.data()), width, height, seed, kSquareSide);
  return rgb;
}

std::string synthetic_png(int width, int height, std::uint64_t seed, int compression_level) {
  check_image_size(width, height, "synthetic_png");
  // The pixel buffer is reused by each thread: allocating ~1 MB per image would cost an mmap/munmap pair.
  thread_local std::vector<std::uint8_t> pixels;
  pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  fill_synthetic_rgb(pixels.data(), width, height, seed, kSquareSide);
  std::string png = encode_png_rgb(pixels.data(), width, height, compression_level);
  if (pixels.size() > 64u * 1024 * 1024) {
    pixels = {};  // a one-off huge image should not pin its buffer for the thread's lifetime
  }
  return png;
}

std::pair<int, int> png_size(std::string_view png_bytes) {
  // Signature, then the IHDR chunk: length 13, type "IHDR", width and height big-endian.
  if (png_bytes.size() < 24 || std::memcmp(png_bytes.data(), kPngSignature, 8) != 0 ||
      png_bytes.substr(12, 4) != "IHDR") {
    return {0, 0};
  }
  auto be32 = [&](std::size_t at) {
    const auto* p = reinterpret_cast<const unsigned char*>(png_bytes.data() + at);
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
  };
  const std::uint32_t width = be32(16);
  const std::uint32_t height = be32(20);
  // The PNG spec caps dimensions at 2^31-1; zero is invalid.
  if (width == 0 || height == 0 || width > 0x7FFFFFFFu || height > 0x7FFFFFFFu) return {0, 0};
  return {static_cast<int>(width), static_cast<int>(height)};
}

std::string_view sniff_image_type(std::string_view bytes) {
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0) return "image/png";
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF) {
    return "image/jpeg";
  }
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") return "image/webp";
  if (bytes.size() >= 6 && (bytes.substr(0, 6) == "GIF87a" || bytes.substr(0, 6) == "GIF89a")) return "image/gif";
  return "";
}

}  // namespace aiperf
