// PNG encoding with libpng, cheap deterministic synthetic images (palette landscapes), PNG size and type sniffing.
#include "aiperf/encode/png.hpp"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "aiperf/common/error.hpp"

namespace aiperf {
namespace {

// The synthetic image is an 8-bit palette PNG with 256 colours: ramps of 32 shades for the sky, the sun, each
// mountain layer and the ground (the last ramp is unused, black).
constexpr int kShades = 32;
constexpr int kMaxPaletteColours = 256;
constexpr int kMountainLayers = 4;
// Percent of the height taken by the textured ground: its per-pixel noise is what zlib codes as literals, i.e. most
// of the file and of the deflate time beyond the fixed per-byte cost (see docs/performance.md, Images).
constexpr int kGroundPercent = 4;
// Columns per block when drawing ridges: whole blocks above or below a ridge are skipped or memset.
constexpr int kRidgeBlock = 32;
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

// How an image is laid out and compressed; plain data, so it can cross write_png_rows' setjmp.
struct PngLayout {
  int colour_type = PNG_COLOR_TYPE_RGB;
  const png_color* palette = nullptr;  // colour_type PNG_COLOR_TYPE_PALETTE only
  int palette_size = 0;
  int filter = PNG_FILTER_SUB;
  int strategy = Z_DEFAULT_STRATEGY;
  int mem_level = 8;  // zlib's default
};

// The only function with a setjmp: it owns no C++ objects, so libpng's longjmp on error leaks nothing.
bool write_png_rows(png_structp png, png_infop info, WriteState* state, png_bytepp rows, int width, int height,
                    int compression_level, const PngLayout& layout) {
  png_set_error_fn(png, state, on_png_error, on_png_warning);
  png_set_write_fn(png, state, on_png_write, on_png_flush);
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, layout.colour_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (layout.palette != nullptr) png_set_PLTE(png, info, layout.palette, layout.palette_size);
  png_set_compression_level(png, compression_level);
  png_set_compression_strategy(png, layout.strategy);
  png_set_compression_mem_level(png, layout.mem_level);
  // One fixed filter skips libpng's per-row filter heuristic (half the time when measured).
  png_set_filter(png, PNG_FILTER_TYPE_BASE, compression_level == 0 ? PNG_FILTER_NONE : layout.filter);
  // Fewer, larger IDAT chunks: fewer write callbacks and CRC calls.
  png_set_compression_buffer_size(png, 256 * 1024);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

// Encodes rows of row_bytes each (RGB or palette indices, per layout) into out.
void encode_png_rows(const std::uint8_t* pixels, std::size_t row_bytes, int width, int height, int compression_level,
                     const PngLayout& layout, std::string& out) {
  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    // libpng takes non-const row pointers but only reads them when writing.
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(pixels + static_cast<std::size_t>(y) * row_bytes);
  }
  // Level 0 stores the pixels (plus a filter byte per row); otherwise start small and let append grow it.
  const std::size_t raw_bytes = (row_bytes + 1) * static_cast<std::size_t>(height);
  out.reserve(compression_level == 0 ? raw_bytes + raw_bytes / 1000 + 2048 : raw_bytes / 8 + 2048);
  PngWriteHandle handle;
  WriteState state;
  state.out = &out;
  if (!write_png_rows(handle.png(), handle.info(), &state, rows.data(), width, height, compression_level, layout)) {
    throw Error(std::string("libpng: ") + state.error_message);
  }
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

png_color seeded_colour(std::uint64_t& state) {
  const std::uint64_t r = splitmix64(state);
  return png_color{static_cast<png_byte>(r), static_cast<png_byte>(r >> 8), static_cast<png_byte>(r >> 16)};
}

// a + (b - a) * step / steps, per channel.
png_color blend(png_color a, png_color b, int step, int steps) {
  auto mix = [&](int x, int y) { return static_cast<png_byte>((x * (steps - step) + y * step) / steps); };
  return png_color{mix(a.red, b.red), mix(a.green, b.green), mix(a.blue, b.blue)};
}

// A synthetic picture: 8-bit palette indices and their 256-colour palette, all from one seed.
struct SyntheticImage {
  std::vector<std::uint8_t> indices;  // width*height, row-major
  png_color palette[kMaxPaletteColours];
};

// One ridge line per layer (y of its top edge in each column), plus its highest and lowest point per block of
// kRidgeBlock columns so that whole blocks above or below the ridge are drawn without a per-pixel test.
struct Ridge {
  std::vector<std::uint16_t> top;
  std::vector<std::uint16_t> block_min;
  std::vector<std::uint16_t> block_max;
  int highest = 0;
};

// Midpoint displacement: a fractal line around base_y, at most ~amplitude/2 away from it.
void make_ridge(Ridge& ridge, int width, int height, int base_y, int amplitude, std::uint64_t& state,
                std::vector<int>& scratch) {
  int span = 1;
  while (span < width) span <<= 1;
  scratch.assign(static_cast<std::size_t>(span) + 1, 0);
  scratch[0] = static_cast<int>(splitmix64(state) % static_cast<std::uint64_t>(amplitude)) - amplitude / 2;
  scratch[static_cast<std::size_t>(span)] =
      static_cast<int>(splitmix64(state) % static_cast<std::uint64_t>(amplitude)) - amplitude / 2;
  for (int step = span; step > 1; step >>= 1) {
    // Displacement shrinks with the step (a quarter of the amplitude at the top): little small-scale jitter, so few
    // ridge crossings per row, which is what deflate pays for.
    const int displacement = static_cast<int>(static_cast<std::int64_t>(amplitude) * step / (4 * span));
    for (int i = 0; i + step <= span; i += step) {
      const std::uint64_t r = splitmix64(state);
      int& middle = scratch[static_cast<std::size_t>(i + step / 2)];
      middle = (scratch[static_cast<std::size_t>(i)] + scratch[static_cast<std::size_t>(i + step)]) / 2;
      if (displacement > 0) {
        middle += static_cast<int>(r % static_cast<std::uint64_t>(2 * displacement + 1)) - displacement;
      }
    }
  }
  const int blocks = (width + kRidgeBlock - 1) / kRidgeBlock;
  ridge.top.resize(static_cast<std::size_t>(width));
  ridge.block_min.assign(static_cast<std::size_t>(blocks), 0xFFFF);
  ridge.block_max.assign(static_cast<std::size_t>(blocks), 0);
  ridge.highest = height;
  for (int x = 0; x < width; ++x) {
    const auto y = static_cast<std::uint16_t>(std::clamp(base_y + scratch[static_cast<std::size_t>(x)], 0, height));
    ridge.top[static_cast<std::size_t>(x)] = y;
    auto& low = ridge.block_min[static_cast<std::size_t>(x / kRidgeBlock)];
    auto& high = ridge.block_max[static_cast<std::size_t>(x / kRidgeBlock)];
    low = std::min(low, y);
    high = std::max(high, y);
    ridge.highest = std::min(ridge.highest, static_cast<int>(y));
  }
}

// Sets row[x] = colour wherever the ridge's top is at or above row y.
void draw_below_ridge(std::uint8_t* row, int width, int y, const Ridge& ridge, std::uint8_t colour) {
  const int blocks = static_cast<int>(ridge.block_min.size());
  int fill_from = -1;  // first column of a pending stretch of whole blocks below the ridge
  for (int block = 0; block < blocks; ++block) {
    const int x0 = block * kRidgeBlock;
    const bool whole = y >= ridge.block_max[static_cast<std::size_t>(block)];
    if (whole) {
      if (fill_from < 0) fill_from = x0;
      continue;
    }
    if (fill_from >= 0) {
      std::memset(row + fill_from, colour, static_cast<std::size_t>(x0 - fill_from));
      fill_from = -1;
    }
    if (y < ridge.block_min[static_cast<std::size_t>(block)]) continue;
    const int x1 = std::min(width, x0 + kRidgeBlock);
    for (int x = x0; x < x1; ++x) {
      if (y >= ridge.top[static_cast<std::size_t>(x)]) row[x] = colour;
    }
  }
  if (fill_from >= 0) std::memset(row + fill_from, colour, static_cast<std::size_t>(width - fill_from));
}

// A landscape: sky gradient, sun, kMountainLayers fractal ridges fading into the haze, and a noise-textured ground.
// Flat areas are long runs of one index, which deflate's run-length mode (Z_RLE) codes at almost no cost; the
// ridges and the ground's noise are where the bytes (and the time) go. Every colour and shape comes from the seed.
void fill_synthetic_landscape(SyntheticImage& image, int width, int height, std::uint64_t seed) {
  std::uint64_t state = seed;
  png_color* palette = image.palette;
  // Ramp 0: sky, 1: sun, 2..1+kMountainLayers: mountains far to near, then the ground; 32 shades each.
  const png_color zenith = seeded_colour(state);
  const png_color horizon = seeded_colour(state);
  const png_color sun = seeded_colour(state);
  constexpr png_color kWhite{255, 255, 255};
  constexpr png_color kBlack{0, 0, 0};
  for (int shade = 0; shade < kShades; ++shade) {
    palette[shade] = blend(zenith, horizon, shade, kShades - 1);
    palette[kShades + shade] = blend(sun, kWhite, shade, 2 * kShades);
  }
  constexpr int kLayers = kMountainLayers + 1;  // the ground is the nearest layer
  for (int layer = 0; layer < kLayers; ++layer) {
    const png_color near_colour = seeded_colour(state);
    const png_color top = blend(near_colour, horizon, kLayers - 1 - layer, kLayers + 1);  // farther is hazier
    const png_color bottom = blend(top, kBlack, 1, 2);
    for (int shade = 0; shade < kShades; ++shade) {
      palette[(2 + layer) * kShades + shade] = blend(top, bottom, shade, kShades - 1);
    }
  }
  for (int colour = (2 + kLayers) * kShades; colour < kMaxPaletteColours; ++colour) palette[colour] = kBlack;

  thread_local std::vector<Ridge> ridges(kLayers);
  thread_local std::vector<int> scratch;
  const int ground_y = height - height * kGroundPercent / 100;
  for (int layer = 0; layer < kLayers; ++layer) {
    const bool ground = layer == kLayers - 1;
    const int base_y = ground ? ground_y : height * (2 + layer) / (kMountainLayers + 4);
    const int amplitude = (ground ? height / 16 : height / (3 + layer)) + 1;
    make_ridge(ridges[static_cast<std::size_t>(layer)], width, height, base_y, amplitude, state, scratch);
  }
  const std::uint64_t r = splitmix64(state);
  const int sun_radius = height / 20 + 4 + static_cast<int>((r >> 40) % static_cast<std::uint64_t>(height / 12 + 1));
  const int sun_x = static_cast<int>(r % static_cast<std::uint64_t>(width));
  const int sun_y = sun_radius + static_cast<int>((r >> 20) % static_cast<std::uint64_t>(height / 4 + 1));
  std::uint64_t noise = splitmix64(state) | 1;  // xorshift state must not be zero

  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = image.indices.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(width);
    std::memset(row, y * (kShades - 1) / height, static_cast<std::size_t>(width));
    const int dy = y - sun_y;
    if (dy > -sun_radius && dy < sun_radius) {
      const int half = static_cast<int>(std::sqrt(static_cast<double>(sun_radius * sun_radius - dy * dy)));
      const int x0 = std::max(0, sun_x - half);
      const int x1 = std::min(width, sun_x + half + 1);
      if (x0 < x1) {
        std::memset(row + x0, kShades + (dy + sun_radius) * (kShades / 2) / (2 * sun_radius),
                    static_cast<std::size_t>(x1 - x0));
      }
    }
    for (int layer = 0; layer < kLayers; ++layer) {
      const Ridge& ridge = ridges[static_cast<std::size_t>(layer)];
      if (y < ridge.highest) continue;
      // Darker further below the layer's highest point; 4 shades kept free for the ground's noise.
      const int shade = std::min(kShades - 4, (y - ridge.highest) * kShades / (height - ridge.highest + 1));
      draw_below_ridge(row, width, y, ridge, static_cast<std::uint8_t>((2 + layer) * kShades + shade));
    }
    const Ridge& ground = ridges[kLayers - 1];
    if (y < ground.highest) continue;
    // Ground texture: 0..3 shades darker per pixel, 2 noise bits each.
    for (int x = 0; x < width; x += 32) {
      noise ^= noise << 13;
      noise ^= noise >> 7;
      noise ^= noise << 17;
      std::uint64_t bits = noise;
      const int end = std::min(width, x + 32);
      for (int i = x; i < end; ++i, bits >>= 2) {
        if (y >= ground.top[static_cast<std::size_t>(i)]) row[i] = static_cast<std::uint8_t>(row[i] + (bits & 3));
      }
    }
  }
}

void make_synthetic_image(SyntheticImage& image, int width, int height, std::uint64_t seed) {
  image.indices.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
  fill_synthetic_landscape(image, width, height, seed);
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
  std::string out;
  // SUB turns runs of one colour into runs of zeros.
  encode_png_rows(rgb, static_cast<std::size_t>(width) * 3, width, height, compression_level, PngLayout{}, out);
  return out;
}

std::string synthetic_rgb(int width, int height, std::uint64_t seed) {
  check_image_size(width, height, "synthetic_rgb");
  thread_local SyntheticImage image;
  make_synthetic_image(image, width, height, seed);
  std::string rgb(image.indices.size() * 3, '\0');
  char* out = rgb.data();
  for (const std::uint8_t index : image.indices) {
    const png_color& colour = image.palette[index];
    *out++ = static_cast<char>(colour.red);
    *out++ = static_cast<char>(colour.green);
    *out++ = static_cast<char>(colour.blue);
  }
  return rgb;
}

std::string synthetic_png(int width, int height, std::uint64_t seed, int compression_level) {
  check_image_size(width, height, "synthetic_png");
  if (compression_level < 0 || compression_level > 9) {
    throw Error("synthetic_png: compression level " + std::to_string(compression_level) + " is outside 0..9");
  }
  // Reused by each thread: allocating the index buffer per image would cost an mmap/munmap pair at large sizes.
  thread_local SyntheticImage image;
  make_synthetic_image(image, width, height, seed);
  PngLayout layout;
  layout.colour_type = PNG_COLOR_TYPE_PALETTE;
  layout.palette = image.palette;
  layout.palette_size = kMaxPaletteColours;
  layout.filter = PNG_FILTER_NONE;  // filters are meaningless on palette indices, and NONE costs nothing
  // Level 1 (the default) is the fast setting: run-length matches only, a small hash (see docs/performance.md).
  if (compression_level == 1) {
    layout.strategy = Z_RLE;
    layout.mem_level = 4;
  }
  std::string png;
  encode_png_rows(image.indices.data(), static_cast<std::size_t>(width), width, height, compression_level, layout, png);
  if (image.indices.size() > 64u * 1024 * 1024) {
    image.indices = {};  // a one-off huge image should not pin its buffer for the thread's lifetime
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
