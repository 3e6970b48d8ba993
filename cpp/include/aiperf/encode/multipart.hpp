// MultipartEncoder: multipart/form-data bodies (RFC 7578) for image_edit requests.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aiperf {

// Usage: MultipartEncoder form; form.add_field("prompt", "a cat"); form.add_file("image", "image.png", png);
//        std::string body = form.encode(); headers: "Content-Type: " + form.content_type().
// Parts are written in the order they were added. Text field values are copied; file bytes are referenced and
// must stay alive until encode()/encode_to() returns.
class MultipartEncoder {
 public:
  // A fresh random boundary ("aiperf-" + 32 hex digits).
  MultipartEncoder();
  // A caller-chosen boundary: 1-70 characters of RFC 2046's bchars, not ending in a space; else aiperf::Error.
  explicit MultipartEncoder(std::string boundary);

  void add_field(std::string_view name, std::string_view value);
  // content_type empty: sniffed from the bytes (sniff_image_type), else application/octet-stream.
  // A content type with CR or LF throws aiperf::Error.
  void add_file(std::string_view name, std::string_view filename, std::string_view bytes,
                std::string_view content_type = {});

  const std::string& boundary() const { return boundary_; }
  // "multipart/form-data; boundary=<boundary>"; read it after encode(), since a generated boundary found inside
  // a part is replaced during encoding.
  std::string content_type() const;

  // Exact size of the body encode() writes (a replaced boundary has the same length).
  std::size_t encoded_size() const;
  // The whole body. If the boundary occurs inside a part, a generated boundary is replaced by a new one and the
  // body rewritten; a caller-chosen one throws aiperf::Error.
  std::string encode();
  // Writes exactly encoded_size() bytes to out (e.g. straight into a Python bytes object); same boundary rules.
  void encode_to(char* out);

  // A random boundary of the form encode() uses.
  static std::string random_boundary();

 private:
  struct Part {
    std::string headers;      // from "Content-Disposition" to the blank line, without the delimiter line
    std::string owned_value;  // text fields
    std::string_view file_bytes;
    bool is_file = false;
    std::string_view body() const { return is_file ? file_bytes : std::string_view(owned_value); }
  };

  template <typename Sink>
  bool write_body(Sink&& put) const;
  void on_boundary_collision();

  std::string boundary_;
  bool boundary_was_generated_ = false;
  int regenerations_ = 0;
  std::vector<Part> parts_;
};

// Field names and filenames as the HTML spec encodes them in Content-Disposition: '"' -> %22, CR -> %0D, LF -> %0A.
std::string escape_multipart_name(std::string_view name);

}  // namespace aiperf
