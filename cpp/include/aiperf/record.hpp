// RequestRecord (one request's measurements while in flight) and RecordStore (columnar records of a run).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aiperf/extract.hpp"

namespace aiperf {

enum class ErrorKind : std::int8_t {
  ok = 0,
  connect = 1,
  timeout = 2,
  http_status = 3,  // HTTP status >= 400
  transport = 4,    // reset, dropped stream
  invalid_response = 5,
  cancelled = 6,
  response_too_large = 7,  // the body passed EngineConfig::max_response_bytes
  // EngineConfig::expect_content: a 2xx response that carried no content (no text, reasoning or image)
  empty_response = 8,
};

enum class Phase : std::int8_t { warmup = 0, profiling = 1 };

// One request's measurements; owned by an in-flight slot and reused, so its buffers keep their capacity.
struct RequestRecord {
  std::int64_t request_index = 0;
  std::int32_t body_index = 0;
  std::int32_t worker_id = 0;
  Phase phase = Phase::profiling;
  std::int64_t session_num = 0;   // the session (conversation) this request belongs to, numbered in start order
  std::int32_t turn_index = 0;    // the request's turn in its session
  std::int64_t intended_ns = -1;  // open loop: when the schedule meant to send it (-1: closed loop, sent when free)
  std::int64_t start_ns = -1;
  std::int64_t ack_ns = -1;
  std::int64_t end_ns = -1;
  std::int32_t status = 0;
  ErrorKind error_kind = ErrorKind::ok;
  bool was_cancelled = false;
  std::string error_message;
  std::vector<std::int64_t> chunk_ns;
  std::vector<std::int32_t> chunk_content_bytes;
  std::string raw;                          // keep_raw: text of every chunk, concatenated
  std::vector<std::int64_t> raw_chunk_ends; // keep_raw: end of each chunk's text in `raw`
  std::string response_headers;             // keep_raw: raw header block
  std::string request_headers;              // keep_raw: the request header block as libcurl sent it
  ResponseFields fields;
  std::int64_t response_bytes = 0;

  // Clears the measurements of the previous request, keeping buffer capacity.
  void reset() noexcept;
};

// Columnar records, the layout of Engine.records() in _engine.pyi. Offsets arrays start with 0 and have one entry
// per record (or chunk) more than there are records (or chunks).
class RecordStore {
 public:
  explicit RecordStore(bool keep_raw = false);

  // What a store holds, for sizing the next one like it.
  struct Extent {
    std::size_t records = 0;
    std::size_t chunks = 0;
    std::size_t text_bytes = 0;  // error messages, content and reasoning together
    std::size_t raw_bytes = 0;
    std::size_t header_bytes = 0;          // response headers
    std::size_t request_header_bytes = 0;
  };

  void reserve(std::size_t records, std::size_t chunks);
  // Room for `extent` in every column, its memory touched now: a loop thread then appends a batch that size without
  // reallocating a column (a copy of megabytes) or faulting in fresh pages while it holds the store's lock.
  void reserve_touched(const Extent& extent);
  Extent extent() const noexcept;
  void append(const RequestRecord& record);
  std::size_t size() const noexcept { return request_index.size(); }
  std::size_t chunk_count() const noexcept { return chunk_ns.size(); }
  bool keep_raw() const noexcept { return keep_raw_; }

  // Concatenates per-thread stores into one, sorted by request_index.
  static RecordStore merge(const std::vector<const RecordStore*>& parts, bool keep_raw);

  std::vector<std::int64_t> request_index;
  std::vector<std::int32_t> body_index;
  std::vector<std::int32_t> worker_id;
  std::vector<std::int8_t> phase;
  std::vector<std::int64_t> session_num;
  std::vector<std::int32_t> turn_index;
  std::vector<std::int64_t> intended_ns;
  std::vector<std::int64_t> start_ns;
  std::vector<std::int64_t> ack_ns;
  std::vector<std::int64_t> end_ns;
  std::vector<std::int32_t> status;
  std::vector<std::int8_t> error_kind;
  std::vector<std::uint8_t> was_cancelled;
  std::vector<std::int64_t> error_message_offsets{0};
  std::string error_message;
  std::vector<std::int64_t> chunk_offsets{0};
  std::vector<std::int64_t> chunk_ns;
  std::vector<std::int32_t> chunk_content_bytes;
  std::vector<std::int64_t> content_offsets{0};
  std::string content;
  std::vector<std::int64_t> reasoning_offsets{0};
  std::string reasoning;
  std::vector<std::int64_t> usage_prompt_tokens;
  std::vector<std::int64_t> usage_completion_tokens;
  std::vector<std::int64_t> usage_reasoning_tokens;
  std::vector<std::int32_t> num_images;
  std::vector<std::int64_t> response_bytes;
  std::vector<std::int64_t> raw_offsets;  // keep_raw: starts with 0, one entry per chunk more; else empty
  std::string raw;
  std::vector<std::int64_t> response_header_offsets;  // keep_raw: starts with 0; else empty
  std::string response_headers;
  std::vector<std::int64_t> request_header_offsets;  // keep_raw: starts with 0; else empty
  std::string request_headers;

 private:
  void append_row(const RecordStore& source, std::size_t row);

  bool keep_raw_;
};

}  // namespace aiperf
