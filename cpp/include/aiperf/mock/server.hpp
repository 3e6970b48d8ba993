// The OpenAI-compatible mock server (libevent evhttp): MockServer runs it on background threads. The parts it
// serves from are beside this header (routes, requests, responses, faults, images, timing_log), free of libevent
// so GoogleTest can check them directly.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aiperf/mock/faults.hpp"

namespace aiperf {

struct MockServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;                         // 0 = pick a free port
  double ttft_ms = 20.0;                // time to first token (AIPerf's mock default)
  double itl_ms = 5.0;                  // inter-token latency (AIPerf's mock default)
  int output_tokens = 128;              // tokens per completion when the request does not ask for fewer
  int threads = 1;                      // event-loop threads, each with its own SO_REUSEPORT listener
  double image_latency_ms = 100.0;      // /v1/images/*: request arrival to the reply (or to the completed events)
  std::vector<mock::FaultRule> faults;  // which fraction of the inference requests gets which fault
  std::uint64_t seed = 0;               // chooses the faulty requests (see mock::choose_fault)
  std::int64_t huge_response_bytes = std::int64_t{1} << 30;  // size of a huge-response reply
  std::string timing_log_path;  // non-empty: log receive and send times per request there (docs/accuracy.md)
};

// Runs the server on background threads. stop() may be called from any thread; the destructor stops and joins.
class MockServer {
 public:
  explicit MockServer(MockServerConfig config);
  ~MockServer();
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  int start();  // binds, starts the loop threads, returns the bound port; throws aiperf::Error
  void stop();
  bool wait(double timeout_s);  // true once every loop thread has finished
  int port() const;
  std::map<std::string, std::int64_t> stats() const;  // requests per route, streams, disconnects, token lateness

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aiperf
