// Engine against a tiny HTTP/1.1 server on 127.0.0.1: keep-alive, SSE, HTTP errors, refused port, timeout, stop().
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "aiperf/common/clock.hpp"
#include "aiperf/common/error.hpp"
#include "aiperf/engine/engine.hpp"

namespace aiperf {
namespace {

constexpr std::string_view kChatBody = R"({"choices":[{"message":{"role":"assistant","content":"hello"}}],)"
                                       R"("usage":{"prompt_tokens":3,"completion_tokens":1}})";

// Serves each connection on its own thread; requests on a connection are answered in order (keep-alive).
class TestServer {
 public:
  TestServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error("test server cannot listen");
    }
    socklen_t length = sizeof address;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      for (int fd : client_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    stop_cv_.notify_all();
    acceptor_.join();
    for (std::thread& thread : connection_threads_) thread.join();
    for (int fd : client_fds_) ::close(fd);
    ::close(listen_fd_);
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int connections() const { return connections_.load(); }
  std::vector<std::string> request_ids() {
    std::lock_guard lock(mutex_);
    return request_ids_;
  }
  // The header block of every request as it arrived, blank line included, by X-Request-ID.
  std::map<std::string, std::string> request_heads() {
    std::lock_guard lock(mutex_);
    return request_heads_;
  }

 private:
  void accept_loop() {
    while (true) {
      pollfd poll_fd{listen_fd_, POLLIN, 0};
      ::poll(&poll_fd, 1, 20);
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (!(poll_fd.revents & POLLIN)) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      client_fds_.push_back(fd);
      connection_threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Waits up to `seconds` unless the server is stopping; true when it is.
  bool wait_for_stop(double seconds) {
    std::unique_lock lock(mutex_);
    return stop_cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stopping_; });
  }

  void serve(int fd) {
    std::string buffer;
    char read_buffer[4096];
    while (true) {
      std::size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t got = ::recv(fd, read_buffer, sizeof read_buffer, 0);
        if (got <= 0) return;
        buffer.append(read_buffer, static_cast<std::size_t>(got));
      }
      const std::string head = buffer.substr(0, header_end);
      std::size_t content_length = 0;
      if (const std::size_t at = head.find("Content-Length: "); at != std::string::npos) {
        content_length = std::stoul(head.substr(at + 16));
      }
      while (buffer.size() < header_end + 4 + content_length) {
        const ssize_t got = ::recv(fd, read_buffer, sizeof read_buffer, 0);
        if (got <= 0) return;
        buffer.append(read_buffer, static_cast<std::size_t>(got));
      }
      buffer.erase(0, header_end + 4 + content_length);
      if (const std::size_t at = head.find("X-Request-ID: "); at != std::string::npos) {
        std::lock_guard lock(mutex_);
        request_ids_.push_back(head.substr(at + 14, head.find("\r\n", at) - at - 14));
        request_heads_[request_ids_.back()] = head + "\r\n\r\n";
      }
      const std::string path = head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
      if (!respond(fd, path)) return;
    }
  }

