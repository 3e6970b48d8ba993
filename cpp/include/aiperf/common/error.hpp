// aiperf::Error: the engine's one exception type (configuration and set-up errors; never thrown inside the loop).
#pragma once
#include <stdexcept>
#include <string>

namespace aiperf {
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};
}  // namespace aiperf
