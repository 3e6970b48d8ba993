// Bindings of the engine: EngineConfig, Progress, Engine (its records through register_records.cpp), monotonic_ns,
// libcurl_version.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <curl/curl.h>

#include <optional>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "aiperf/common/clock.hpp"
#include "aiperf/engine/engine.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace aiperf::bindings {
namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using Int32Array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

template <class T, class Array>
std::vector<T> to_vector(const std::optional<Array>& array, const char* name) {
  std::vector<T> values;
  if (!array) return values;
  if (array->ndim() != 1) throw py::value_error(std::string(name) + " must be a 1-D array");
  const auto view = array->template unchecked<1>();
  values.reserve(static_cast<std::size_t>(view.shape(0)));
  for (py::ssize_t i = 0; i < view.shape(0); ++i) values.push_back(view(i));
  return values;
}

std::unique_ptr<Engine> make_engine(EngineConfig config, const py::list& bodies, std::optional<Int32Array> order,
                                    std::optional<Int64Array> sessions, std::optional<Int64Array> turn_delays_ns,
                                    std::optional<Int64Array> schedule_ns) {
  Workload workload;
  workload.bodies.reserve(bodies.size());
  for (const py::handle body : bodies) {
    if (!py::isinstance<py::bytes>(body) && !py::isinstance<py::bytearray>(body)) {
      throw py::type_error("bodies must be a list of bytes");
    }
    workload.bodies.push_back(body.cast<std::string>());
  }
  workload.order = to_vector<std::int32_t>(order, "order");
  if (order && workload.order.empty()) throw py::value_error("order must not be empty (pass None for round-robin)");
  workload.session_offsets = to_vector<std::int64_t>(sessions, "sessions");
  workload.turn_delay_ns = to_vector<std::int64_t>(turn_delays_ns, "turn_delays_ns");
  workload.schedule_ns = to_vector<std::int64_t>(schedule_ns, "schedule_ns");
  if (schedule_ns && workload.schedule_ns.empty()) throw py::value_error("schedule_ns must not be empty");
  return std::make_unique<Engine>(std::move(config), std::move(workload));
}

}  // namespace

