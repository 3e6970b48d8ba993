// EngineError: the one exception type crossing the C++/Python boundary.
#include <pybind11/pybind11.h>

#include "aiperf/error.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
void register_errors(py::module_& m) {
  static py::exception<aiperf::Error> engine_error(m, "EngineError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const aiperf::Error& e) {
      py::set_error(engine_error, e.what());
    }
  });
}
}  // namespace aiperf::bindings
