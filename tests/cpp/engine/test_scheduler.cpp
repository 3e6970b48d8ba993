// Scheduler: which request a loop thread sends next and when, on made-up clock values (no threads, no sockets).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "aiperf/engine/scheduler.hpp"

namespace aiperf {
namespace {

constexpr std::int64_t kT = 1'000'000'000;  // the phase starts here
constexpr std::int64_t kSecond = 1'000'000'000;

Workload bodies(int count) {
  Workload workload;
  for (int i = 0; i < count; ++i) workload.bodies.push_back("{\"b\":" + std::to_string(i) + "}");
  return workload;
}

TEST(Scheduler, ClosedLoopKeepsItsShareInFlightAndStopsAtTheRequestCount) {
  EngineConfig config;
  config.request_count = 3;
  const Workload workload = bodies(2);
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 2);
  scheduler.begin_phase(Phase::profiling, kT);
  const auto first = scheduler.next(kT);
  const auto second = scheduler.next(kT);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(scheduler.next(kT));  // two in flight: the share is full
  EXPECT_EQ(first->request_index, 0);
  EXPECT_EQ(second->request_index, 1);
  EXPECT_EQ(second->session_num, 1);
  EXPECT_EQ(second->body_index, 1);
  EXPECT_EQ(first->phase, Phase::profiling);
  EXPECT_EQ(first->intended_ns, -1);  // closed loop: sent when a slot is free, no intended time
  scheduler.on_finished(*first, "", kT + 10);
  const auto third = scheduler.next(kT + 10);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->body_index, 0);  // session 2 of a dataset of 2
  scheduler.on_finished(*second, "", kT + 20);
  EXPECT_FALSE(scheduler.next(kT + 20));  // the count is reached
  EXPECT_FALSE(scheduler.exhausted());    // one still in flight
  scheduler.on_finished(*third, "", kT + 30);
  EXPECT_TRUE(scheduler.exhausted());
}

TEST(Scheduler, MultiTurnSessionsSendTheirTurnsInOrderAfterEachDelay) {
  EngineConfig config;
  config.request_count = 1;
  Workload workload = bodies(2);
  workload.order = {0, 1};
  workload.session_offsets = {0, 2};
  workload.turn_delay_ns = {0, 500};
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 1);
  scheduler.begin_phase(Phase::profiling, kT);
  const auto turn0 = scheduler.next(kT);
  ASSERT_TRUE(turn0);
  EXPECT_EQ(turn0->turn_index, 0);
  scheduler.on_finished(*turn0, "hi", kT + 100);
  EXPECT_FALSE(scheduler.next(kT + 100));  // its think time is not over
  EXPECT_EQ(scheduler.next_wake_ns(), kT + 600);
  const auto turn1 = scheduler.next(kT + 600);
  ASSERT_TRUE(turn1);
  EXPECT_EQ(turn1->turn_index, 1);
  EXPECT_EQ(turn1->body_index, 1);
  EXPECT_EQ(turn1->session_num, turn0->session_num);
  EXPECT_EQ(turn1->intended_ns, kT + 600);  // a delay is a schedule: lateness shows against it
  scheduler.on_finished(*turn1, "bye", kT + 700);
  EXPECT_FALSE(scheduler.next(kT + 700));  // the one session of the count is done
  EXPECT_TRUE(scheduler.exhausted());
}

TEST(Scheduler, HistoryHolesAreFilledWithTheSessionsEarlierResponses) {
  EngineConfig config;
  config.request_count = 1;
  Workload workload;
  workload.bodies = {R"({"m":["q"]})", R"({"m":["q","\u0000aiperf-turn:0\u0000","r"]})"};
  workload.order = {0, 1};
  workload.session_offsets = {0, 2};
  RunShared run(config, workload, 1);
  EXPECT_EQ(run.body_template(0), nullptr);
  const BodyTemplate* with_hole = run.body_template(1);
  ASSERT_NE(with_hole, nullptr);
  Scheduler scheduler(run, 0, 1);
  scheduler.begin_phase(Phase::profiling, kT);
  const auto turn0 = scheduler.next(kT);
  scheduler.on_finished(*turn0, "say \"hi\"", kT + 1);
  const auto turn1 = scheduler.next(kT + 1);
  ASSERT_TRUE(turn1);
  std::string body;
  scheduler.fill_body(*turn1, *with_hole, body);
  EXPECT_EQ(body, R"({"m":["q","say \"hi\"","r"]})");
}

TEST(Scheduler, OpenLoopStartsThisThreadsShareOfTheScheduleOnTime) {
  EngineConfig config;
  Workload workload = bodies(4);
  workload.schedule_ns = {0, 100, 200, 300};
  RunShared run(config, workload, 2);
  Scheduler scheduler(run, /*worker_id=*/1, 8);  // takes entries 1 and 3
  scheduler.begin_phase(Phase::profiling, kT);
  EXPECT_FALSE(scheduler.next(kT));
  EXPECT_EQ(scheduler.next_wake_ns(), kT + 100);
  const auto late = scheduler.next(kT + 150);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->intended_ns, kT + 100);  // sent 50 ns late: the record shows it
  EXPECT_EQ(late->body_index, 1);
  EXPECT_FALSE(scheduler.next(kT + 150));
  const auto last = scheduler.next(kT + 300);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body_index, 3);
  scheduler.on_finished(*late, "", kT + 400);
  EXPECT_FALSE(scheduler.exhausted());
  scheduler.on_finished(*last, "", kT + 400);
  EXPECT_TRUE(scheduler.exhausted());
}

