// Run-wide shared state and the per-thread scheduler deciding which request a loop sends next, and when.
#pragma once
#include <atomic>
#include <barrier>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/engine/engine.hpp"
#include "aiperf/engine/record.hpp"

namespace aiperf {

struct RunShared;

// Runs once when every loop thread has finished its warm-up: profiling starts now.
struct BeginProfiling {
  RunShared* run;
  void operator()() noexcept;
};

// A body with history holes, split once: pieces[0] hole[0] pieces[1] hole[1] ... pieces[n].
struct BodyTemplate {
  std::vector<std::string_view> pieces;
  std::vector<std::int32_t> holes;  // turn index whose response text goes here, as a JSON string
};

// State every loop thread of a run reads or updates; counters are atomics read by progress() without locks.
struct RunShared {
  RunShared(const EngineConfig& config, const Workload& workload, std::ptrdiff_t thread_count);

  std::int64_t session_count() const noexcept { return session_count_; }
  // First turn and number of turns of dataset session s (turn t's body is turn_body(first + t)).
  std::int64_t first_turn(std::int64_t session) const noexcept;
  std::int32_t turn_count(std::int64_t session) const noexcept;
  std::int32_t turn_body(std::int64_t turn) const noexcept;
  std::int64_t turn_delay_ns(std::int64_t turn) const noexcept;
  const BodyTemplate* body_template(std::int32_t body) const noexcept;
  // The open-loop schedule of a phase (ns from the phase start); empty: closed loop.
  const std::vector<std::int64_t>& schedule(Phase phase) const noexcept;

  const EngineConfig& config;
  const Workload& workload;
  const std::int64_t thread_count;

  std::atomic<std::int64_t> next_warmup{0};     // warm-up sessions claimed so far (closed loop)
  std::atomic<std::int64_t> next_profiling{0};  // profiling sessions claimed so far (closed loop)
  std::atomic<std::int64_t> next_request_index{0};
  std::atomic<bool> stop_requested{false};

  std::atomic<std::int64_t> sent{0};
  std::atomic<std::int64_t> completed{0};
  std::atomic<std::int64_t> errors{0};
  std::atomic<std::int32_t> phase{0};
  std::atomic<std::int64_t> profiling_start_ns{0};
  std::atomic<std::int64_t> warmup_sessions{0};  // set when profiling begins: profiling session numbers follow

  std::barrier<BeginProfiling> warmup_finished;

 private:
  std::int64_t session_count_ = 0;
  std::vector<std::unique_ptr<BodyTemplate>> templates_;  // per body; null when the body has no holes
  std::vector<std::int64_t> warmup_schedule_;
  std::vector<std::int64_t> profiling_schedule_;
};

// A session in progress on one loop thread: which turn comes next and the responses its later turns quote.
struct SessionState {
  std::int64_t session_num = 0;  // start order in the run (warm-up first), unique
  std::int64_t dataset_session = 0;
  std::int64_t first_turn = 0;
  std::int32_t turn_count = 1;
  std::int32_t next_turn = 0;
  Phase phase = Phase::profiling;
  std::int64_t due_ns = -1;            // when the next turn may be sent
  bool due_is_intended = false;        // due_ns is a schedule time (open loop first turn), recorded as intended
  std::vector<std::string> responses;  // response text per finished turn (kept only when later turns quote it)
};

struct RequestTicket {
  std::int64_t request_index = 0;
  std::int32_t body_index = 0;
  Phase phase = Phase::profiling;
  std::int64_t session_num = 0;
  std::int32_t turn_index = 0;
  std::int64_t intended_ns = -1;
  bool cancel = false;              // --request-cancellation-rate picked this request
  SessionState* session = nullptr;  // owned by the scheduler until the session's last turn ends
};

// Decides what one loop thread sends. Closed loop: a new session starts whenever fewer than the thread's share of
// sessions are active. Open loop: sessions start at their scheduled times (this thread takes every thread_count-th
// one), however many are active. Either way a session's next turn is due when the previous one ended plus its delay.
class Scheduler {
 public:
  Scheduler(RunShared& run, std::int32_t worker_id, std::int64_t max_active_sessions);

  void begin_phase(Phase phase, std::int64_t now_ns);
  // The next request due at now_ns, or nothing (none due yet, or the phase has nothing more to send).
  std::optional<RequestTicket> next(std::int64_t now_ns);
  // A request ended (success, error or cancelled): queues the session's next turn or retires the session.
  void on_finished(const RequestTicket& ticket, std::string_view response_text, std::int64_t end_ns);
  // Stop sending for good in this phase (stop(), duration over); waiting turns are dropped.
  void stop_sending() noexcept;
  // Nothing is left to send in this phase (requests may still be in flight).
  bool exhausted() const noexcept;
  // Next time the loop must wake for the scheduler (a due turn, a scheduled start, duration end, cancel deadline).
  std::int64_t next_wake_ns() const noexcept;
  // Called when the wake time passed; returns true when in-flight requests must be cancelled (grace period over).
  bool on_wake(std::int64_t now_ns) noexcept;
  // --concurrency-ramp-duration: how many sessions (closed loop) or requests (open loop) this thread may have in
  // flight at now_ns; the thread's full share outside a ramp.
  std::int64_t concurrency_cap(std::int64_t now_ns) const noexcept;
  // The body of a ticket's turn with its history holes filled (only for bodies that have holes).
  void fill_body(const RequestTicket& ticket, const BodyTemplate& body, std::string& out) const;

 private:
  struct DueLater {
    bool operator()(const SessionState* a, const SessionState* b) const noexcept { return a->due_ns > b->due_ns; }
  };

  SessionState* claim_session(std::int64_t now_ns);
  SessionState* new_session(std::int64_t session_num, std::int64_t dataset_session, std::int64_t due_ns,
                            bool due_is_intended);
  void retire(SessionState* session);
  bool may_claim(std::int64_t now_ns) const noexcept;
  std::int64_t next_ramp_step_ns(std::int64_t now_ns) const noexcept;  // -1 outside a ramp
  std::int64_t next_scheduled_ns() const noexcept;

  RunShared& run_;
  const std::int32_t worker_id_;
  const std::int64_t max_active_sessions_;
  Phase phase_ = Phase::warmup;
  bool sending_ = false;
  bool claims_left_ = false;
  std::int64_t phase_start_ns_ = 0;
  std::int64_t sending_deadline_ns_ = -1;
  std::int64_t cancel_deadline_ns_ = -1;
  std::int64_t ramp_end_ns_ = -1;  // --concurrency-ramp-duration: when the ramp reaches the full share
  const std::vector<std::int64_t>* schedule_ = nullptr;  // open loop; null: closed loop
  std::int64_t next_schedule_index_ = 0;                 // open loop: this thread's next session in the schedule
  std::int64_t active_sessions_ = 0;
  std::priority_queue<SessionState*, std::vector<SessionState*>, DueLater> waiting_;
  std::vector<std::unique_ptr<SessionState>> session_pool_;
  std::vector<SessionState*> free_sessions_;
};

}  // namespace aiperf
