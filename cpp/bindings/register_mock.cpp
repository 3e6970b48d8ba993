// Placeholder until the mock bindings land; replaced by the real registrar.
#include "register.hpp"
namespace aiperf::bindings {
void register_mock(pybind11::module_&) {}
}  // namespace aiperf::bindings
