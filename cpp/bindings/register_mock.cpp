// Bindings for the mock server: MockServerConfig and MockServer (start returns the port; wait releases the GIL).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "aiperf/mock_server.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
void register_mock(py::module_& m) {
  py::class_<MockServerConfig>(m, "MockServerConfig", "Settings of the OpenAI-compatible mock server.")
      .def(py::init<>())
      .def_readwrite("host", &MockServerConfig::host)
      .def_readwrite("port", &MockServerConfig::port, "0 = pick a free port")
      .def_readwrite("ttft_ms", &MockServerConfig::ttft_ms)
      .def_readwrite("itl_ms", &MockServerConfig::itl_ms)
      .def_readwrite("output_tokens", &MockServerConfig::output_tokens,
                     "tokens per completion when the request does not ask for fewer")
      .def_readwrite("threads", &MockServerConfig::threads)
      .def_readwrite("image_latency_ms", &MockServerConfig::image_latency_ms,
                     "images/generations and images/edits: request arrival to the reply")
      .def("__repr__", [](const MockServerConfig& c) {
        return "MockServerConfig(host='" + c.host + "', port=" + std::to_string(c.port) +
               ", ttft_ms=" + std::to_string(c.ttft_ms) + ", itl_ms=" + std::to_string(c.itl_ms) +
               ", output_tokens=" + std::to_string(c.output_tokens) + ", threads=" + std::to_string(c.threads) +
               ", image_latency_ms=" + std::to_string(c.image_latency_ms) + ")";
      });

  py::class_<MockServer>(m, "MockServer", "The mock server, serving on background threads.")
      .def(py::init<MockServerConfig>(), py::arg("config"))
      .def("start", &MockServer::start, "Bind, start serving in background threads, return the bound port.")
      .def("stop", &MockServer::stop, py::call_guard<py::gil_scoped_release>(), "Stop serving (any thread).")
      .def("wait", &MockServer::wait, py::arg("timeout_s"), py::call_guard<py::gil_scoped_release>(),
           "Wait up to timeout_s seconds (negative: forever); True once stopped.")
      .def_property_readonly("port", &MockServer::port)
      .def("stats", &MockServer::stats, "Requests served per route, streams open, client disconnects, images sent, chat image parts.");
}
}  // namespace aiperf::bindings
