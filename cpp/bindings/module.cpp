// aiperf._engine: the pybind11 module. Each engine part registers its own bindings.
#include <pybind11/pybind11.h>

#include "register.hpp"

PYBIND11_MODULE(_engine, m) {
  m.doc() = "aiperf native engine: request building, libcurl event loop, SSE parsing, recording, mock server";
  m.attr("__version__") = AIPERF_VERSION;
  aiperf::bindings::register_errors(m);
  aiperf::bindings::register_json(m);
  aiperf::bindings::register_stats(m);
  aiperf::bindings::register_records(m);
  aiperf::bindings::register_engine(m);
  aiperf::bindings::register_mock(m);
  aiperf::bindings::register_images(m);
}
