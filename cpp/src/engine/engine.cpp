// Engine: configuration checks, loop threads, progress counters and the merge of per-thread records.
#include "aiperf/engine/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/common/text.hpp"
#include "aiperf/engine/event_loop.hpp"
#include "aiperf/engine/scheduler.hpp"

namespace aiperf {
namespace {

constexpr std::int64_t kInitialOpenLoopSlots = 256;

bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// libcurl must be initialised once per process before any thread uses it.
void ensure_curl_global_init() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) throw Error(std::string("curl_global_init failed: ") + curl_easy_strerror(code));
}

}  // namespace

void validate_engine_config(const EngineConfig& config, const std::vector<std::string>& bodies,
                            const std::vector<std::int32_t>& order) {
  Workload workload;
  workload.bodies = bodies;
  workload.order = order;
  validate_engine_config(config, workload);
}

void validate_engine_config(const EngineConfig& config, const Workload& workload) {
  const std::vector<std::string>& bodies = workload.bodies;
  const std::vector<std::int32_t>& order = workload.order;
  const bool http = starts_with_ignoring_case(config.url, "http://");
  const bool https = starts_with_ignoring_case(config.url, "https://");
  if (!http && !https) throw Error("url must start with http:// or https://, got '" + config.url + "'");
  const std::size_t host_start = http ? 7 : 8;
  if (config.url.size() <= host_start || config.url[host_start] == '/') throw Error("url has no host: " + config.url);
  if (has_line_break(config.url) || config.url.find(' ') != std::string::npos) {
    throw Error("url must not contain spaces or line breaks");
  }
  if (config.concurrency < 1) throw Error("concurrency must be >= 1");
  if (config.request_count < 0) throw Error("request_count must be >= 0");
  if (config.warmup_request_count < 0) throw Error("warmup_request_count must be >= 0");
  if (!std::isfinite(config.warmup_duration_s) || config.warmup_duration_s < 0) {
    throw Error("warmup_duration_s must be a finite number >= 0");
  }
  if (!std::isfinite(config.benchmark_duration_s) || config.benchmark_duration_s < 0) {
    throw Error("benchmark_duration_s must be a finite number >= 0");
  }
  const bool fixed_schedule = !workload.schedule_ns.empty();
  if (config.request_count == 0 && config.benchmark_duration_s <= 0 && !fixed_schedule) {
    throw Error("request_count 0 (unbounded) needs benchmark_duration_s > 0");
  }
  if (!std::isfinite(config.request_rate) || config.request_rate < 0) {
    throw Error("request_rate must be a finite number >= 0 (0 = closed loop)");
  }
  if (config.arrival_pattern != "constant" && config.arrival_pattern != "poisson" &&
      config.arrival_pattern != "gamma") {
    throw Error("arrival_pattern must be constant, poisson or gamma, got '" + config.arrival_pattern + "'");
  }
  if (!std::isfinite(config.arrival_smoothness) || config.arrival_smoothness <= 0) {
    throw Error("arrival_smoothness must be a finite number > 0");
  }
  if (!std::isfinite(config.request_rate_ramp_s) || config.request_rate_ramp_s < 0) {
    throw Error("request_rate_ramp_s must be a finite number >= 0");
  }
  if (config.request_rate_ramp_s > 0 && (config.request_rate <= 0 || fixed_schedule)) {
    throw Error("request_rate_ramp_s needs request_rate > 0 (it ramps the generated schedule, not a fixed one)");
  }
  if (!std::isfinite(config.concurrency_ramp_s) || config.concurrency_ramp_s < 0) {
    throw Error("concurrency_ramp_s must be a finite number >= 0");
  }
  if (!(config.cancellation_rate >= 0 && config.cancellation_rate <= 1)) {
    throw Error("cancellation_rate must be between 0 and 1");
  }
  if (!std::isfinite(config.cancellation_delay_s) || config.cancellation_delay_s < 0) {
    throw Error("cancellation_delay_s must be a finite number >= 0");
  }
  if (std::isnan(config.grace_period_s) || config.grace_period_s < 0) throw Error("grace_period_s must be >= 0");
  if (config.max_response_bytes < 0) throw Error("max_response_bytes must be >= 0 (0 = no limit)");
  if (!std::isfinite(config.request_timeout_s) || config.request_timeout_s < 0) {
    throw Error("request_timeout_s must be a finite number >= 0 (0 = no timeout)");
  }
  if (config.num_threads < 1) throw Error("num_threads must be >= 1");
  if (config.shard_count < 1 || config.shard_index < 0 || config.shard_index >= config.shard_count) {
    throw Error("shard_index must be in [0, shard_count) and shard_count >= 1");
  }
  if (config.profiling_start_ns < 0) throw Error("profiling_start_ns must be >= 0 (0 = when warm-up ends)");
  if (config.content_type.empty() || has_line_break(config.content_type)) {
    throw Error("content_type must be non-empty and on one line");
  }
  if (has_line_break(config.request_id_prefix)) throw Error("request_id_prefix must not contain line breaks");
  if (has_line_break(config.proxy)) throw Error("proxy must not contain line breaks");
  for (const std::string& header : config.headers) {
    const std::size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0 || has_line_break(header)) {
      throw Error("header must be one 'Name: value' line, got '" + header + "'");
    }
  }
  if (bodies.empty()) throw Error("bodies must not be empty");
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    if (bodies[i].empty()) throw Error("body " + std::to_string(i) + " is empty");
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (order[i] < 0 || static_cast<std::size_t>(order[i]) >= bodies.size()) {
      throw Error("order[" + std::to_string(i) + "] = " + std::to_string(order[i]) + " is not a body index (0.." +
                  std::to_string(bodies.size() - 1) + ")");
    }
  }
  const std::vector<std::int64_t>& sessions = workload.session_offsets;
  if (!sessions.empty()) {
    const auto turns = static_cast<std::int64_t>(order.empty() ? bodies.size() : order.size());
    if (sessions.size() < 2 || sessions.front() != 0 || sessions.back() != turns) {
      throw Error("session_offsets must start with 0 and end with the number of turns (" + std::to_string(turns) + ")");
    }
    for (std::size_t s = 0; s + 1 < sessions.size(); ++s) {
      if (sessions[s + 1] <= sessions[s]) throw Error("session " + std::to_string(s) + " has no turns");
    }
  }
  if (!workload.turn_delay_ns.empty() &&
      workload.turn_delay_ns.size() != (order.empty() ? bodies.size() : order.size())) {
    throw Error("turn_delay_ns must have one entry per turn");
  }
  const std::vector<std::int64_t>& schedule = workload.schedule_ns;
  for (std::size_t i = 0; i < schedule.size(); ++i) {
    if (schedule[i] < 0 || (i > 0 && schedule[i] < schedule[i - 1])) {
      throw Error("schedule_ns must be non-negative and non-decreasing (entry " + std::to_string(i) + ")");
    }
  }
  if (fixed_schedule) {
    const std::int64_t session_total = !sessions.empty()
                                           ? static_cast<std::int64_t>(sessions.size()) - 1
                                           : static_cast<std::int64_t>(order.empty() ? bodies.size() : order.size());
    if (static_cast<std::int64_t>(schedule.size()) > session_total) {
      throw Error("schedule_ns has more entries than there are sessions");
    }
    if (config.request_rate > 0) throw Error("a fixed schedule and request_rate exclude each other");
  }
}

