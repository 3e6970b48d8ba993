// The mock server's statistics (MockServer::stats()): relaxed atomic counters per loop thread, summed when asked.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>

#include "aiperf/mock/faults.hpp"

namespace aiperf::mock {

enum Counter : int {
  kHealth,
  kModels,
  kChatCompletions,
  kCompletions,
  kEmbeddings,
  kImageGenerations,
  kImageEdits,
  kMockImages,
  kNotFound,
  kMethodNotAllowed,
  kBadRequest,
  kStreamsOpen,
  kClientDisconnects,
  kTokensSent,
  kTokensLate,  // written more than kLateNs after their due time
  kImagesSent,
  kChatImageParts,
  kCounterCount
};
inline constexpr std::int64_t kLateNs = 1'000'000;
inline constexpr std::array<const char*, kCounterCount> kCounterNames = {"health",
                                                                         "models",
                                                                         "chat_completions",
                                                                         "completions",
                                                                         "embeddings",
                                                                         "image_generations",
                                                                         "image_edits",
                                                                         "mock_images",
                                                                         "not_found",
                                                                         "method_not_allowed",
                                                                         "bad_request",
                                                                         "streams_open",
                                                                         "client_disconnects",
                                                                         "stream_tokens_sent",
                                                                         "stream_tokens_late_over_1ms",
                                                                         "images_sent",
                                                                         "chat_image_parts"};

// Written by one loop thread, read by any (stats()).
struct Counters {
  std::array<std::atomic<std::int64_t>, kCounterCount> values{};
  std::array<std::atomic<std::int64_t>, kFaultKinds> faults{};  // replies that got each fault

  void add(Counter which, std::int64_t n = 1) { values[which].fetch_add(n, std::memory_order_relaxed); }
  void add_fault(Fault fault) { faults[static_cast<int>(fault)].fetch_add(1, std::memory_order_relaxed); }
  std::int64_t get(int which) const { return values[which].load(std::memory_order_relaxed); }
  std::int64_t fault_count(int which) const { return faults[which].load(std::memory_order_relaxed); }
};

}  // namespace aiperf::mock
