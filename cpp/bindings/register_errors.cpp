// EngineError: the one exception type crossing the C++/Python boundary.
#include <pybind11/pybind11.h>

#include "aiperf/common/error.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
void register_errors(py::module_& m) {
  // RuntimeError as before, and aiperf.AiperfError so one handler catches every error the package raises.
  const py::object aiperf_error = py::module_::import("aiperf.errors").attr("AiperfError");
  const py::tuple bases = py::make_tuple(py::handle(PyExc_RuntimeError), aiperf_error);
  static py::exception<aiperf::Error> engine_error(m, "EngineError", bases);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const aiperf::Error& e) {
      py::set_error(engine_error, e.what());
    }
  });
}
}  // namespace aiperf::bindings