struct Engine::Run {
  Run(EngineConfig config_in, Workload workload_in)
      : config(std::move(config_in)),
        workload(std::move(workload_in)),
        thread_count(std::min(config.num_threads, config.concurrency)),
        shared(config, workload, static_cast<std::ptrdiff_t>(thread_count)) {}

  void thread_finished();
  // Takes every loop's finished records (loops go on appending to fresh stores) and merges them by request index.
  RecordStore take_records();
  bool open_loop() const { return config.request_rate > 0 || !workload.schedule_ns.empty(); }

  const EngineConfig config;
  const Workload workload;
  const std::int64_t thread_count;  // a thread without a slot would only idle
  RunShared shared;
  ClockAnchor anchor;

  std::mutex mutex;  // guards everything below
  std::condition_variable finished_cv;
  bool started = false;
  bool finished = false;
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::thread> threads;
  std::int64_t running_threads = 0;
  std::shared_ptr<const RecordStore> records;  // records(): all of them, merged once
  bool drained = false;                        // drain() was called: records() has nothing to give
  std::mutex drain_mutex;                      // one drain() at a time
  std::string fatal_error;
};

void Engine::Run::thread_finished() {
  {
    std::lock_guard lock(mutex);
    if (--running_threads > 0) return;
  }
  std::string error;
  for (const auto& loop : loops) {
    if (error.empty()) error = loop->fatal_error();
  }
  shared.phase.store(2);
  std::lock_guard lock(mutex);
  fatal_error = std::move(error);
  finished = true;
  finished_cv.notify_all();
}

RecordStore Engine::Run::take_records() {
  std::vector<RecordStore> taken;
  taken.reserve(loops.size());
  for (const auto& loop : loops) taken.push_back(loop->take_records());
  std::vector<const RecordStore*> parts;
  for (const RecordStore& part : taken) parts.push_back(&part);
  try {
    return RecordStore::merge(parts, config.keep_raw);
  } catch (const std::exception& merge_error) {
    throw Error(std::string("merging records failed: ") + merge_error.what());
  }
}

