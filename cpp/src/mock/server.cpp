// The mock server's front: binds the port (once to claim it, then one SO_REUSEPORT listener per loop thread), runs
// the loop threads, stops and joins them, and sums their statistics.
#include "aiperf/mock/server.hpp"

#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "aiperf/common/error.hpp"
#include "aiperf/common/fd.hpp"
#include "aiperf/mock/timing_log.hpp"
#include "worker.hpp"

namespace aiperf {
namespace {

[[noreturn]] void throw_errno(const std::string& what) { throw Error(what + ": " + std::strerror(errno)); }

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  void set_port(int port) {
    if (storage.ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(static_cast<std::uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(static_cast<std::uint16_t>(port));
    }
  }
};

Address resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) throw Error("mock server: cannot resolve host '" + host + "': " + gai_strerror(rc));
  // Prefer IPv4: "localhost" should be reachable at 127.0.0.1, which clients usually try.
  const addrinfo* chosen = found;
  for (const addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      chosen = a;
      break;
    }
  }
  Address address;
  std::memcpy(&address.storage, chosen->ai_addr, chosen->ai_addrlen);
  address.length = chosen->ai_addrlen;
  freeaddrinfo(found);
  return address;
}

FileDescriptor bind_socket(const Address& address, bool reuse_port, const std::string& where) {
  FileDescriptor fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("mock server: socket()");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw_errno("mock server: SO_REUSEPORT");
  }
  // Accepted connections inherit TCP_NODELAY: a token event must not wait for the previous one's ACK.
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    throw_errno("mock server: cannot listen on " + where);
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) throw_errno("mock server: getsockname");
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
}

std::once_flag libevent_threads_once;

}  // namespace

struct MockServer::Impl {
  MockServerConfig config;
  std::unique_ptr<mock::TimingLog> timing_log;  // declared before the workers: they record into it
  std::vector<std::unique_ptr<mock::Worker>> workers;
  std::vector<std::thread> threads;
  int port = 0;
  bool started = false;
  std::mutex mutex;
  std::condition_variable finished;
  int threads_running = 0;

  void validate() const {
    if (config.threads < 1 || config.threads > 256) throw Error("mock server: threads must be between 1 and 256");
    if (config.port < 0 || config.port > 65535) throw Error("mock server: port must be between 0 and 65535");
    if (!(config.ttft_ms >= 0) || !std::isfinite(config.ttft_ms)) throw Error("mock server: ttft_ms must be >= 0");
    if (!(config.itl_ms >= 0) || !std::isfinite(config.itl_ms)) throw Error("mock server: itl_ms must be >= 0");
    if (config.output_tokens < 0) throw Error("mock server: output_tokens must be >= 0");
    if (!(config.image_latency_ms >= 0) || !std::isfinite(config.image_latency_ms)) {
      throw Error("mock server: image_latency_ms must be >= 0");
    }
    if (config.huge_response_bytes < 1) throw Error("mock server: huge_response_bytes must be >= 1");
    mock::validate_fault_rules(config.faults);
  }
};

MockServer::MockServer(MockServerConfig config) : impl_(std::make_unique<Impl>()) { impl_->config = std::move(config); }

MockServer::~MockServer() {
  stop();
  for (std::thread& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
}

int MockServer::start() {
  Impl& s = *impl_;
  if (s.started) throw Error("mock server: already started");
  s.validate();
  // Stop requests come from other threads (event_active), which libevent allows only with locking enabled.
  std::call_once(libevent_threads_once, [] { evthread_use_pthreads(); });

  Address address = resolve(s.config.host, s.config.port);
  const std::string where = s.config.host + ":" + std::to_string(s.config.port);
  {
    // Bound once without SO_REUSEPORT: fails if anyone holds the port (SO_REUSEPORT alone would silently share
    // it with another server of the same user), and picks the port when 0 was asked for.
    FileDescriptor probe = bind_socket(address, false, where);
    s.port = bound_port(probe.get());
  }
  address.set_port(s.port);
  std::vector<std::unique_ptr<mock::Worker>> workers;
  auto images = std::make_shared<mock::ImageCache>();
  if (!s.config.timing_log_path.empty()) s.timing_log = std::make_unique<mock::TimingLog>(s.config.timing_log_path);
  for (int i = 0; i < s.config.threads; ++i) {
    auto worker = std::make_unique<mock::Worker>(s.config, i, s.port, images, s.timing_log.get());
    worker->listen(bind_socket(address, true, s.config.host + ":" + std::to_string(s.port)));
    workers.push_back(std::move(worker));
  }
  s.workers = std::move(workers);
  s.started = true;
  {
    std::lock_guard lock(s.mutex);
    s.threads_running = static_cast<int>(s.workers.size());
  }
  for (auto& worker : s.workers) {
    s.threads.emplace_back([&s, w = worker.get()] {
      w->run();
      std::lock_guard lock(s.mutex);
      if (s.threads_running == 1 && s.timing_log) s.timing_log->close();  // complete before wait() returns
      if (--s.threads_running == 0) s.finished.notify_all();
    });
  }
  return s.port;
}

void MockServer::stop() {
  for (auto& worker : impl_->workers) worker->request_stop();
}

bool MockServer::wait(double timeout_s) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  auto stopped = [&] { return s.threads_running == 0; };
  if (timeout_s < 0) {
    s.finished.wait(lock, stopped);
    return true;
  }
  return s.finished.wait_for(lock, std::chrono::duration<double>(timeout_s), stopped);
}

int MockServer::port() const { return impl_->port; }

std::map<std::string, std::int64_t> MockServer::stats() const {
  std::map<std::string, std::int64_t> totals;
  for (int c = 0; c < mock::kCounterCount; ++c) {
    std::int64_t sum = 0;
    for (const auto& worker : impl_->workers) sum += worker->counters().get(c);
    totals[mock::kCounterNames[c]] = sum;
  }
  std::int64_t requests = 0;
  for (int c = mock::kHealth; c <= mock::kBadRequest; ++c) requests += totals[mock::kCounterNames[c]];
  totals["requests"] = requests;
  // fault_http_500, fault_reset_mid_stream, …: replies that got each fault.
  for (int f = 1; f < mock::kFaultKinds; ++f) {
    std::int64_t sum = 0;
    for (const auto& worker : impl_->workers) sum += worker->counters().fault_count(f);
    std::string name = "fault_" + std::string(mock::fault_name(static_cast<mock::Fault>(f)));
    std::replace(name.begin(), name.end(), '-', '_');
    totals[name] = sum;
  }
  return totals;
}

}  // namespace aiperf
