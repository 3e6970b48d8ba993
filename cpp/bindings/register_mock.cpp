// Bindings for the mock server: MockServerConfig and MockServer (start returns the port; wait releases the GIL).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "aiperf/common/error.hpp"
#include "aiperf/mock/server.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
namespace {
// Faults cross the boundary as [(kind name, fraction)]; an unknown name is an EngineError naming it.
std::vector<mock::FaultRule> fault_rules(const std::vector<std::pair<std::string, double>>& faults) {
  std::vector<mock::FaultRule> rules;
  for (const auto& [name, fraction] : faults) {
    const mock::Fault fault = mock::fault_from_name(name);
    if (fault == mock::Fault::none) throw Error("mock server: unknown fault kind '" + name + "'");
    rules.push_back({fault, fraction});
  }
  return rules;
}

std::vector<std::pair<std::string, double>> fault_pairs(const std::vector<mock::FaultRule>& rules) {
  std::vector<std::pair<std::string, double>> pairs;
  for (const mock::FaultRule& rule : rules)
    pairs.emplace_back(std::string(mock::fault_name(rule.fault)), rule.fraction);
  return pairs;
}
}  // namespace

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
      .def_property(
          "faults", [](const MockServerConfig& c) { return fault_pairs(c.faults); },
          [](MockServerConfig& c, const std::vector<std::pair<std::string, double>>& faults) {
            c.faults = fault_rules(faults);
          },
          "[(kind, fraction)]: which fraction of the inference requests gets which fault")
      .def_readwrite("seed", &MockServerConfig::seed, "chooses the faulty requests")
      .def_readwrite("huge_response_bytes", &MockServerConfig::huge_response_bytes, "size of a huge-response reply")
      .def_readwrite("timing_log_path", &MockServerConfig::timing_log_path,
                     "non-empty: write each request's receive and send times there (docs/accuracy.md)")
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
      .def("stats", &MockServer::stats,
           "Requests served per route, streams open, client disconnects, images sent, chat image parts, faults.");

  m.def(
      "mock_fault_kinds",
      [] {
        std::vector<std::string> names;
        for (int f = 1; f < mock::kFaultKinds; ++f) names.emplace_back(mock::fault_name(static_cast<mock::Fault>(f)));
        return names;
      },
      "The mock server's fault kinds, in the order of docs/reliability.md.");
  m.def(
      "mock_choose_fault",
      [](const std::vector<std::pair<std::string, double>>& faults, std::uint64_t seed,
         const std::string& request_key) {
        const std::vector<mock::FaultRule> rules = fault_rules(faults);
        mock::validate_fault_rules(rules);
        const mock::Fault fault = mock::choose_fault(rules, seed, request_key);
        return fault == mock::Fault::none ? std::string() : std::string(mock::fault_name(fault));
      },
      py::arg("faults"), py::arg("seed"), py::arg("request_key"),
      "The fault kind the mock server gives the request with this X-Request-ID, or '' for none.");
}
}  // namespace aiperf::bindings
