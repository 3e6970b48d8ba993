// Engine: runs a benchmark (warm-up, then profiling) over libcurl event loops and returns columnar records.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aiperf/engine/record.hpp"

namespace aiperf {

struct EngineConfig {
  std::string url;                   // full URL including the endpoint path, http:// or https://
  std::vector<std::string> headers;  // "Name: value" lines added to every request
  std::string content_type = "application/json";
  bool streaming = false;  // parse the body as SSE
  // Closed loop: sessions in flight (a single-turn request is a session of one turn). Open loop: the most requests
  // in flight; a request due while all are busy waits for one and is sent late (its intended time is recorded).
  std::int64_t concurrency = 1;
  std::int64_t request_count = 10;        // profiling sessions; 0 = unbounded (needs benchmark_duration_s > 0)
  std::int64_t warmup_request_count = 0;  // warm-up sessions; 0 with warmup_duration_s > 0: unbounded
  double warmup_duration_s = 0.0;         // warm-up stops starting sessions after this long (0 = no limit)
  // Open loop: sessions start on a schedule computed up front, not when a slot frees. A non-empty
  // Workload::schedule_ns is used as given; otherwise request_rate > 0 draws one from the arrival pattern.
  double request_rate = 0.0;                // sessions per second; 0 = closed loop
  std::string arrival_pattern = "poisson";  // constant | poisson | gamma
  double arrival_smoothness = 1.0;          // gamma shape: < 1 burstier than poisson, > 1 smoother
  // Each phase ramps its rate linearly from request_rate * 0.1 s / ramp up to request_rate over this many seconds
  // (the arrival pattern's shape is kept: the schedule's clock is stretched), then stays at it. 0 = no ramp.
  double request_rate_ramp_s = 0.0;
  // Each phase starts with 1 session (closed loop) or request (open loop) in flight and allows one more at even
  // intervals, reaching `concurrency` after this many seconds. 0 = no ramp.
  double concurrency_ramp_s = 0.0;
  std::uint64_t random_seed = 0;   // arrival times and cancellation choices
  double cancellation_rate = 0.0;  // fraction (0..1) of requests cancelled cancellation_delay_s after start
  double cancellation_delay_s = 0.0;
  double benchmark_duration_s = 0.0;   // 0 = none
  double grace_period_s = 30.0;        // after the duration; inf = never cancel
  double request_timeout_s = 21600.0;  // per request, connect included; 0 = none
  std::int64_t num_threads = 1;
  bool keep_raw = false;
  std::string proxy;       // "" = no proxy, environment ignored
  bool verify_tls = true;  // https: check the server's certificate and host name
  std::string request_id_prefix;
  // Response bytes are timed by the kernel's receive timestamp (SO_TIMESTAMPNS, read with a MSG_PEEK before
  // libcurl reads), not when the loop gets to them: a burst of arrivals read one after another keeps the times it
  // arrived at. Costs one extra recvmsg() per socket wake-up. Bytes past what the peek saw fall back to the clock.
  bool kernel_timestamps = false;
  bool expect_images = false;  // image endpoints: a success without a valid image is an invalid response
  // Text and image endpoints (not embeddings): a 2xx response that carried no content or reasoning content (with
  // expect_images: no image) is an error record of kind empty_response, not a success.
  bool expect_content = false;
  std::int64_t max_response_bytes = std::int64_t{256} << 20;  // per response body; larger is an error; 0 = none
  // Distributed runs (one engine per worker): this engine is shard `shard_index` of `shard_count`, and its request
  // indices and session numbers are shard_index + shard_count * (its own count), so they are unique across shards.
  std::int64_t shard_index = 0;
  std::int64_t shard_count = 1;
  // CLOCK_MONOTONIC time at which profiling starts, common to several engines; 0 = as soon as warm-up ends. A
  // warm-up that ends later does not move it (the sends it delays show as schedule lag).
  std::int64_t profiling_start_ns = 0;
};

// What a run sends: sessions (conversations) of turns. Without session_offsets every entry of `order` (or every
// body when order is empty) is a session of one turn, and session k sends bodies[order[k % order.size()]].
// With them, session s is the turns order[session_offsets[s] .. session_offsets[s+1]), sent one after the other:
// a turn waits for the previous one to end, then turn_delay_ns of its own. A body may hold history holes, the JSON
// string "\u0000aiperf-turn:J\u0000" (as json.dumps writes it), replaced when sent by the response text of turn J
// of the same session, so each turn carries the conversation so far.
struct Workload {
  std::vector<std::string> bodies;
  std::vector<std::int32_t> order;
  std::vector<std::int64_t> session_offsets;
  std::vector<std::int64_t> turn_delay_ns;  // one per entry of order, or empty
  std::vector<std::int64_t> schedule_ns;    // fixed schedule: profiling session k (dataset session k) starts at
                                            // profiling start + schedule_ns[k]; one profiling session per entry
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
  Engine(EngineConfig config, Workload workload);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();                 // starts the loop threads and returns
  bool wait(double timeout_s);  // true once the run has finished; timeout_s < 0 waits without limit
  void stop();                  // any thread: stop sending and cancel in-flight requests
  Progress progress() const;
  // The merged records, sorted by request_index; throws aiperf::Error before the run has finished.
  std::shared_ptr<const RecordStore> records() const;
  // The records finished since the previous drain(), sorted by request_index; any thread, during and after the
  // run (a long run streams its records out in batches instead of holding all of them). Once the run has finished
  // and everything was drained, an empty store. A run uses either drain() or records(), not both.
  std::shared_ptr<const RecordStore> drain();
  std::int64_t anchor_wall_ns() const;
  std::int64_t anchor_mono_ns() const;
  const EngineConfig& config() const;

 private:
  struct Run;
  std::unique_ptr<Run> run_;
};

// Throws aiperf::Error describing the first problem with the configuration.
void validate_engine_config(const EngineConfig& config, const Workload& workload);
void validate_engine_config(const EngineConfig& config, const std::vector<std::string>& bodies,
                            const std::vector<std::int32_t>& order);

// Session start offsets (ns from the phase start) of an open-loop schedule: `count` of them, or, with count 0,
// all that fall before duration_s. Seeded: the same config and stream give the same schedule.
std::vector<std::int64_t> arrival_offsets_ns(const EngineConfig& config, std::int64_t count, double duration_s,
                                             std::uint64_t stream);

}  // namespace aiperf