  bool respond(int fd, const std::string& path) {
    auto plain = [&](int status, std::string_view body) {
      return send_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
    };
    auto chunk = [&](std::string_view data) {
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
      return send_all(fd, std::string(size_line) + std::string(data) + "\r\n");
    };
    if (path == "/chat") return plain(200, kChatBody);
    if (path == "/error") return plain(500, R"({"error":{"message":"boom"}})");
    if (path == "/slow") {
      if (wait_for_stop(3.0)) return false;
      return plain(200, kChatBody);
    }
    if (path == "/bad-stream") {
      return plain(200,
                   "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: not json\n\n"
                   "data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n");
    }
    // Successful but empty: what a server shedding load or a broken backend sends.
    if (path == "/role-only-stream" || path == "/role-only-no-done" || path == "/reasoning-stream") {
      std::string events = path == "/reasoning-stream"
                               ? "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n"
                               : "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n";
      if (path != "/role-only-no-done") events += "data: [DONE]\n\n";
      return send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: " +
                              std::to_string(events.size()) + "\r\n\r\n" + events);
    }
    if (path == "/empty-choices") return plain(200, R"({"choices":[],"usage":{"prompt_tokens":3}})");
    if (path == "/usage-only") return plain(200, R"({"usage":{"prompt_tokens":3,"completion_tokens":0}})");
    if (path == "/empty-content") return plain(200, R"({"choices":[{"message":{"content":""}}]})");
    if (path == "/image-empty") return plain(200, R"({"created":1,"data":[]})");
    if (path == "/image-one") return plain(200, R"({"created":1,"data":[{"b64_json":"aGk="}]})");
    if (path == "/embeddings")
      return plain(200, R"({"data":[{"embedding":[0.5],"index":0}],"usage":{"prompt_tokens":3}})");
    if (path == "/stream" || path == "/hang") {
      if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")) {
        return false;
      }
      // Events cut mid-line across chunked-encoding chunks, as a server flushing tokens would.
      if (!chunk("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi")) return false;
      if (path == "/hang") {
        wait_for_stop(10.0);
        return false;
      }
      if (!chunk("ces\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n")) return false;
      const std::string_view usage =
          "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2}}\n\n";
      if (!chunk(usage) || !chunk("data: [DONE]\n\n")) return false;
      return chunk("");
    }
    return plain(404, "{}");
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::vector<int> client_fds_;
  std::vector<std::thread> connection_threads_;
  std::vector<std::string> request_ids_;
  std::map<std::string, std::string> request_heads_;
  std::atomic<int> connections_{0};
};

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);  // nothing listens there afterwards
  return ntohs(address.sin_port);
}

EngineConfig config_for(std::string url) {
  EngineConfig config;
  config.url = std::move(url);
  config.concurrency = 2;
  config.request_count = 6;
  config.request_timeout_s = 10;
  return config;
}

std::shared_ptr<const RecordStore> run(const EngineConfig& config) {
  Engine engine(config, {R"({"model":"m"})"});
  engine.start();
  EXPECT_TRUE(engine.wait(30));
  return engine.records();
}

std::string slice(const std::string& arena, const std::vector<std::int64_t>& offsets, std::size_t i) {
  return arena.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(offsets[i + 1] - offsets[i]));
}

TEST(Engine, NonStreamingRequestsReuseConnectionsAndRecordEverything) {
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.warmup_request_count = 2;
  config.request_id_prefix = "t-";
  const auto records = run(config);
  ASSERT_EQ(records->size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(records->request_index[i], static_cast<std::int64_t>(i));
    EXPECT_EQ(records->phase[i], i < 2 ? 0 : 1);
    EXPECT_EQ(records->status[i], 200);
    EXPECT_EQ(records->error_kind[i], 0);
    EXPECT_LE(records->start_ns[i], records->ack_ns[i]);
    EXPECT_LE(records->ack_ns[i], records->end_ns[i]);
    EXPECT_EQ(slice(records->content, records->content_offsets, i), "hello");
    EXPECT_EQ(records->usage_completion_tokens[i], 1);
    EXPECT_EQ(records->response_bytes[i], static_cast<std::int64_t>(kChatBody.size()));
  }
  EXPECT_EQ(records->chunk_ns.size(), 8u);
  EXPECT_LE(server.connections(), 2);
  const auto ids = server.request_ids();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).count("t-000000000007"), 1u);
}

TEST(Engine, ConcurrencyAboveOneCurlShardStillReusesEveryConnection) {
  // 40 slots on one loop are split over two libcurl multi handles; each keeps its own connections alive.
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.concurrency = 40;
  config.request_count = 400;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 400u);
  for (std::size_t i = 0; i < records->size(); ++i) {
    EXPECT_EQ(records->error_kind[i], 0) << slice(records->error_message, records->error_message_offsets, i);
    EXPECT_EQ(slice(records->content, records->content_offsets, i), "hello");
  }
  EXPECT_LE(server.connections(), 40);
}

