// Columnar record storage: appends per request on a loop thread, merges per-thread stores after the run.
#include "aiperf/engine/record.hpp"

#include <algorithm>

namespace aiperf {

void RequestRecord::reset() noexcept {
  start_ns = -1;
  ack_ns = -1;
  end_ns = -1;
  status = 0;
  error_kind = ErrorKind::ok;
  was_cancelled = false;
  error_message.clear();
  chunk_ns.clear();
  chunk_content_bytes.clear();
  raw.clear();
  raw_chunk_ends.clear();
  response_headers.clear();
  request_headers.clear();
  fields.clear();
  response_bytes = 0;
}

RecordStore::RecordStore(bool keep_raw) : keep_raw_(keep_raw) {
#define AIPERF_START_RAW_OFFSETS(offsets, ...) offsets.push_back(0);
  if (keep_raw_) {
    AIPERF_RECORD_COLUMNS(AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP,
                          AIPERF_RECORD_COLUMNS_SKIP, AIPERF_START_RAW_OFFSETS, AIPERF_START_RAW_OFFSETS)
  }
#undef AIPERF_START_RAW_OFFSETS
}

void RecordStore::reserve(std::size_t records, std::size_t chunks) {
#define AIPERF_RESERVE_RECORD(name, ...) name.reserve(records);
#define AIPERF_RESERVE_OFFSETS(name, ...) name.reserve(records + 1);
#define AIPERF_RESERVE_CHUNK(name, ...) name.reserve(chunks);
#define AIPERF_RESERVE_RAW_CHUNK_OFFSETS(offsets, ...) \
  if (keep_raw_) offsets.reserve(chunks + 1);
#define AIPERF_RESERVE_RAW_OFFSETS(offsets, ...) \
  if (keep_raw_) offsets.reserve(records + 1);
  AIPERF_RECORD_COLUMNS(AIPERF_RESERVE_RECORD, AIPERF_RESERVE_OFFSETS, AIPERF_RESERVE_CHUNK, AIPERF_RESERVE_OFFSETS,
                        AIPERF_RESERVE_RAW_CHUNK_OFFSETS, AIPERF_RESERVE_RAW_OFFSETS)
#undef AIPERF_RESERVE_RECORD
#undef AIPERF_RESERVE_OFFSETS
#undef AIPERF_RESERVE_CHUNK
#undef AIPERF_RESERVE_RAW_CHUNK_OFFSETS
#undef AIPERF_RESERVE_RAW_OFFSETS
}

namespace {

// Grows `column` to at least `capacity` and writes every element of it once (resize value-initializes), so its pages
// are mapped before anyone appends; the size is back to what it was.
template <class Column>
void reserve_and_touch(Column& column, std::size_t capacity) {
  const std::size_t size = column.size();
  if (column.capacity() < capacity) column.reserve(capacity);
  column.resize(column.capacity());
  column.resize(size);
}

void append_slice(std::string& to, const std::string& from, const std::vector<std::int64_t>& offsets, std::size_t i) {
  to.append(from, static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(offsets[i + 1] - offsets[i]));
}

}  // namespace

RecordStore::Extent RecordStore::extent() const noexcept {
  Extent extent{size(), chunk_count(), {}};
#define AIPERF_TEXT_BYTES(offsets, text, ...) extent.text_bytes[text##_text] = text.size();
  AIPERF_RECORD_COLUMNS(AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP, AIPERF_RECORD_COLUMNS_SKIP,
                        AIPERF_TEXT_BYTES, AIPERF_TEXT_BYTES, AIPERF_TEXT_BYTES)
#undef AIPERF_TEXT_BYTES
  return extent;
}

void RecordStore::reserve_touched(const Extent& extent) {
  const std::size_t records = extent.records;
  const std::size_t chunks = extent.chunks;
#define AIPERF_TOUCH_RECORD(name, ...) reserve_and_touch(name, records);
#define AIPERF_TOUCH_OFFSETS(name, ...) reserve_and_touch(name, records + 1);
#define AIPERF_TOUCH_CHUNK(name, ...) reserve_and_touch(name, chunks);
#define AIPERF_TOUCH_TEXT(offsets, text, ...) \
  reserve_and_touch(offsets, records + 1);    \
  reserve_and_touch(text, extent.text_bytes[text##_text]);
#define AIPERF_TOUCH_RAW_CHUNK_TEXT(offsets, text, ...)      \
  if (keep_raw_) {                                           \
    reserve_and_touch(offsets, chunks + 1);                  \
    reserve_and_touch(text, extent.text_bytes[text##_text]); \
  }
#define AIPERF_TOUCH_RAW_TEXT(offsets, text, ...) \
  if (keep_raw_) {                                \
    AIPERF_TOUCH_TEXT(offsets, text)              \
  }
  AIPERF_RECORD_COLUMNS(AIPERF_TOUCH_RECORD, AIPERF_TOUCH_OFFSETS, AIPERF_TOUCH_CHUNK, AIPERF_TOUCH_TEXT,
                        AIPERF_TOUCH_RAW_CHUNK_TEXT, AIPERF_TOUCH_RAW_TEXT)
#undef AIPERF_TOUCH_RECORD
#undef AIPERF_TOUCH_OFFSETS
#undef AIPERF_TOUCH_CHUNK
#undef AIPERF_TOUCH_TEXT
#undef AIPERF_TOUCH_RAW_CHUNK_TEXT
#undef AIPERF_TOUCH_RAW_TEXT
}

void RecordStore::append(const RequestRecord& r) {
#define AIPERF_APPEND_RECORD(name, type, dtype, value) name.push_back(static_cast<type>(value));
#define AIPERF_APPEND_CHUNK_OFFSETS(name, count) name.push_back(name.back() + static_cast<std::int64_t>(count));
#define AIPERF_APPEND_CHUNK(name, type, dtype, values) name.insert(name.end(), values.begin(), values.end());
#define AIPERF_APPEND_TEXT(offsets, text, value) \
  text.append(value);                            \
  offsets.push_back(static_cast<std::int64_t>(text.size()));
  // A record always has raw text for each of its chunks; missing ends are padded so the offsets stay aligned.
#define AIPERF_APPEND_RAW_CHUNK_TEXT(offsets, text, value, ends)                                               \
  if (keep_raw_) {                                                                                             \
    const auto base = static_cast<std::int64_t>(text.size());                                                  \
    text.append(value);                                                                                        \
    for (std::size_t chunk = 0; chunk < r.chunk_ns.size(); ++chunk) {                                          \
      offsets.push_back(base + (chunk < ends.size() ? ends[chunk] : static_cast<std::int64_t>(value.size()))); \
    }                                                                                                          \
  }
#define AIPERF_APPEND_RAW_TEXT(offsets, text, value) \
  if (keep_raw_) {                                   \
    AIPERF_APPEND_TEXT(offsets, text, value)         \
  }
  AIPERF_RECORD_COLUMNS(AIPERF_APPEND_RECORD, AIPERF_APPEND_CHUNK_OFFSETS, AIPERF_APPEND_CHUNK, AIPERF_APPEND_TEXT,
                        AIPERF_APPEND_RAW_CHUNK_TEXT, AIPERF_APPEND_RAW_TEXT)
#undef AIPERF_APPEND_RECORD
#undef AIPERF_APPEND_CHUNK_OFFSETS
#undef AIPERF_APPEND_CHUNK
#undef AIPERF_APPEND_TEXT
#undef AIPERF_APPEND_RAW_CHUNK_TEXT
#undef AIPERF_APPEND_RAW_TEXT
}

void RecordStore::append_row(const RecordStore& source, std::size_t row) {
  const auto first_chunk = static_cast<std::size_t>(source.chunk_offsets[row]);
  const auto last_chunk = static_cast<std::size_t>(source.chunk_offsets[row + 1]);
  const bool copy_raw = keep_raw_ && source.keep_raw_;
#define AIPERF_COPY_RECORD(name, ...) name.push_back(source.name[row]);
#define AIPERF_COPY_CHUNK_OFFSETS(name, ...) \
  name.push_back(name.back() + static_cast<std::int64_t>(last_chunk - first_chunk));
#define AIPERF_COPY_CHUNK(name, ...) \
  name.insert(name.end(), source.name.begin() + first_chunk, source.name.begin() + last_chunk);
#define AIPERF_COPY_TEXT(offsets, text, ...)            \
  append_slice(text, source.text, source.offsets, row); \
  offsets.push_back(static_cast<std::int64_t>(text.size()));
  // Raw columns of a store without them are filled with empty texts.
#define AIPERF_COPY_RAW_CHUNK_TEXT(offsets, text, ...)                              \
  for (std::size_t chunk = first_chunk; keep_raw_ && chunk < last_chunk; ++chunk) { \
    if (copy_raw) append_slice(text, source.text, source.offsets, chunk);           \
    offsets.push_back(static_cast<std::int64_t>(text.size()));                      \
  }
#define AIPERF_COPY_RAW_TEXT(offsets, text, ...) \
  if (copy_raw) {                                \
    AIPERF_COPY_TEXT(offsets, text)              \
  } else if (keep_raw_) {                        \
    offsets.push_back(offsets.back());           \
  }
  AIPERF_RECORD_COLUMNS(AIPERF_COPY_RECORD, AIPERF_COPY_CHUNK_OFFSETS, AIPERF_COPY_CHUNK, AIPERF_COPY_TEXT,
                        AIPERF_COPY_RAW_CHUNK_TEXT, AIPERF_COPY_RAW_TEXT)
#undef AIPERF_COPY_RECORD
#undef AIPERF_COPY_CHUNK_OFFSETS
#undef AIPERF_COPY_CHUNK
#undef AIPERF_COPY_TEXT
#undef AIPERF_COPY_RAW_CHUNK_TEXT
#undef AIPERF_COPY_RAW_TEXT
}

RecordStore RecordStore::merge(const std::vector<const RecordStore*>& parts, bool keep_raw) {
  struct Row {
    std::int64_t request_index;
    std::uint32_t part;
    std::uint32_t row;
  };
  std::vector<Row> rows;
  std::size_t chunks = 0;
  for (std::size_t part = 0; part < parts.size(); ++part) {
    const RecordStore& store = *parts[part];
    for (std::size_t row = 0; row < store.size(); ++row) {
      rows.push_back(Row{store.request_index[row], static_cast<std::uint32_t>(part), static_cast<std::uint32_t>(row)});
    }
    chunks += store.chunk_count();
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.request_index < b.request_index; });
  RecordStore merged(keep_raw);
  merged.reserve(rows.size(), chunks);
  for (const Row& row : rows) merged.append_row(*parts[row.part], row.row);
  return merged;
}

}  // namespace aiperf
