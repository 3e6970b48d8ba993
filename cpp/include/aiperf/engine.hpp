// Engine: runs a benchmark (warm-up, then profiling) over libcurl event loops and returns columnar records.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aiperf/record.hpp"

namespace aiperf {

struct EngineConfig {
  std::string url;                      // full URL including the endpoint path, http:// or https://
  std::vector<std::string> headers;     // "Name: value" lines added to every request
  std::string content_type = "application/json";
  bool streaming = false;               // parse the body as SSE
  std::int64_t concurrency = 1;         // closed loop: requests in flight
  std::int64_t request_count = 10;      // profiling requests; 0 = unbounded (needs benchmark_duration_s > 0)
  std::int64_t warmup_request_count = 0;
  double benchmark_duration_s = 0.0;    // 0 = none
  double grace_period_s = 30.0;         // after the duration; inf = never cancel
  double request_timeout_s = 21600.0;   // per request, connect included; 0 = none
  std::int64_t num_threads = 1;
  bool keep_raw = false;
  std::string proxy;                    // "" = no proxy, environment ignored
  bool verify_tls = true;               // https: check the server's certificate and host name
  std::string request_id_prefix;
  bool expect_images = false;           // image endpoints: a success without a valid image is an invalid response
};

struct Progress {
  std::int64_t sent = 0;
  std::int64_t completed = 0;
  std::int64_t errors = 0;
  std::int64_t in_flight = 0;
  std::int32_t phase = 0;  // 0 warm-up, 1 profiling, 2 finished
  std::int64_t profiling_start_ns = 0;
};

class Engine {
 public:
  // Request i (warm-up first, then profiling) sends bodies[order[i % order.size()]], or bodies[i % bodies.size()]
  // when order is empty. Throws aiperf::Error on an invalid configuration.
  Engine(EngineConfig config, std::vector<std::string> bodies, std::vector<std::int32_t> order = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();                    // starts the loop threads and returns
  bool wait(double timeout_s);     // true once the run has finished; timeout_s < 0 waits without limit
  void stop();                     // any thread: stop sending and cancel in-flight requests
  Progress progress() const;
  // The merged records, sorted by request_index; throws aiperf::Error before the run has finished.
  std::shared_ptr<const RecordStore> records() const;
  std::int64_t anchor_wall_ns() const;
  std::int64_t anchor_mono_ns() const;
  const EngineConfig& config() const;

 private:
  struct Run;
  std::unique_ptr<Run> run_;
};

// Throws aiperf::Error describing the first problem with the configuration.
void validate_engine_config(const EngineConfig& config, const std::vector<std::string>& bodies,
                            const std::vector<std::int32_t>& order);

}  // namespace aiperf
