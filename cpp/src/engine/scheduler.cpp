// Scheduling: shared session counters, open-loop schedules, multi-turn sessions, warm-up/profiling phases,
// duration and grace deadlines, and the choice of requests to cancel.
#include "aiperf/engine/scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/encode/json_writer.hpp"

namespace aiperf {
namespace {

std::int64_t seconds_to_ns(double seconds) { return static_cast<std::int64_t>(std::llround(seconds * 1e9)); }

// The history hole json.dumps writes for the Python string "\0aiperf-turn:J\0".
constexpr std::string_view kHoleStart = "\"\\u0000aiperf-turn:";
constexpr std::string_view kHoleEnd = "\\u0000\"";

std::unique_ptr<BodyTemplate> split_body(std::string_view body) {
  std::size_t start = body.find(kHoleStart);
  if (start == std::string_view::npos) return nullptr;
  auto split = std::make_unique<BodyTemplate>();
  std::size_t piece_start = 0;
  while (start != std::string_view::npos) {
    std::size_t pos = start + kHoleStart.size();
    std::int64_t turn = 0;
    const std::size_t digits_start = pos;
    while (pos < body.size() && body[pos] >= '0' && body[pos] <= '9' && pos - digits_start < 9) {
      turn = turn * 10 + (body[pos] - '0');
      ++pos;
    }
    if (pos == digits_start || body.substr(pos, kHoleEnd.size()) != kHoleEnd) {
      start = body.find(kHoleStart, start + 1);  // not a hole after all: stays literal text
      continue;
    }
    split->pieces.push_back(body.substr(piece_start, start - piece_start));
    split->holes.push_back(static_cast<std::int32_t>(turn));
    piece_start = pos + kHoleEnd.size();
    start = body.find(kHoleStart, piece_start);
  }
  if (split->holes.empty()) return nullptr;
  split->pieces.push_back(body.substr(piece_start));
  return split;
}

// A number in [0, 1) fixed by (seed, a, b): the same request is picked for cancellation in every run with the seed.
double uniform_hash(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  std::uint64_t x = seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

}  // namespace

namespace {

// The schedule's clock under a linear rate ramp: an arrival at tau_ns of the unramped process (rate R) happens when
// the ramped rate r(t) = r0 + (R - r0) t / D has accumulated as many expected arrivals, R * tau.
class RampClock {
 public:
  RampClock(double rate, double ramp_s) : rate_(rate), ramp_s_(ramp_s > 0 ? ramp_s : 0.0) {
    start_rate_ = ramp_s_ > 0 ? std::min(rate * 0.1 / ramp_s_, rate) : rate;  // AIPerf's proportional start
  }

  double operator()(double tau_ns) const {
    if (ramp_s_ <= 0) return tau_ns;
    const double count = rate_ * tau_ns * 1e-9;                     // expected arrivals so far
    const double ramp_count = ramp_s_ * (start_rate_ + rate_) / 2;  // arrivals during the ramp
    if (count >= ramp_count) return (ramp_s_ + (count - ramp_count) / rate_) * 1e9;
    const double a = (rate_ - start_rate_) / (2 * ramp_s_);
    if (a <= 0) return count / start_rate_ * 1e9;
    // a t^2 + r0 t - count = 0, written to stay exact when r0 t dominates
    const double t = 2 * count / (start_rate_ + std::sqrt(start_rate_ * start_rate_ + 4 * a * count));
    return t * 1e9;
  }

