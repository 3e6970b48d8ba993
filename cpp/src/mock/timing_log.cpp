// The mock server's timing log: per-thread batches of fixed-size entries, grouped per request and written as JSON
// lines by one background thread (format in docs/accuracy.md).
#include "aiperf/mock/timing_log.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/encode/json_writer.hpp"
#include "aiperf/mock/faults.hpp"

namespace aiperf::mock {
namespace {
constexpr std::size_t kBatchEntries = std::size_t{1} << 16;
constexpr std::size_t kBatchTextBytes = std::size_t{1} << 20;
constexpr std::uint32_t kNoText = 0xffffffffu;
constexpr std::uint32_t kQueuedBit = 0x80000000u;
constexpr std::uint32_t kEventsMask = 0x7fffffffu;

void append_int(std::string& out, std::int64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, static_cast<std::size_t>(result.ptr - digits));
}
}  // namespace

std::string_view outcome_name(ReplyOutcome outcome) {
  switch (outcome) {
    case ReplyOutcome::complete: return "complete";
    case ReplyOutcome::client_disconnected: return "client_disconnected";
    case ReplyOutcome::reset: return "reset";
    case ReplyOutcome::server_stopped: return "server_stopped";
  }
  return "unfinished";
}

struct TimingLog::Open {
  std::string path;
  std::string x_request_id;
  bool has_id = false;
  bool stream = false;
  int fault = 0;
  std::int64_t recv_ns = 0;
  std::vector<std::int64_t> send_ns;
  std::int64_t queued = 0;  // events whose bytes were queued in libevent's buffer rather than sent at once
};

struct TimingLog::State {
  std::FILE* file = nullptr;
  std::mutex mutex;
  std::condition_variable wake;
  std::vector<std::unique_ptr<Batch>> full;   // handed over, in order per thread
  std::vector<std::unique_ptr<Batch>> spare;  // written, ready for reuse
  bool closing = false;
  bool closed = false;
  std::thread writer;
  // Writer thread only:
  std::unordered_map<std::uint64_t, Open> open;
  std::string line;

  void write_line(std::uint64_t serial, std::int64_t end_ns, std::string_view outcome) {
    auto found = open.find(serial);
    if (found == open.end()) return;
    const Open& request = found->second;
    line.clear();
    line += "{\"x_request_id\":";
    if (request.has_id) {
      append_json_string(line, request.x_request_id);
    } else {
      line += "null";
    }
    line += ",\"path\":";
    append_json_string(line, request.path);
    line += request.stream ? ",\"stream\":true" : ",\"stream\":false";
    line += ",\"recv_ns\":";
    append_int(line, request.recv_ns);
    line += ",\"send_ns\":[";
    for (std::size_t i = 0; i < request.send_ns.size(); ++i) {
      if (i) line += ',';
      append_int(line, request.send_ns[i]);
    }
    line += "],\"queued\":";
    append_int(line, request.queued);
    line += ",\"end_ns\":";
    if (end_ns >= 0) {
      append_int(line, end_ns);
    } else {
      line += "null";
    }
    line += ",\"outcome\":\"";
    line += outcome;
    line += '"';
    if (request.fault != 0) {
      line += ",\"fault\":\"";
      line += fault_name(static_cast<Fault>(request.fault));
      line += '"';
    }
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), file);
    open.erase(found);
  }

  void process(const Batch& batch) {
    for (const TimingRecorder::Entry& entry : batch.entries) {
      switch (entry.kind) {
        case TimingRecorder::Kind::received: {
          Open& request = open[entry.serial];
          request.recv_ns = entry.ns;
          if (entry.value != kNoText) {
            const char* text = batch.text.data() + entry.value;
            request.path.assign(text);
            const char* id = text + request.path.size() + 1;
            request.has_id = *id == '\x01';  // a marker byte tells "no header" from an empty header
            if (request.has_id) request.x_request_id.assign(id + 1);
          }
          break;
        }
        case TimingRecorder::Kind::described: {
          Open& request = open[entry.serial];
          request.stream = (entry.value & 1u) != 0;
          request.fault = static_cast<int>(entry.value >> 1);
          break;
        }
        case TimingRecorder::Kind::sent: {
          auto found = open.find(entry.serial);
          if (found == open.end()) break;
          const std::uint32_t events = entry.value & kEventsMask;
          found->second.send_ns.insert(found->second.send_ns.end(), events, entry.ns);
          if (entry.value & kQueuedBit) found->second.queued += events;
          break;
        }
        case TimingRecorder::Kind::ended:
          write_line(entry.serial, entry.ns, outcome_name(static_cast<ReplyOutcome>(entry.value)));
          break;
      }
    }
  }
};