TEST(Engine, StreamingRecordsOneChunkPerEventAndTheDeltas) {
  TestServer server;
  EngineConfig config = config_for(server.url("/stream"));
  config.streaming = true;
  config.keep_raw = true;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(records->error_kind[i], 0) << slice(records->error_message, records->error_message_offsets, i);
    EXPECT_EQ(records->chunk_offsets[i + 1] - records->chunk_offsets[i], 4);
    EXPECT_EQ(slice(records->content, records->content_offsets, i), "Hello");
    EXPECT_EQ(records->usage_prompt_tokens[i], 2);
  }
  EXPECT_EQ(records->chunk_content_bytes[0], 3);
  EXPECT_EQ(records->chunk_content_bytes[1], 2);
  EXPECT_EQ(slice(records->raw, records->raw_offsets, 3), "[DONE]");
  EXPECT_NE(slice(records->response_headers, records->response_header_offsets, 0).find("text/event-stream"),
            std::string::npos);
}

TEST(Engine, KernelTimestampsTimeEveryEventBetweenTheRequestAndItsEnd) {
  TestServer server;
  for (const bool streaming : {true, false}) {
    EngineConfig config = config_for(server.url(streaming ? "/stream" : "/chat"));
    config.streaming = streaming;
    config.kernel_timestamps = true;
    const auto records = run(config);
    ASSERT_EQ(records->size(), 6u);
    for (std::size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(records->error_kind[i], 0) << slice(records->error_message, records->error_message_offsets, i);
      EXPECT_EQ(slice(records->content, records->content_offsets, i), streaming ? "Hello" : "hello");
      EXPECT_LE(records->start_ns[i], records->ack_ns[i]);
      for (auto c = records->chunk_offsets[i]; c < records->chunk_offsets[i + 1]; ++c) {
        const auto chunk = static_cast<std::size_t>(c);
        EXPECT_LE(records->ack_ns[i], records->chunk_ns[chunk]);
        EXPECT_LE(records->chunk_ns[chunk], records->end_ns[i]);
        if (c > records->chunk_offsets[i]) EXPECT_LE(records->chunk_ns[chunk - 1], records->chunk_ns[chunk]);
      }
    }
  }
}

TEST(Engine, StreamWithBadEventsIsAnInvalidResponseButKeepsItsChunks) {
  TestServer server;
  EngineConfig config = config_for(server.url("/bad-stream"));
  config.streaming = true;
  config.request_count = 1;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->error_kind[0], 5);
  EXPECT_EQ(records->chunk_ns.size(), 4u);
  EXPECT_EQ(slice(records->content, records->content_offsets, 0), "Hel");
  EXPECT_EQ(slice(records->error_message, records->error_message_offsets, 0), "overloaded");
}

TEST(Engine, HttpErrorStatusKeepsTheBodyInTheMessage) {
  TestServer server;
  const auto records = run(config_for(server.url("/error")));
  ASSERT_EQ(records->size(), 6u);
  EXPECT_EQ(records->status[0], 500);
  EXPECT_EQ(records->error_kind[0], 3);
  EXPECT_EQ(slice(records->error_message, records->error_message_offsets, 0),
            R"(HTTP 500: {"error":{"message":"boom"}})");
}

TEST(Engine, RefusedPortIsAConnectError) {
  const auto records = run(config_for("http://127.0.0.1:" + std::to_string(free_port()) + "/chat"));
  ASSERT_EQ(records->size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(records->error_kind[i], 1);
    EXPECT_EQ(records->status[i], 0);
    EXPECT_EQ(records->ack_ns[i], -1);
  }
}

TEST(Engine, SlowResponseIsATimeout) {
  TestServer server;
  EngineConfig config = config_for(server.url("/slow"));
  config.request_count = 2;
  config.request_timeout_s = 0.2;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ(records->error_kind[0], 2);
  EXPECT_EQ(records->error_kind[1], 2);
}