TEST(Scheduler, DurationStopsSendingAndTheGracePeriodsEndCancelsOnce) {
  EngineConfig config;
  config.request_count = 0;
  config.benchmark_duration_s = 1;
  config.grace_period_s = 0.5;
  const Workload workload = bodies(1);
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 1);
  scheduler.begin_phase(Phase::profiling, kT);
  ASSERT_TRUE(scheduler.next(kT));
  EXPECT_EQ(scheduler.next_wake_ns(), kT + kSecond);
  EXPECT_FALSE(scheduler.on_wake(kT + kSecond));  // sending stops; in-flight requests may still finish
  EXPECT_TRUE(scheduler.exhausted());
  EXPECT_FALSE(scheduler.next(kT + kSecond));
  EXPECT_EQ(scheduler.next_wake_ns(), kT + kSecond + kSecond / 2);
  EXPECT_TRUE(scheduler.on_wake(kT + kSecond + kSecond / 2));
  EXPECT_FALSE(scheduler.on_wake(kT + 2 * kSecond));
}

TEST(Scheduler, ConcurrencyRampAllowsOneMoreAtEvenIntervals) {
  EngineConfig config;
  config.concurrency_ramp_s = 1;
  const Workload workload = bodies(1);
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 5);
  scheduler.begin_phase(Phase::profiling, kT);
  EXPECT_EQ(scheduler.concurrency_cap(kT), 1);
  EXPECT_EQ(scheduler.concurrency_cap(kT + kSecond / 4), 2);
  EXPECT_EQ(scheduler.concurrency_cap(kT + kSecond / 2), 3);
  EXPECT_EQ(scheduler.concurrency_cap(kT + kSecond - 1), 4);
  EXPECT_EQ(scheduler.concurrency_cap(kT + kSecond), 5);
  ASSERT_TRUE(scheduler.next(kT));
  EXPECT_FALSE(scheduler.next(kT));  // the ramp holds the second one back
}

TEST(Scheduler, CancellationPicksTheSameRequestsForTheSameSeed) {
  auto cancelled = [](double rate, std::uint64_t seed) {
    EngineConfig config;
    config.request_count = 200;
    config.cancellation_rate = rate;
    config.random_seed = seed;
    const Workload workload = bodies(1);
    RunShared run(config, workload, 1);
    Scheduler scheduler(run, 0, 1);
    scheduler.begin_phase(Phase::profiling, kT);
    std::vector<bool> picks;
    while (const auto ticket = scheduler.next(kT)) {
      picks.push_back(ticket->cancel);
      scheduler.on_finished(*ticket, "", kT);
    }
    return picks;
  };
  const std::vector<bool> half = cancelled(0.5, 7);
  ASSERT_EQ(half.size(), 200u);
  EXPECT_EQ(half, cancelled(0.5, 7));
  EXPECT_NE(half, cancelled(0.5, 8));
  const auto count = std::count(half.begin(), half.end(), true);
  EXPECT_GT(count, 60);
  EXPECT_LT(count, 140);
  const std::vector<bool> none = cancelled(0.0, 7);
  EXPECT_EQ(std::count(none.begin(), none.end(), true), 0);
}

TEST(Scheduler, StopSendingDropsWaitingTurns) {
  EngineConfig config;
  config.request_count = 1;
  Workload workload = bodies(2);
  workload.order = {0, 1};
  workload.session_offsets = {0, 2};
  workload.turn_delay_ns = {0, 1000};
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 1);
  scheduler.begin_phase(Phase::profiling, kT);
  const auto turn0 = scheduler.next(kT);
  scheduler.on_finished(*turn0, "", kT + 1);
  EXPECT_FALSE(scheduler.exhausted());  // turn 1 waits
  scheduler.stop_sending();
  EXPECT_TRUE(scheduler.exhausted());
  EXPECT_FALSE(scheduler.next(kT + 2000));
}

TEST(Scheduler, WarmupSessionsComeFirstAndProfilingNumbersFollowThem) {
  EngineConfig config;
  config.warmup_request_count = 2;
  config.request_count = 1;
  const Workload workload = bodies(3);
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 4);
  scheduler.begin_phase(Phase::warmup, kT);
  std::vector<RequestTicket> warmup;
  while (const auto ticket = scheduler.next(kT)) warmup.push_back(*ticket);
  ASSERT_EQ(warmup.size(), 2u);
  EXPECT_EQ(warmup[1].phase, Phase::warmup);
  for (const RequestTicket& ticket : warmup) scheduler.on_finished(ticket, "", kT + 1);
  EXPECT_TRUE(scheduler.exhausted());
  BeginProfiling{&run}();  // what the barrier runs once every loop finished its warm-up
  EXPECT_EQ(run.phase.load(), 1);
  scheduler.begin_phase(Phase::profiling, kT + 2);
  const auto profiling = scheduler.next(kT + 2);
  ASSERT_TRUE(profiling);
  EXPECT_EQ(profiling->phase, Phase::profiling);
  EXPECT_EQ(profiling->session_num, 2);
  EXPECT_EQ(profiling->request_index, 2);
  EXPECT_EQ(profiling->body_index, 2);
}

TEST(Scheduler, ShardsNumberRequestsAndSessionsApart) {
  EngineConfig config;
  config.request_count = 2;
  config.shard_index = 1;
  config.shard_count = 3;
  const Workload workload = bodies(1);
  RunShared run(config, workload, 1);
  Scheduler scheduler(run, 0, 2);
  scheduler.begin_phase(Phase::profiling, kT);
  const auto a = scheduler.next(kT);
  const auto b = scheduler.next(kT);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->request_index, 1);
  EXPECT_EQ(b->request_index, 4);
  EXPECT_EQ(b->session_num, 4);
}

}  // namespace
}  // namespace aiperf