TimingLog::TimingLog(const std::string& path) : state_(std::make_unique<State>()) {
  state_->file = std::fopen(path.c_str(), "w");
  if (!state_->file) throw Error("mock server: cannot write the timing log '" + path + "': " + std::strerror(errno));
  std::setvbuf(state_->file, nullptr, _IOFBF, std::size_t{1} << 20);
  // The header line: which clock, and an anchor to relate it to wall-clock times (exports of other clients).
  const ClockAnchor anchor = capture_clock_anchor();
  std::string header = "{\"aiperf_mock_timing_log\":1,\"clock\":\"CLOCK_MONOTONIC\",\"anchor_wall_ns\":";
  append_int(header, anchor.wall_ns);
  header += ",\"anchor_mono_ns\":";
  append_int(header, anchor.mono_ns);
  header += "}\n";
  std::fwrite(header.data(), 1, header.size(), state_->file);
  state_->writer = std::thread([this] { write_loop(); });
}

TimingLog::~TimingLog() { close(); }

void TimingLog::write_loop() {
  State& s = *state_;
  std::vector<std::unique_ptr<Batch>> work;
  for (;;) {
    bool closing;
    {
      std::unique_lock lock(s.mutex);
      s.wake.wait(lock, [&] { return s.closing || !s.full.empty(); });
      work.swap(s.full);
      closing = s.closing;
    }
    for (auto& batch : work) {
      s.process(*batch);
      batch->entries.clear();
      batch->text.clear();
    }
    {
      std::lock_guard lock(s.mutex);
      for (auto& batch : work) s.spare.push_back(std::move(batch));
    }
    work.clear();
    if (closing) {
      std::lock_guard lock(s.mutex);
      if (s.full.empty()) break;
    }
  }
  // Requests still open when the server stopped (a connection freed with its reply unwritten).
  std::vector<std::uint64_t> unfinished;
  unfinished.reserve(s.open.size());
  for (const auto& [serial, request] : s.open) unfinished.push_back(serial);
  for (std::uint64_t serial : unfinished) s.write_line(serial, -1, "unfinished");
  std::fflush(s.file);
}

void TimingLog::close() {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (s.closed) return;
    s.closed = true;
    s.closing = true;
  }
  s.wake.notify_one();
  if (s.writer.joinable()) s.writer.join();
  std::fclose(s.file);
  s.file = nullptr;
}

std::unique_ptr<TimingLog::Batch> TimingLog::exchange(std::unique_ptr<Batch> full) {
  State& s = *state_;
  std::unique_ptr<Batch> empty;
  {
    std::lock_guard lock(s.mutex);
    if (full && !full->entries.empty()) s.full.push_back(std::move(full));
    if (!s.spare.empty()) {
      empty = std::move(s.spare.back());
      s.spare.pop_back();
    }
  }
  s.wake.notify_one();
  if (!empty) {
    empty = std::make_unique<Batch>();
    empty->entries.reserve(kBatchEntries);
    empty->text.reserve(kBatchTextBytes);
  }
  return empty;
}

TimingRecorder::TimingRecorder(TimingLog& log, int thread_index)
    : log_(log), serial_base_(static_cast<std::uint64_t>(thread_index) << 48), batch_(log.exchange(nullptr)) {}

void TimingRecorder::append(const Entry& entry) {
  batch_->entries.push_back(entry);
  if (batch_->entries.size() >= kBatchEntries) hand_over();
}

void TimingRecorder::hand_over() { batch_ = log_.exchange(std::move(batch_)); }

std::uint64_t TimingRecorder::received(std::int64_t recv_ns, std::string_view path, std::string_view x_request_id) {
  const std::uint64_t serial = serial_base_ | ++next_serial_;
  // "path\0" then "\x01id\0" (or "\0" without an id): what the writer needs to name the request.
  if (batch_->text.size() + path.size() + x_request_id.size() + 3 > kBatchTextBytes) hand_over();
  const auto offset = static_cast<std::uint32_t>(batch_->text.size());
  batch_->text.append(path).push_back('\0');
  if (x_request_id.data() != nullptr) batch_->text.append(1, '\x01').append(x_request_id);
  batch_->text.push_back('\0');
  append({serial, recv_ns, Kind::received, offset});
  return serial;
}

void TimingRecorder::described(std::uint64_t serial, bool stream, int fault) {
  append({serial, 0, Kind::described, static_cast<std::uint32_t>(fault) << 1 | (stream ? 1u : 0u)});
}

void TimingRecorder::sent(std::uint64_t serial, std::int64_t send_ns, std::uint32_t events, bool queued) {
  if (events > 0) append({serial, send_ns, Kind::sent, (events & kEventsMask) | (queued ? kQueuedBit : 0u)});
}

void TimingRecorder::ended(std::uint64_t serial, std::int64_t end_ns, ReplyOutcome outcome) {
  append({serial, end_ns, Kind::ended, static_cast<std::uint32_t>(outcome)});
}

void TimingRecorder::flush() { hand_over(); }

}  // namespace aiperf::mock
