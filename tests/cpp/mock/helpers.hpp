// Helpers shared by the mock server's GoogleTest files.
#pragma once
#include <simdjson.h>

#include <string>

namespace aiperf_test {

inline simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
  return parser.parse(simdjson::padded_string(text));
}

// An images/edits body: prompt, n=2 and the reference image as `image`, with the given line ending.
inline std::string multipart_body(const std::string& boundary, const std::string& image_bytes,
                                  const std::string& eol = "\r\n") {
  std::string body =
      "--" + boundary + eol + "Content-Disposition: form-data; name=\"prompt\"" + eol + eol + "make it\r\nblue" + eol;
  body += "--" + boundary + eol + "Content-Disposition: form-data; name=\"n\"" + eol + eol + "2" + eol;
  body += "--" + boundary + eol + "Content-Disposition: form-data; name=\"image\"; filename=\"ref.png\"" + eol +
          "Content-Type: image/png" + eol + eol + image_bytes + eol;
  body += "--" + boundary + "--" + eol;
  return body;
}

}  // namespace aiperf_test