 private:
  double rate_;
  double ramp_s_;
  double start_rate_;
};

}  // namespace

std::vector<std::int64_t> arrival_offsets_ns(const EngineConfig& config, std::int64_t count, double duration_s,
                                             std::uint64_t stream) {
  if (!(config.request_rate > 0)) throw Error("request_rate must be > 0 for an open-loop schedule");
  if (count <= 0 && !(duration_s > 0)) throw Error("an open-loop schedule needs a count or a duration");
  const double mean_gap_ns = 1e9 / config.request_rate;
  const double limit_ns = count > 0 ? std::numeric_limits<double>::infinity() : duration_s * 1e9;
  const RampClock ramp(config.request_rate, config.request_rate_ramp_s);
  std::mt19937_64 rng(config.random_seed * 0x2545F4914F6CDD1Dull + stream);
  std::exponential_distribution<double> exponential(1.0);
  const double shape = config.arrival_pattern == "gamma" ? config.arrival_smoothness : 1.0;
  std::gamma_distribution<double> gamma(shape, 1.0 / shape);
  std::vector<std::int64_t> offsets;
  if (count > 0) offsets.reserve(static_cast<std::size_t>(count));
  double tau_ns = 0.0;  // the unramped process
  for (std::int64_t k = 0; count <= 0 || k < count; ++k) {
    if (k > 0) {
      if (config.arrival_pattern == "constant") {
        tau_ns = static_cast<double>(k) * mean_gap_ns;  // no accumulated rounding drift
      } else if (config.arrival_pattern == "gamma") {
        tau_ns += gamma(rng) * mean_gap_ns;
      } else {
        tau_ns += exponential(rng) * mean_gap_ns;
      }
    }
    const double t_ns = ramp(tau_ns);
    if (t_ns >= limit_ns) break;
    offsets.push_back(static_cast<std::int64_t>(std::llround(t_ns)));
  }
  return offsets;
}

void BeginProfiling::operator()() noexcept {
  const std::int64_t counted = run->config.warmup_request_count;
  run->warmup_sessions.store(counted > 0 ? counted : run->next_warmup.load());
  const std::int64_t start_at_ns = run->config.profiling_start_ns;
  // A start common to several engines: wait for it in short sleeps, so that stop() still ends the run promptly.
  for (std::int64_t now_ns = monotonic_ns();
       start_at_ns > 0 && now_ns < start_at_ns && !run->stop_requested.load(std::memory_order_relaxed);
       now_ns = monotonic_ns()) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(start_at_ns - now_ns, 5'000'000)));
  }
  run->profiling_start_ns.store(start_at_ns > 0 ? start_at_ns : monotonic_ns());
  run->phase.store(1);
}

RunShared::RunShared(const EngineConfig& config_in, const Workload& workload_in, std::ptrdiff_t threads)
    : config(config_in), workload(workload_in), thread_count(threads), warmup_finished(threads, BeginProfiling{this}) {
  if (!workload.session_offsets.empty()) {
    session_count_ = static_cast<std::int64_t>(workload.session_offsets.size()) - 1;
  } else if (!workload.order.empty()) {
    session_count_ = static_cast<std::int64_t>(workload.order.size());
  } else {
    session_count_ = static_cast<std::int64_t>(workload.bodies.size());
  }
  templates_.reserve(workload.bodies.size());
  for (const std::string& body : workload.bodies) templates_.push_back(split_body(body));
  if (!workload.schedule_ns.empty()) {
    profiling_schedule_ = workload.schedule_ns;
  } else if (config.request_rate > 0) {
    profiling_schedule_ = arrival_offsets_ns(config, config.request_count, config.benchmark_duration_s, 1);
  }
  if (config.request_rate > 0 && config.warmup_request_count > 0) {
    warmup_schedule_ = arrival_offsets_ns(config, config.warmup_request_count, 0.0, 2);
  }
}

std::int64_t RunShared::first_turn(std::int64_t session) const noexcept {
  return workload.session_offsets.empty() ? session : workload.session_offsets[static_cast<std::size_t>(session)];
}

std::int32_t RunShared::turn_count(std::int64_t session) const noexcept {
  if (workload.session_offsets.empty()) return 1;
  const auto s = static_cast<std::size_t>(session);
  return static_cast<std::int32_t>(workload.session_offsets[s + 1] - workload.session_offsets[s]);
}

std::int32_t RunShared::turn_body(std::int64_t turn) const noexcept {
  if (!workload.order.empty()) return workload.order[static_cast<std::size_t>(turn)];
  return static_cast<std::int32_t>(turn);
}