void register_engine(py::module_& m) {
  py::class_<EngineConfig>(m, "EngineConfig", "Settings of one engine run (see _engine.pyi).")
      .def(py::init<>())
      .def_readwrite("url", &EngineConfig::url)
      .def_readwrite("headers", &EngineConfig::headers)
      .def_readwrite("content_type", &EngineConfig::content_type)
      .def_readwrite("streaming", &EngineConfig::streaming)
      .def_readwrite("concurrency", &EngineConfig::concurrency)
      .def_readwrite("request_count", &EngineConfig::request_count)
      .def_readwrite("warmup_request_count", &EngineConfig::warmup_request_count)
      .def_readwrite("benchmark_duration_s", &EngineConfig::benchmark_duration_s)
      .def_readwrite("grace_period_s", &EngineConfig::grace_period_s)
      .def_readwrite("request_timeout_s", &EngineConfig::request_timeout_s)
      .def_readwrite("num_threads", &EngineConfig::num_threads)
      .def_readwrite("keep_raw", &EngineConfig::keep_raw)
      .def_readwrite("proxy", &EngineConfig::proxy)
      .def_readwrite("verify_tls", &EngineConfig::verify_tls)
      .def_readwrite("request_id_prefix", &EngineConfig::request_id_prefix)
      .def_readwrite("expect_images", &EngineConfig::expect_images)
      .def_readwrite("expect_content", &EngineConfig::expect_content)
      .def_readwrite("warmup_duration_s", &EngineConfig::warmup_duration_s)
      .def_readwrite("request_rate", &EngineConfig::request_rate)
      .def_readwrite("arrival_pattern", &EngineConfig::arrival_pattern)
      .def_readwrite("arrival_smoothness", &EngineConfig::arrival_smoothness)
      .def_readwrite("request_rate_ramp_s", &EngineConfig::request_rate_ramp_s)
      .def_readwrite("concurrency_ramp_s", &EngineConfig::concurrency_ramp_s)
      .def_readwrite("kernel_timestamps", &EngineConfig::kernel_timestamps)
      .def_readwrite("random_seed", &EngineConfig::random_seed)
      .def_readwrite("cancellation_rate", &EngineConfig::cancellation_rate)
      .def_readwrite("cancellation_delay_s", &EngineConfig::cancellation_delay_s)
      .def_readwrite("max_response_bytes", &EngineConfig::max_response_bytes)
      .def_readwrite("shard_index", &EngineConfig::shard_index)
      .def_readwrite("shard_count", &EngineConfig::shard_count)
      .def_readwrite("profiling_start_ns", &EngineConfig::profiling_start_ns)
      .def("__repr__", [](const EngineConfig& c) {
        return "EngineConfig(url=" + py::repr(py::str(c.url)).cast<std::string>() +
               ", streaming=" + (c.streaming ? "True" : "False") + ", concurrency=" + std::to_string(c.concurrency) +
               ", request_count=" + std::to_string(c.request_count) + ")";
      });

  py::class_<Progress>(m, "Progress", "A snapshot of the run's counters.")
      .def_readonly("sent", &Progress::sent)
      .def_readonly("completed", &Progress::completed)
      .def_readonly("errors", &Progress::errors)
      .def_readonly("in_flight", &Progress::in_flight)
      .def_readonly("phase", &Progress::phase)
      .def_readonly("profiling_start_ns", &Progress::profiling_start_ns)
      .def("__repr__", [](const Progress& p) {
        return "Progress(sent=" + std::to_string(p.sent) + ", completed=" + std::to_string(p.completed) +
               ", errors=" + std::to_string(p.errors) + ", in_flight=" + std::to_string(p.in_flight) +
               ", phase=" + std::to_string(p.phase) + ")";
      });

  py::class_<Engine>(m, "Engine", "Runs a benchmark on native event-loop threads.")
      .def(py::init(&make_engine), py::arg("config"), py::arg("bodies"), py::arg("order") = py::none(),
           py::arg("sessions") = py::none(), py::arg("turn_delays_ns") = py::none(),
           py::arg("schedule_ns") = py::none())
      .def("start", &Engine::start, py::call_guard<py::gil_scoped_release>())
      .def("wait", &Engine::wait, py::arg("timeout_s"), py::call_guard<py::gil_scoped_release>())
      .def("stop", &Engine::stop, py::call_guard<py::gil_scoped_release>())
      .def("progress", &Engine::progress)
      .def("records", [](const Engine& engine) { return records_dict(engine.records()); })
      .def("drain",
           [](Engine& engine) {
             std::shared_ptr<const RecordStore> batch;
             {
               py::gil_scoped_release release;  // the merge copies the batch; loops and Python go on meanwhile
               batch = engine.drain();
             }
             return records_dict(batch);
           })
      .def_property_readonly("anchor_wall_ns", &Engine::anchor_wall_ns)
      .def_property_readonly("anchor_mono_ns", &Engine::anchor_mono_ns);

  m.def("monotonic_ns", &monotonic_ns, "CLOCK_MONOTONIC in nanoseconds, the engine's clock.");
  m.def(
      "libcurl_version",
      [] {
        const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
        return py::make_tuple(info != nullptr && info->version != nullptr ? info->version : "", LIBCURL_VERSION);
      },
      "(the libcurl loaded at run time, the libcurl headers the engine was compiled against), e.g. "
      "('7.88.1', '7.88.1'): benchmarks print it, since libcurl is most of the engine's per-request cost.");
  m.def(
      "set_mmap_threshold",
      [](std::int64_t bytes) {
#if defined(__GLIBC__)
        return bytes > 0 && bytes <= (std::int64_t{1} << 30) &&
               ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) == 1;
#else
        (void)bytes;
        return false;
#endif
      },
      py::arg("bytes"),
      "glibc: allocations of at least `bytes` get pages of their own (mmap), returned to the system when freed; "
      "fixing it stops glibc from raising the threshold as big blocks come and go, which leaves a long run's "
      "short-lived buffers fragmenting the heap. True when set.");
  m.def(
      "trim_memory",
      [] {
#if defined(__GLIBC__)
        return ::malloc_trim(0) != 0;
#else
        return false;
#endif
      },
      py::call_guard<py::gil_scoped_release>(),
      "Returns the free pages of the C heap to the system (glibc malloc_trim); True when some were. A long run "
      "calls it after each batch of records: short-lived export lines and long-lived kept columns interleave on "
      "the heap, and without it the freed pages between them stay resident.");
  m.def(
      "arrival_offsets_ns",
      [](const EngineConfig& config, std::int64_t count, double duration_s, std::uint64_t stream) {
        std::vector<std::int64_t> offsets = arrival_offsets_ns(config, count, duration_s, stream);
        py::array_t<std::int64_t> array(static_cast<py::ssize_t>(offsets.size()));
        std::copy(offsets.begin(), offsets.end(), array.mutable_data());
        return array;
      },
      py::arg("config"), py::arg("count"), py::arg("duration_s") = 0.0, py::arg("stream") = 1,
      "The open-loop schedule the engine would use (ns from the phase start); stream 1 = profiling, 2 = warm-up.");
}

}  // namespace aiperf::bindings
