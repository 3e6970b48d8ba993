// RequestRecord (one request's measurements while in flight) and RecordStore (columnar records of a run).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aiperf/engine/extract.hpp"
#include "aiperf/engine/record_columns.hpp"

namespace aiperf {

// What became of a request, (name, value); values never change (they are stored and exported).
#define AIPERF_ERROR_KINDS(X)                                                     \
  X(ok, 0)                                                                        \
  X(connect, 1)                                                                   \
  X(timeout, 2)                                                                   \
  X(http_status, 3) /* HTTP status >= 400 */                                      \
  X(transport, 4)   /* reset, dropped stream */                                   \
  X(invalid_response, 5)                                                          \
  X(cancelled, 6)                                                                 \
  X(response_too_large, 7) /* the body passed EngineConfig::max_response_bytes */ \
  X(empty_response, 8)     /* EngineConfig::expect_content: a 2xx with no text, reasoning or image */

#define AIPERF_PHASES(X) \
  X(warmup, 0)           \
  X(profiling, 1)

#define AIPERF_ENUMERATOR(name, value) name = value,
enum class ErrorKind : std::int8_t { AIPERF_ERROR_KINDS(AIPERF_ENUMERATOR) };
enum class Phase : std::int8_t { AIPERF_PHASES(AIPERF_ENUMERATOR) };
#undef AIPERF_ENUMERATOR

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
  std::string raw;                           // keep_raw: text of every chunk, concatenated
  std::vector<std::int64_t> raw_chunk_ends;  // keep_raw: end of each chunk's text in `raw`
  std::string response_headers;              // keep_raw: raw header block
  std::string request_headers;               // keep_raw: the request header block as libcurl sent it
  ResponseFields fields;
  std::int64_t response_bytes = 0;

  // Clears the measurements of the previous request, keeping buffer capacity.
  void reset() noexcept;
};

// Columnar records, the layout of Engine.records() in _engine.pyi; the columns are those of record_columns.hpp.
// Offsets arrays start with 0 and have one entry per record (or chunk) more than there are records (or chunks).
class RecordStore {
 public:
  explicit RecordStore(bool keep_raw = false);

  // The text columns (TEXT, RAW_CHUNK_TEXT, RAW_TEXT entries), in table order: indices into Extent::text_bytes.
  enum TextColumn : std::size_t {
#define AIPERF_TEXT_INDEX(offsets, text, ...) text##_text,
    AIPERF_RECORD_COLUMNS(AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP,
                          AIPERF_TEXT_INDEX, AIPERF_TEXT_INDEX, AIPERF_TEXT_INDEX)
#undef AIPERF_TEXT_INDEX
  };
#define AIPERF_COUNT_TEXT(...) +1
  static constexpr std::size_t text_column_count =
      0 AIPERF_RECORD_COLUMNS(AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP,
                              AIPERF_COUNT_TEXT, AIPERF_COUNT_TEXT, AIPERF_COUNT_TEXT);
#undef AIPERF_COUNT_TEXT

  // What a store holds, for sizing the next one like it.
  struct Extent {
    std::size_t records = 0;
    std::size_t chunks = 0;
    std::array<std::size_t, text_column_count> text_bytes{};  // per text column
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

#define AIPERF_DECLARE_RECORD(name, type, ...) std::vector<type> name;
#define AIPERF_DECLARE_CHUNK_OFFSETS(name, ...) std::vector<std::int64_t> name{0};
#define AIPERF_DECLARE_TEXT(offsets, text, ...) \
  std::vector<std::int64_t> offsets{0};         \
  std::string text;
#define AIPERF_DECLARE_RAW_TEXT(offsets, text, ...)                            \
  std::vector<std::int64_t> offsets; /* keep_raw: starts with 0; else empty */ \
  std::string text;
  AIPERF_RECORD_COLUMNS(AIPERF_DECLARE_RECORD, AIPERF_DECLARE_CHUNK_OFFSETS, AIPERF_DECLARE_RECORD, AIPERF_DECLARE_TEXT,
                        AIPERF_DECLARE_RAW_TEXT, AIPERF_DECLARE_RAW_TEXT)
#undef AIPERF_DECLARE_RECORD
#undef AIPERF_DECLARE_CHUNK_OFFSETS
#undef AIPERF_DECLARE_TEXT
#undef AIPERF_DECLARE_RAW_TEXT

 private:
  void append_row(const RecordStore& source, std::size_t row);

  bool keep_raw_;
};

}  // namespace aiperf
