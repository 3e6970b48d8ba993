// Bindings for images and multipart bodies: encode_png, encode_png_rgb, png_size, sniff_image_type,
// multipart_encode.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "aiperf/encode/multipart.hpp"
#include "aiperf/encode/png.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
namespace {

// The bytes behind any C-contiguous buffer (bytes, bytearray, memoryview, numpy array). The returned
// buffer_info keeps the export alive, so a bytearray cannot be resized while the GIL is released.
std::string_view view_of(const py::buffer_info& info, const char* what) {
  if (info.itemsize != 1 && info.format != "B") {
    throw py::type_error(std::string(what) + ": expected a buffer of bytes (uint8)");
  }
  py::ssize_t expected_stride = info.itemsize;
  for (py::ssize_t axis = info.ndim - 1; axis >= 0; --axis) {
    if (info.shape[axis] > 1 && info.strides[axis] != expected_stride) {
      throw py::value_error(std::string(what) + ": buffer must be C-contiguous");
    }
    expected_stride *= info.shape[axis];
  }
  return {static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize)};
}

py::bytes encode_png_rgb_binding(const py::buffer& pixels, std::optional<int> width, std::optional<int> height,
                                 int compression_level) {
  const py::buffer_info info = pixels.request();
  const std::string_view bytes = view_of(info, "encode_png_rgb");
  if (info.ndim == 3) {
    if (info.shape[2] != 3) throw py::value_error("encode_png_rgb: an HxWx3 array is expected");
    const int array_height = static_cast<int>(info.shape[0]);
    const int array_width = static_cast<int>(info.shape[1]);
    if ((width && *width != array_width) || (height && *height != array_height)) {
      throw py::value_error("encode_png_rgb: width/height disagree with the array shape");
    }
    width = array_width;
    height = array_height;
  } else if (!width || !height) {
    throw py::value_error("encode_png_rgb: width and height are required unless pixels is an HxWx3 array");
  }
  if (*width < 1 || *height < 1 ||
      bytes.size() != static_cast<std::size_t>(*width) * static_cast<std::size_t>(*height) * 3) {
    throw py::value_error("encode_png_rgb: expected " + std::to_string(*width) + "*" + std::to_string(*height) +
                          "*3 bytes, got " + std::to_string(bytes.size()));
  }
  std::string png;
  {
    py::gil_scoped_release release;
    png = encode_png_rgb(reinterpret_cast<const std::uint8_t*>(bytes.data()), *width, *height, compression_level);
  }
  return py::bytes(png);
}

py::object sniff_binding(const py::buffer& data) {
  const py::buffer_info info = data.request();
  const std::string_view type = sniff_image_type(view_of(info, "sniff_image_type"));
  if (type.empty()) return py::none();
  return py::str(type.data(), type.size());
}

py::tuple multipart_encode_binding(const std::vector<std::pair<std::string, std::string>>& fields,
                                   const py::list& files, std::optional<std::string> boundary) {
  MultipartEncoder encoder = boundary ? MultipartEncoder(std::move(*boundary)) : MultipartEncoder();
  for (const auto& [name, value] : fields) encoder.add_field(name, value);
  // Buffers stay exported until the body is written; the encoder references their bytes.
  std::vector<py::buffer_info> file_buffers;
  file_buffers.reserve(files.size());
  for (const py::handle item : files) {
    const auto file = item.cast<py::sequence>();
    if (file.size() != 4) {
      throw py::value_error("multipart_encode: each file is (name, filename, data, content_type or None)");
    }
    const auto name = file[0].cast<std::string>();
    const auto filename = file[1].cast<std::string>();
    file_buffers.push_back(file[2].cast<py::buffer>().request());
    const std::string content_type = file[3].is_none() ? std::string() : file[3].cast<std::string>();
    encoder.add_file(name, filename, view_of(file_buffers.back(), "multipart_encode"), content_type);
  }
  const std::size_t size = encoder.encoded_size();
  // Write straight into the bytes object: one copy of each file instead of two.
  py::bytes body = py::reinterpret_steal<py::bytes>(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size)));
  if (!body) throw py::error_already_set();
  char* out = PyBytes_AS_STRING(body.ptr());
  {
    py::gil_scoped_release release;
    encoder.encode_to(out);  // copies and scans every part for the boundary
  }
  return py::make_tuple(encoder.content_type(), std::move(body));
}

}  // namespace

void register_images(py::module_& m) {
  m.def(
      "encode_png",
      [](int width, int height, std::uint64_t seed, int compression_level) {
        std::string png;
        {
          py::gil_scoped_release release;
          png = synthetic_png(width, height, seed, compression_level);
        }
        return py::bytes(png);
      },
      py::arg("width"), py::arg("height"), py::arg("seed"), py::arg("compression_level") = 1,
      "A deterministic synthetic PNG (same seed, same bytes): an 8-bit palette landscape, 256 seeded colours. "
      "Raises EngineError for sizes outside 1..16384 or a level outside 0..9.");
  m.def("encode_png_rgb", &encode_png_rgb_binding, py::arg("pixels"), py::arg("width") = py::none(),
        py::arg("height") = py::none(), py::arg("compression_level") = 1,
        "Encode 8-bit RGB pixels as PNG: a uint8 HxWx3 array, or bytes of width*height*3 with width and height.");
  m.def(
      "png_size",
      [](const py::buffer& data) {
        const py::buffer_info info = data.request();
        return png_size(view_of(info, "png_size"));
      },
      py::arg("data"), "(width, height) from a PNG's IHDR, or (0, 0) when the bytes are not a PNG.");
  m.def("sniff_image_type", &sniff_binding, py::arg("data"),
        "'image/png', 'image/jpeg', 'image/webp' or 'image/gif' from the magic bytes, or None.");
  m.def("multipart_encode", &multipart_encode_binding, py::arg("fields"), py::arg("files"),
        py::arg("boundary") = py::none(),
        "Encode a multipart/form-data body (RFC 7578), text fields first, then files, each in the order given. "
        "files: (name, filename, data, content_type or None to sniff from the bytes). Returns "
        "(content_type header value, body).");
}

}  // namespace aiperf::bindings