TEST(Engine, StopFromAnotherThreadCancelsInFlightRequestsAndKeepsWhatArrived) {
  TestServer server;
  EngineConfig config = config_for(server.url("/hang"));
  config.streaming = true;
  config.request_count = 100;
  Engine engine(config, {"{}"});
  engine.start();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (engine.progress().in_flight < 2 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::thread stopper([&engine] { engine.stop(); });
  EXPECT_TRUE(engine.wait(10));
  stopper.join();
  const auto records = engine.records();
  ASSERT_EQ(records->size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(records->error_kind[i], 6);
    EXPECT_TRUE(records->was_cancelled[i]);
    EXPECT_EQ(slice(records->content, records->content_offsets, i), "Hel");
  }
  EXPECT_EQ(engine.progress().phase, 2);
}

TEST(Engine, DurationEndsSendingAndGraceEndCancels) {
  TestServer server;
  EngineConfig config = config_for(server.url("/hang"));
  config.streaming = true;
  config.request_count = 0;
  config.benchmark_duration_s = 0.1;
  config.grace_period_s = 0.1;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ(records->error_kind[0], 6);
}

TEST(Engine, SeveralThreadsShareTheRequestCount) {
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.num_threads = 2;
  config.concurrency = 4;
  config.request_count = 20;
  config.request_rate = 200;  // 100 ms: a loaded machine cannot let one thread finish before the other starts
  const auto records = run(config);
  ASSERT_EQ(records->size(), 20u);
  std::set<std::int32_t> workers(records->worker_id.begin(), records->worker_id.end());
  EXPECT_EQ(workers, (std::set<std::int32_t>{0, 1}));
  for (std::size_t i = 0; i < 20; ++i) EXPECT_EQ(records->request_index[i], static_cast<std::int64_t>(i));
}

TEST(Engine, ShardNumbersRequestsAndSessionsAsIndexPlusCountTimesItsOwn) {
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.request_id_prefix = "s-";
  config.shard_index = 1;
  config.shard_count = 3;
  const auto records = run(config);
  ASSERT_EQ(records->size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(records->request_index[i], static_cast<std::int64_t>(1 + 3 * i));
    EXPECT_EQ(records->session_num[i] % 3, 1);
  }
  const auto ids = server.request_ids();
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).count("s-000000000010"), 1u);  // 1 + 3 * 5 = 0x10
}

TEST(Engine, ProfilingStartsAtTheGivenMonotonicTime) {
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.warmup_request_count = 2;
  const std::int64_t start_at_ns = monotonic_ns() + 200'000'000;
  config.profiling_start_ns = start_at_ns;
  Engine engine(config, {R"({"model":"m"})"});
  engine.start();
  ASSERT_TRUE(engine.wait(30));
  EXPECT_EQ(engine.progress().profiling_start_ns, start_at_ns);
  const auto records = engine.records();
  ASSERT_EQ(records->size(), 8u);
  for (std::size_t i = 0; i < records->size(); ++i) {
    if (records->phase[i] == 0) EXPECT_LT(records->start_ns[i], start_at_ns);
    if (records->phase[i] == 1) EXPECT_GE(records->start_ns[i], start_at_ns);
  }
}

TEST(Engine, RejectsInvalidConfigurations) {
  EngineConfig config = config_for("http://127.0.0.1:1/x");
  EXPECT_NO_THROW(Engine(config, {"{}"}));
  EXPECT_THROW(Engine(config, std::vector<std::string>{}), Error);
  EXPECT_THROW(Engine(config, {""}), Error);
  EXPECT_THROW(Engine(config, {"{}"}, {1}), Error);
  auto rejects = [](auto change) {
    EngineConfig bad = config_for("http://127.0.0.1:1/x");
    change(bad);
    EXPECT_THROW(Engine(bad, {"{}"}), Error);
  };
  rejects([](EngineConfig& c) { c.url = "localhost:8000/v1"; });
  rejects([](EngineConfig& c) { c.url = "http:///path"; });
  rejects([](EngineConfig& c) { c.concurrency = 0; });
  rejects([](EngineConfig& c) { c.request_count = -1; });
  rejects([](EngineConfig& c) { c.request_count = 0; });  // unbounded without a duration
  rejects([](EngineConfig& c) { c.num_threads = 0; });
  rejects([](EngineConfig& c) { c.shard_index = 2, c.shard_count = 2; });
  rejects([](EngineConfig& c) { c.shard_count = 0; });
  rejects([](EngineConfig& c) { c.profiling_start_ns = -1; });
  rejects([](EngineConfig& c) { c.headers = {"no colon"}; });
  rejects([](EngineConfig& c) { c.headers = {"X-A: 1\r\nX-B: 2"}; });
}

