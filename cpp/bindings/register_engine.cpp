// Placeholder until the engine bindings land; replaced by the real registrar.
#include "register.hpp"
namespace aiperf::bindings {
void register_engine(pybind11::module_&) {}
}  // namespace aiperf::bindings
