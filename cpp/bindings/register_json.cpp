// Placeholder until the json bindings land; replaced by the real registrar.
#include "register.hpp"
namespace aiperf::bindings {
void register_json(pybind11::module_&) {}
}  // namespace aiperf::bindings