std::int64_t RunShared::turn_delay_ns(std::int64_t turn) const noexcept {
  if (workload.turn_delay_ns.empty()) return 0;
  return workload.turn_delay_ns[static_cast<std::size_t>(turn)];
}

const BodyTemplate* RunShared::body_template(std::int32_t body) const noexcept {
  return templates_[static_cast<std::size_t>(body)].get();
}

const std::vector<std::int64_t>& RunShared::schedule(Phase phase) const noexcept {
  return phase == Phase::warmup ? warmup_schedule_ : profiling_schedule_;
}

Scheduler::Scheduler(RunShared& run, std::int32_t worker_id, std::int64_t max_active_sessions)
    : run_(run), worker_id_(worker_id), max_active_sessions_(std::max<std::int64_t>(max_active_sessions, 1)) {}

void Scheduler::begin_phase(Phase phase, std::int64_t now_ns) {
  phase_ = phase;
  sending_ = !run_.stop_requested.load(std::memory_order_relaxed);
  sending_deadline_ns_ = -1;
  cancel_deadline_ns_ = -1;
  const EngineConfig& config = run_.config;
  const std::int64_t start_ns = run_.profiling_start_ns.load();
  phase_start_ns_ = phase == Phase::profiling && start_ns > 0 ? start_ns : now_ns;
  const std::vector<std::int64_t>& schedule = run_.schedule(phase);
  const bool open_loop =
      phase == Phase::profiling ? (config.request_rate > 0 || !run_.workload.schedule_ns.empty()) : !schedule.empty();
  schedule_ = open_loop ? &schedule : nullptr;
  next_schedule_index_ = worker_id_;
  claims_left_ = open_loop
                     ? next_schedule_index_ < static_cast<std::int64_t>(schedule.size())
                     : (phase == Phase::profiling || config.warmup_request_count > 0 || config.warmup_duration_s > 0);
  ramp_end_ns_ = config.concurrency_ramp_s > 0 && max_active_sessions_ > 1
                     ? phase_start_ns_ + seconds_to_ns(config.concurrency_ramp_s)
                     : -1;
  if (phase == Phase::warmup && config.warmup_duration_s > 0) {
    sending_deadline_ns_ = phase_start_ns_ + seconds_to_ns(config.warmup_duration_s);
  }
  if (phase == Phase::profiling && config.benchmark_duration_s > 0) {
    sending_deadline_ns_ = phase_start_ns_ + seconds_to_ns(config.benchmark_duration_s);
    if (std::isfinite(config.grace_period_s)) {
      cancel_deadline_ns_ = sending_deadline_ns_ + seconds_to_ns(config.grace_period_s);
    }
  }
}

std::int64_t Scheduler::concurrency_cap(std::int64_t now_ns) const noexcept {
  if (ramp_end_ns_ < 0 || now_ns >= ramp_end_ns_) return max_active_sessions_;
  // 1 at the phase start, one more every ramp / (max - 1), max at the ramp's end
  const double fraction =
      static_cast<double>(now_ns - phase_start_ns_) / static_cast<double>(ramp_end_ns_ - phase_start_ns_);
  const auto steps = static_cast<std::int64_t>(std::floor(fraction * static_cast<double>(max_active_sessions_ - 1)));
  return std::clamp<std::int64_t>(1 + steps, 1, max_active_sessions_);
}

std::int64_t Scheduler::next_ramp_step_ns(std::int64_t now_ns) const noexcept {
  if (ramp_end_ns_ < 0 || now_ns >= ramp_end_ns_ || max_active_sessions_ <= 1) return -1;
  const double step_ns =
      static_cast<double>(ramp_end_ns_ - phase_start_ns_) / static_cast<double>(max_active_sessions_ - 1);
  const double steps_done = std::floor(static_cast<double>(now_ns - phase_start_ns_) / step_ns);
  return std::min(ramp_end_ns_, phase_start_ns_ + static_cast<std::int64_t>(std::ceil((steps_done + 1) * step_ns)));
}