TEST(Engine, DrainHandsOutEveryRecordOnceWhileTheRunGoesOn) {
  TestServer server;
  EngineConfig config = config_for(server.url("/chat"));
  config.num_threads = 2;
  config.concurrency = 4;
  config.request_count = 400;
  // Sent at 2,000 req/s, so the run (200 ms) outlasts a pause of this thread on a loaded machine and drain() hands
  // the records out in several batches.
  config.request_rate = 2000;
  Engine engine(config, {R"({"model":"m"})"});
  EXPECT_THROW(engine.drain(), Error);  // not started
  engine.start();
  std::vector<std::int64_t> seen;
  std::size_t batches = 0;
  bool finished = false;
  while (!finished) {
    finished = engine.wait(0.001);
    const auto batch = engine.drain();
    batches += batch->size() > 0 ? 1 : 0;
    for (std::size_t i = 0; i < batch->size(); ++i) {
      if (i > 0) EXPECT_LT(batch->request_index[i - 1], batch->request_index[i]);  // sorted within a batch
      EXPECT_EQ(slice(batch->content, batch->content_offsets, i), "hello");
      EXPECT_EQ(batch->chunk_offsets[i + 1] - batch->chunk_offsets[i], 1);
      seen.push_back(batch->request_index[i]);
    }
  }
  EXPECT_EQ(engine.drain()->size(), 0u);  // everything was handed out
  EXPECT_GT(batches, 1u);
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 400u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i));
  EXPECT_THROW(engine.records(), Error);  // drain() and records() do not mix
}

std::string message(const RecordStore& records, std::size_t i) {
  return slice(records.error_message, records.error_message_offsets, i);
}

TEST(Engine, SuccessWithoutContentIsAnEmptyResponseWhenContentIsExpected) {
  TestServer server;
  struct Case {
    std::string_view path;
    bool streaming;
  };
  for (const Case& c : {Case{"/role-only-stream", true}, Case{"/empty-choices", false}, Case{"/usage-only", false},
                        Case{"/empty-content", false}}) {
    EngineConfig config = config_for(server.url(c.path));
    config.streaming = c.streaming;
    config.request_count = 2;
    config.expect_content = true;
    const auto records = run(config);
    ASSERT_EQ(records->size(), 2u);
    EXPECT_EQ(records->error_kind[0], static_cast<std::int8_t>(ErrorKind::empty_response)) << c.path;
    EXPECT_EQ(records->status[0], 200);
    EXPECT_TRUE(message(*records, 0).starts_with("No responses with actual content were received")) << c.path;
    // Unchanged without expect_content (embeddings): the same response is a success.
    config.expect_content = false;
    EXPECT_EQ(run(config)->error_kind[0], 0) << c.path;
  }
}

TEST(Engine, ReasoningAloneIsContent) {
  TestServer server;
  EngineConfig config = config_for(server.url("/reasoning-stream"));
  config.streaming = true;
  config.request_count = 1;
  config.expect_content = true;
  const auto records = run(config);
  EXPECT_EQ(records->error_kind[0], 0) << message(*records, 0);
  EXPECT_EQ(slice(records->reasoning, records->reasoning_offsets, 0), "hm");
}