Engine::Engine(EngineConfig config, std::vector<std::string> bodies, std::vector<std::int32_t> order) {
  Workload workload;
  workload.bodies = std::move(bodies);
  workload.order = std::move(order);
  validate_engine_config(config, workload);
  run_ = std::make_unique<Run>(std::move(config), std::move(workload));
}

Engine::Engine(EngineConfig config, Workload workload) {
  validate_engine_config(config, workload);
  run_ = std::make_unique<Run>(std::move(config), std::move(workload));
}

Engine::~Engine() {
  if (!run_) return;
  stop();
  for (std::thread& thread : run_->threads) {
    if (thread.joinable()) thread.join();
  }
}

void Engine::start() {
  Run& run = *run_;
  std::lock_guard lock(run.mutex);
  if (run.started) throw Error("the engine has already been started");
  ensure_curl_global_init();
  const std::int64_t threads = run.thread_count;
  run.loops.reserve(static_cast<std::size_t>(threads));
  for (std::int64_t t = 0; t < threads; ++t) {
    // Slots split as evenly as possible: the first concurrency % threads loops get one more.
    const std::int64_t slots = run.config.concurrency / threads + (t < run.config.concurrency % threads ? 1 : 0);
    // Open loop: concurrency is only a cap; start small and add slots when the schedule needs them.
    const std::int64_t initial = run.open_loop() ? std::min<std::int64_t>(slots, kInitialOpenLoopSlots) : slots;
    run.loops.push_back(std::make_unique<EventLoop>(
        run.shared, static_cast<std::int32_t>(t), static_cast<std::size_t>(initial), static_cast<std::size_t>(slots)));
  }
  run.anchor = capture_clock_anchor();
  run.started = true;
  run.running_threads = threads;
  run.threads.reserve(static_cast<std::size_t>(threads));
  for (auto& loop : run.loops) {
    EventLoop* loop_pointer = loop.get();
    run.threads.emplace_back([&run, loop_pointer] {
      loop_pointer->run();
      run.thread_finished();
    });
  }
}

bool Engine::wait(double timeout_s) {
  Run& run = *run_;
  std::unique_lock lock(run.mutex);
  if (!run.started) throw Error("the engine has not been started");
  auto finished = [&run] { return run.finished; };
  if (timeout_s < 0 || !std::isfinite(timeout_s)) {
    run.finished_cv.wait(lock, finished);
  } else {
    run.finished_cv.wait_for(lock, std::chrono::duration<double>(timeout_s), finished);
  }
  if (run.finished && !run.fatal_error.empty()) throw Error(run.fatal_error);
  return run.finished;
}

void Engine::stop() {
  Run& run = *run_;
  run.shared.stop_requested.store(true);
  std::lock_guard lock(run.mutex);
  for (auto& loop : run.loops) loop->wake();
}

Progress Engine::progress() const {
  const RunShared& shared = run_->shared;
  Progress progress;
  // completed first: read in this order, in_flight never goes negative.
  progress.completed = shared.completed.load(std::memory_order_relaxed);
  progress.errors = shared.errors.load(std::memory_order_relaxed);
  progress.sent = shared.sent.load(std::memory_order_relaxed);
  progress.in_flight = std::max<std::int64_t>(progress.sent - progress.completed, 0);
  progress.phase = shared.phase.load(std::memory_order_relaxed);
  progress.profiling_start_ns = shared.profiling_start_ns.load(std::memory_order_relaxed);
  return progress;
}

std::shared_ptr<const RecordStore> Engine::records() const {
  Run& run = *run_;
  std::lock_guard lock(run.mutex);
  if (!run.finished) throw Error("records are available once the run has finished (wait() returned True)");
  if (!run.fatal_error.empty()) throw Error(run.fatal_error);
  if (run.drained) throw Error("records were handed out by drain(); records() and drain() do not mix");
  if (!run.records) run.records = std::make_shared<const RecordStore>(run.take_records());
  return run.records;
}

std::shared_ptr<const RecordStore> Engine::drain() {
  Run& run = *run_;
  std::lock_guard drain_lock(run.drain_mutex);
  {
    std::lock_guard lock(run.mutex);
    if (!run.started) throw Error("the engine has not been started");
    if (run.records) throw Error("records were handed out by records(); records() and drain() do not mix");
    run.drained = true;
  }
  // Outside run.mutex: the loops keep finishing requests while the batch is merged.
  return std::make_shared<const RecordStore>(run.take_records());
}

std::int64_t Engine::anchor_wall_ns() const { return run_->anchor.wall_ns; }
std::int64_t Engine::anchor_mono_ns() const { return run_->anchor.mono_ns; }
const EngineConfig& Engine::config() const { return run_->config; }

}  // namespace aiperf