bool Scheduler::may_claim(std::int64_t now_ns) const noexcept {
  if (!claims_left_) return false;
  return schedule_ != nullptr || active_sessions_ < concurrency_cap(now_ns);
}

std::int64_t Scheduler::next_scheduled_ns() const noexcept {
  if (schedule_ == nullptr || !claims_left_) return -1;
  return phase_start_ns_ + (*schedule_)[static_cast<std::size_t>(next_schedule_index_)];
}

SessionState* Scheduler::new_session(std::int64_t session_num, std::int64_t dataset_session, std::int64_t due_ns,
                                     bool due_is_intended) {
  SessionState* session = nullptr;
  if (!free_sessions_.empty()) {
    session = free_sessions_.back();
    free_sessions_.pop_back();
  } else {
    session_pool_.push_back(std::make_unique<SessionState>());
    session = session_pool_.back().get();
  }
  session->session_num = session_num;
  session->dataset_session = dataset_session;
  session->first_turn = run_.first_turn(dataset_session);
  session->turn_count = run_.turn_count(dataset_session);
  session->next_turn = 0;
  session->phase = phase_;
  session->due_ns = due_ns;
  session->due_is_intended = due_is_intended;
  for (std::string& response : session->responses) response.clear();
  ++active_sessions_;
  return session;
}

void Scheduler::retire(SessionState* session) {
  --active_sessions_;
  free_sessions_.push_back(session);
}

SessionState* Scheduler::claim_session(std::int64_t now_ns) {
  const EngineConfig& config = run_.config;
  const std::int64_t warmups = config.warmup_request_count;
  const std::int64_t profiling_base = run_.warmup_sessions.load(std::memory_order_relaxed);
  const std::int64_t sessions = run_.session_count();
  if (schedule_ != nullptr) {
    const std::int64_t due_ns = next_scheduled_ns();
    if (due_ns > now_ns) return nullptr;
    const std::int64_t k = next_schedule_index_;
    next_schedule_index_ += run_.thread_count;
    claims_left_ = next_schedule_index_ < static_cast<std::int64_t>(schedule_->size());
    const bool fixed = phase_ == Phase::profiling && !run_.workload.schedule_ns.empty();
    const std::int64_t session_num = phase_ == Phase::warmup ? k : profiling_base + k;
    return new_session(session_num, fixed ? k : session_num % sessions, due_ns, true);
  }
  std::int64_t session_num = 0;
  if (phase_ == Phase::warmup) {
    const std::int64_t k = run_.next_warmup.fetch_add(1, std::memory_order_relaxed);
    if (warmups > 0 && k >= warmups) {
      claims_left_ = false;
      return nullptr;
    }
    session_num = k;
  } else {
    const std::int64_t k = run_.next_profiling.fetch_add(1, std::memory_order_relaxed);
    if (config.request_count > 0 && k >= config.request_count) {
      claims_left_ = false;
      return nullptr;
    }
    session_num = profiling_base + k;
  }
  return new_session(session_num, session_num % sessions, now_ns, false);
}

std::optional<RequestTicket> Scheduler::next(std::int64_t now_ns) {
  if (!sending_) return std::nullopt;
  if (run_.stop_requested.load(std::memory_order_relaxed) ||
      (sending_deadline_ns_ >= 0 && now_ns >= sending_deadline_ns_)) {
    stop_sending();
    return std::nullopt;
  }
  SessionState* session = nullptr;
  const bool turn_due = !waiting_.empty() && waiting_.top()->due_ns <= now_ns;
  const std::int64_t scheduled_ns = next_scheduled_ns();
  // The earliest due first: a waiting turn unless a scheduled session start is older.
  if (turn_due && (scheduled_ns < 0 || waiting_.top()->due_ns <= scheduled_ns)) {
    session = waiting_.top();
    waiting_.pop();
  } else if (may_claim(now_ns)) {
    session = claim_session(now_ns);
  }
  if (session == nullptr) {
    if (!turn_due) return std::nullopt;
    session = waiting_.top();
    waiting_.pop();
  }
  const EngineConfig& config = run_.config;
  RequestTicket ticket;
  ticket.session = session;
  ticket.phase = session->phase;
  ticket.session_num = config.shard_index + config.shard_count * session->session_num;
  ticket.turn_index = session->next_turn;
  ticket.body_index = run_.turn_body(session->first_turn + session->next_turn);
  ticket.request_index =
      config.shard_index + config.shard_count * run_.next_request_index.fetch_add(1, std::memory_order_relaxed);
  ticket.intended_ns = session->due_is_intended ? session->due_ns : -1;
  ticket.cancel = config.cancellation_rate > 0 &&
                  uniform_hash(config.random_seed, static_cast<std::uint64_t>(ticket.session_num),
                               static_cast<std::uint64_t>(ticket.turn_index)) < config.cancellation_rate;
  return ticket;
}

