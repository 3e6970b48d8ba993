// The mock server's timing log (`aiperf mock-server --timing-log PATH`, docs/accuracy.md): per request, when it was
// received and when each of its SSE events or its body was sent, on CLOCK_MONOTONIC. The loop threads only append
// fixed-size entries to preallocated per-thread batches; a background writer groups them per request and writes
// one JSON line per finished request, so recording adds no system call and no allocation to the loop.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace aiperf::mock {

// How a reply ended, as written in the log's "outcome" field.
enum class ReplyOutcome : std::uint8_t {
  complete,             // the last byte of the reply was handed to the kernel
  client_disconnected,  // the client closed the connection first
  reset,                // a reset fault: the server reset the connection
  server_stopped,       // the server stopped while the reply was pending
};
std::string_view outcome_name(ReplyOutcome outcome);

class TimingLog;

// One loop thread's side of the log. Every call is a few stores into the current batch; a full batch is handed to
// the writer thread in exchange for an empty one (one mutex acquisition per 65,536 entries).
class TimingRecorder {
 public:
  TimingRecorder(TimingLog& log, int thread_index);
  TimingRecorder(const TimingRecorder&) = delete;
  TimingRecorder& operator=(const TimingRecorder&) = delete;

  // A new request: returns its serial (unique in the server), which the other calls name. x_request_id may be empty
  // (no X-Request-ID header: logged as null).
  std::uint64_t received(std::int64_t recv_ns, std::string_view path, std::string_view x_request_id);
  // The reply's shape, once the request is parsed: a stream or not, and the fault it got (0 = none).
  void described(std::uint64_t serial, bool stream, int fault);
  // A write of this request's reply that completes `events` more events (SSE events other than data: [DONE], or 1
  // for a whole non-streaming body) started at send_ns: the clock read just before the send() call, or, when the
  // bytes were `queued` in libevent's buffer to be written on a later loop pass, the time they were queued.
  void sent(std::uint64_t serial, std::int64_t send_ns, std::uint32_t events, bool queued);
  // The reply is over: end_ns is the send time of its last bytes (or when it was given up).
  void ended(std::uint64_t serial, std::int64_t end_ns, ReplyOutcome outcome);
  // Hands the current batch to the writer (called when the loop thread stops).
  void flush();

 private:
  friend class TimingLog;
  enum class Kind : std::uint32_t { received, described, sent, ended };
  struct Entry {
    std::uint64_t serial;
    std::int64_t ns;
    Kind kind;
    std::uint32_t value;  // received: offset of the path and id in the batch's text; sent: events | queued << 31;
                          // described: stream | fault << 1; ended: outcome
  };
  struct Batch {
    std::vector<Entry> entries;
    std::string text;  // paths and request ids of the batch's `received` entries
  };
  void append(const Entry& entry);
  void hand_over();

  TimingLog& log_;
  const std::uint64_t serial_base_;
  std::uint64_t next_serial_ = 0;
  std::unique_ptr<Batch> batch_;
};

// Owns the file and the writer thread. open() fails (aiperf::Error) when the file cannot be created, before the
// server serves anything; close() writes what is left once every recorder has flushed.
class TimingLog {
 public:
  explicit TimingLog(const std::string& path);
  ~TimingLog();
  TimingLog(const TimingLog&) = delete;
  TimingLog& operator=(const TimingLog&) = delete;

  void close();  // idempotent; requests without an end are written with "outcome": "unfinished"

 private:
  friend class TimingRecorder;
  using Batch = TimingRecorder::Batch;
  std::unique_ptr<Batch> exchange(std::unique_ptr<Batch> full);  // hands a full batch over, returns an empty one
  void write_loop();

  struct Open;  // a request whose end has not been seen yet (writer thread only)
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aiperf::mock