TEST(Engine, AnEarlierErrorIsNotReplacedByEmptyResponse) {
  TestServer server;
  EngineConfig config = config_for(server.url("/role-only-no-done"));
  config.streaming = true;
  config.request_count = 1;
  config.expect_content = true;
  const auto records = run(config);
  EXPECT_EQ(records->error_kind[0], static_cast<std::int8_t>(ErrorKind::invalid_response));
  EXPECT_NE(message(*records, 0).find("without data: [DONE]"), std::string::npos);
  config.url = server.url("/error");
  EXPECT_EQ(run(config)->error_kind[0], static_cast<std::int8_t>(ErrorKind::http_status));
}

TEST(Engine, ImageResponseWithoutAnImageIsAnEmptyResponseWhenContentIsExpected) {
  TestServer server;
  EngineConfig config = config_for(server.url("/image-empty"));
  config.request_count = 1;
  config.expect_images = true;
  config.expect_content = true;
  auto records = run(config);
  EXPECT_EQ(records->error_kind[0], static_cast<std::int8_t>(ErrorKind::empty_response));
  EXPECT_NE(message(*records, 0).find("no image in the response"), std::string::npos);
  config.expect_content = false;  // as before: an invalid response
  EXPECT_EQ(run(config)->error_kind[0], static_cast<std::int8_t>(ErrorKind::invalid_response));
  config.url = server.url("/image-one");
  config.expect_content = true;
  records = run(config);
  EXPECT_EQ(records->error_kind[0], 0) << message(*records, 0);
  EXPECT_EQ(records->num_images[0], 1);
}

TEST(Engine, EmbeddingsCarryNoContentAndAreNotJudgedForIt) {
  TestServer server;
  EngineConfig config = config_for(server.url("/embeddings"));
  config.request_count = 1;
  const auto records = run(config);
  EXPECT_EQ(records->error_kind[0], 0);
  EXPECT_EQ(records->content_offsets[1], 0);
  EXPECT_EQ(records->usage_prompt_tokens[0], 3);
}

TEST(Engine, KeepRawRecordsTheRequestHeadersExactlyAsSent) {
  TestServer server;
  for (const bool streaming : {false, true}) {
    EngineConfig config = config_for(server.url(streaming ? "/stream" : "/chat"));
    config.streaming = streaming;
    config.keep_raw = true;
    config.request_id_prefix = streaming ? "s-" : "p-";
    config.headers = {"Authorization: Bearer k"};
    const auto records = run(config);
    ASSERT_EQ(records->size(), 6u);
    ASSERT_EQ(records->request_header_offsets.size(), 7u);
    const auto heads = server.request_heads();
    for (std::size_t i = 0; i < records->size(); ++i) {
      const std::string sent = slice(records->request_headers, records->request_header_offsets, i);
      char id[32];
      std::snprintf(id, sizeof id, "%s%012llx", config.request_id_prefix.c_str(),
                    static_cast<unsigned long long>(records->request_index[i]));
      ASSERT_EQ(heads.count(id), 1u) << id;
      EXPECT_EQ(sent, heads.at(id));  // byte for byte what arrived
      EXPECT_TRUE(sent.starts_with("POST /")) << sent;
      EXPECT_NE(sent.find("X-Request-ID: " + std::string(id) + "\r\n"), std::string::npos) << sent;
      EXPECT_NE(sent.find("Accept: */*\r\n"), std::string::npos) << sent;
      EXPECT_NE(sent.find("Content-Type: application/json\r\n"), std::string::npos) << sent;
      EXPECT_NE(sent.find("Authorization: Bearer k\r\n"), std::string::npos) << sent;
    }
  }
}

TEST(Engine, WithoutKeepRawNoRequestHeadersAreKept) {
  TestServer server;
  const auto records = run(config_for(server.url("/chat")));
  EXPECT_TRUE(records->request_header_offsets.empty());
  EXPECT_TRUE(records->request_headers.empty());
}

TEST(Engine, RecordsBeforeTheRunFinishedThrow) {
  Engine engine(config_for("http://127.0.0.1:1/x"), {"{}"});
  EXPECT_THROW(engine.records(), Error);
}

}  // namespace
}  // namespace aiperf