void Scheduler::on_finished(const RequestTicket& ticket, std::string_view response_text, std::int64_t end_ns) {
  SessionState* session = ticket.session;
  if (session == nullptr) return;
  const std::int32_t turn = ticket.turn_index;
  if (!sending_ || turn + 1 >= session->turn_count) {
    retire(session);
    return;
  }
  if (session->responses.size() < static_cast<std::size_t>(session->turn_count)) {
    session->responses.resize(static_cast<std::size_t>(session->turn_count));
  }
  session->responses[static_cast<std::size_t>(turn)].assign(response_text);
  session->next_turn = turn + 1;
  const std::int64_t delay_ns = run_.turn_delay_ns(session->first_turn + session->next_turn);
  session->due_ns = end_ns + std::max<std::int64_t>(delay_ns, 0);
  session->due_is_intended = delay_ns > 0;  // a think time is a schedule of its own: lateness shows against it
  waiting_.push(session);
}

void Scheduler::stop_sending() noexcept {
  sending_ = false;
  claims_left_ = false;
  while (!waiting_.empty()) {
    retire(waiting_.top());
    waiting_.pop();
  }
}

bool Scheduler::exhausted() const noexcept { return !sending_ || (!claims_left_ && active_sessions_ == 0); }

std::int64_t Scheduler::next_wake_ns() const noexcept {
  std::int64_t wake_ns = cancel_deadline_ns_;
  auto consider = [&wake_ns](std::int64_t t) {
    if (t >= 0 && (wake_ns < 0 || t < wake_ns)) wake_ns = t;
  };
  if (sending_) {
    consider(sending_deadline_ns_);
    if (!waiting_.empty()) consider(waiting_.top()->due_ns);
    consider(next_scheduled_ns());
    if (ramp_end_ns_ >= 0 && (claims_left_ || schedule_ != nullptr)) {
      consider(next_ramp_step_ns(monotonic_ns()));  // only during a ramp: no clock read per pass otherwise
    }
  }
  return wake_ns;
}

bool Scheduler::on_wake(std::int64_t now_ns) noexcept {
  if (sending_deadline_ns_ >= 0 && now_ns >= sending_deadline_ns_) stop_sending();
  if (cancel_deadline_ns_ < 0 || now_ns < cancel_deadline_ns_) return false;
  cancel_deadline_ns_ = -1;  // cancel once; the timer is not re-armed for a passed deadline
  return true;
}

void Scheduler::fill_body(const RequestTicket& ticket, const BodyTemplate& body, std::string& out) const {
  out.clear();
  const SessionState* session = ticket.session;
  for (std::size_t i = 0; i < body.holes.size(); ++i) {
    out.append(body.pieces[i]);
    const auto turn = static_cast<std::size_t>(body.holes[i]);
    const bool known =
        session != nullptr && turn < session->responses.size() && static_cast<std::int32_t>(turn) < ticket.turn_index;
    append_json_string(out, known ? std::string_view(session->responses[turn]) : std::string_view(),
                       InvalidUtf8::replace);
  }
  out.append(body.pieces.back());
}

}  // namespace aiperf
