// compute_stats: numpy float64 values -> the summary dict (avg, min, max, p1..p99, std, count, sum).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <span>
#include <string>

#include "aiperf/encode/stats.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {

void register_stats(py::module_& m) {
  m.def(
      "compute_stats",
      [](py::array_t<double, py::array::c_style | py::array::forcecast> values) {
        const std::span<const double> data(values.data(), static_cast<std::size_t>(values.size()));
        Summary summary;
        {
          py::gil_scoped_release release;
          summary = compute_summary(data);
        }
        py::dict result;
        if (summary.count == 0) {
          result["count"] = 0;
          result["sum"] = 0.0;
          return result;
        }
        result["avg"] = summary.avg;
        result["min"] = summary.min;
        result["max"] = summary.max;
        for (std::size_t p = 0; p < kSummaryPercentiles.size(); ++p) {
          result[py::str("p" + std::to_string(static_cast<int>(kSummaryPercentiles[p])))] = summary.percentiles[p];
        }
        result["std"] = summary.std;
        result["count"] = summary.count;
        result["sum"] = summary.sum;
        return result;
      },
      py::arg("values"),
      "avg, min, max, p1, p5, p10, p25, p50, p75, p90, p95, p99, std (population), count, sum of the values; NaN "
      "is ignored, percentiles interpolate linearly (numpy's default). Empty input -> {'count': 0, 'sum': 0.0}.");
}

}  // namespace aiperf::bindings
