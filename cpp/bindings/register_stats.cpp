// Placeholder until the stats bindings land; replaced by the real registrar.
#include "register.hpp"
namespace aiperf::bindings {
void register_stats(pybind11::module_&) {}
}  // namespace aiperf::bindings
