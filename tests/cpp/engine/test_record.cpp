// RecordStore: columnar append with offsets, and the sorted merge of per-thread stores.
#include <gtest/gtest.h>

#include "aiperf/engine/record.hpp"

namespace aiperf {
namespace {

RequestRecord make_record(std::int64_t index, std::vector<std::int64_t> chunks, std::string content) {
  RequestRecord record;
  record.request_index = index;
  record.body_index = static_cast<std::int32_t>(index % 3);
  record.start_ns = 100 * index;
  record.ack_ns = 100 * index + 10;
  record.end_ns = 100 * index + 20;
  record.status = 200;
  record.chunk_ns = std::move(chunks);
  for (std::size_t i = 0; i < record.chunk_ns.size(); ++i) {
    record.chunk_content_bytes.push_back(1);
    record.raw.append("r" + std::to_string(index));
    record.raw_chunk_ends.push_back(static_cast<std::int64_t>(record.raw.size()));
  }
  record.fields.content = std::move(content);
  record.response_headers = "HTTP/1.1 200 OK\r\n";
  record.request_headers = "POST /" + std::to_string(index) + " HTTP/1.1\r\n\r\n";
  return record;
}

std::string slice(const std::string& arena, const std::vector<std::int64_t>& offsets, std::size_t i) {
  return arena.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(offsets[i + 1] - offsets[i]));
}

TEST(RecordStore, AppendKeepsOffsetsOneLongerThanTheirRows) {
  RecordStore store;
  store.append(make_record(0, {1, 2, 3}, "abc"));
  RequestRecord failed = make_record(1, {}, "");
  failed.error_kind = ErrorKind::http_status;
  failed.error_message = "HTTP 500: x";
  store.append(failed);
  ASSERT_EQ(store.size(), 2u);
  EXPECT_EQ(store.chunk_offsets, (std::vector<std::int64_t>{0, 3, 3}));
  EXPECT_EQ(store.content_offsets, (std::vector<std::int64_t>{0, 3, 3}));
  EXPECT_EQ(store.error_message_offsets, (std::vector<std::int64_t>{0, 0, 11}));
  EXPECT_EQ(slice(store.error_message, store.error_message_offsets, 1), "HTTP 500: x");
  EXPECT_EQ(store.error_kind[1], 3);
  EXPECT_TRUE(store.raw_offsets.empty());  // keep_raw off: raw columns stay empty
  EXPECT_TRUE(store.response_header_offsets.empty());
  EXPECT_TRUE(store.request_header_offsets.empty());
}

TEST(RecordStore, KeepRawStoresEveryChunkText) {
  RecordStore store(true);
  store.append(make_record(4, {1, 2}, "x"));
  EXPECT_EQ(store.raw_offsets, (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_EQ(store.raw, "r4r4");
  EXPECT_EQ(slice(store.response_headers, store.response_header_offsets, 0), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(slice(store.request_headers, store.request_header_offsets, 0), "POST /4 HTTP/1.1\r\n\r\n");
}

TEST(RecordStore, MergeSortsByRequestIndexAndRebasesOffsets) {
  RecordStore first(true);
  RecordStore second(true);
  first.append(make_record(2, {20}, "two"));
  first.append(make_record(0, {1, 2}, "zero"));
  second.append(make_record(1, {10, 11, 12}, "one"));
  second.append(make_record(3, {}, ""));
  const RecordStore merged = RecordStore::merge({&first, &second}, true);
  ASSERT_EQ(merged.size(), 4u);
  EXPECT_EQ(merged.request_index, (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(merged.chunk_offsets, (std::vector<std::int64_t>{0, 2, 5, 6, 6}));
  EXPECT_EQ(merged.chunk_ns, (std::vector<std::int64_t>{1, 2, 10, 11, 12, 20}));
  EXPECT_EQ(slice(merged.content, merged.content_offsets, 0), "zero");
  EXPECT_EQ(slice(merged.content, merged.content_offsets, 1), "one");
  EXPECT_EQ(slice(merged.content, merged.content_offsets, 2), "two");
  EXPECT_EQ(merged.start_ns, (std::vector<std::int64_t>{0, 100, 200, 300}));
  EXPECT_EQ(merged.raw_offsets.size(), merged.chunk_ns.size() + 1);
  EXPECT_EQ(slice(merged.raw, merged.raw_offsets, 2), "r1");
  EXPECT_EQ(slice(merged.raw, merged.raw_offsets, 5), "r2");
  EXPECT_EQ(slice(merged.request_headers, merged.request_header_offsets, 1), "POST /1 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(slice(merged.request_headers, merged.request_header_offsets, 3), "POST /3 HTTP/1.1\r\n\r\n");
}

TEST(RecordStore, ReserveTouchedMakesRoomForABatchLikeTheLastWithoutReallocating) {
  RecordStore last(/*keep_raw=*/true);
  for (std::int64_t i = 0; i < 50; ++i) last.append(make_record(i, {1, 2, 3, 4}, std::string(100, 'x')));
  const RecordStore::Extent extent = last.extent();
  EXPECT_EQ(extent.records, 50u);
  EXPECT_EQ(extent.chunks, 200u);
  EXPECT_EQ(extent.text_bytes[RecordStore::content_text], 5000u);
  EXPECT_EQ(extent.text_bytes[RecordStore::error_message_text], 0u);
  EXPECT_EQ(extent.text_bytes[RecordStore::raw_text], last.raw.size());
  EXPECT_EQ(extent.text_bytes[RecordStore::response_headers_text], last.response_headers.size());
  EXPECT_EQ(extent.text_bytes[RecordStore::request_headers_text], last.request_headers.size());

  RecordStore next(/*keep_raw=*/true);
  next.reserve_touched(extent);
  // Still empty (offsets start at 0), with room for all of it.
  EXPECT_EQ(next.size(), 0u);
  EXPECT_EQ(next.chunk_offsets, std::vector<std::int64_t>{0});
  EXPECT_EQ(next.raw_offsets, std::vector<std::int64_t>{0});
  EXPECT_TRUE(next.content.empty());
  EXPECT_GE(next.content.capacity(), extent.text_bytes[RecordStore::content_text]);
  EXPECT_GE(next.raw.capacity(), extent.text_bytes[RecordStore::raw_text]);
  EXPECT_GE(next.request_headers.capacity(), extent.text_bytes[RecordStore::request_headers_text]);
  EXPECT_GE(next.chunk_ns.capacity(), extent.chunks);
  const auto* content = next.content.data();
  const auto* raw = next.raw.data();
  const auto* chunk_ns = next.chunk_ns.data();
  const auto* starts = next.start_ns.data();
  const auto* request_headers = next.request_headers.data();
  for (std::int64_t i = 0; i < 50; ++i) next.append(make_record(i, {1, 2, 3, 4}, std::string(100, 'x')));
  EXPECT_EQ(next.content.data(), content);  // no column moved
  EXPECT_EQ(next.raw.data(), raw);
  EXPECT_EQ(next.chunk_ns.data(), chunk_ns);
  EXPECT_EQ(next.start_ns.data(), starts);
  EXPECT_EQ(next.request_headers.data(), request_headers);
  EXPECT_EQ(next.content, last.content);
  EXPECT_EQ(next.raw_offsets, last.raw_offsets);
  EXPECT_EQ(next.chunk_offsets, last.chunk_offsets);
}

// Every column of the table has the length its kind says, with and without keep_raw, appended or merged.
void expect_column_lengths(const RecordStore& store) {
  const std::size_t n = store.size();
  const std::size_t chunks = store.chunk_count();
  const std::size_t raw_extra = store.keep_raw() ? 1 : 0;
#define EXPECT_RECORD(name, ...) EXPECT_EQ(store.name.size(), n) << #name;
#define EXPECT_CHUNK_OFFSETS(name, ...)         \
  EXPECT_EQ(store.name.size(), n + 1) << #name; \
  EXPECT_EQ(static_cast<std::size_t>(store.name.back()), chunks) << #name;
#define EXPECT_CHUNK(name, ...) EXPECT_EQ(store.name.size(), chunks) << #name;
#define EXPECT_TEXT(offsets, text, ...)               \
  EXPECT_EQ(store.offsets.size(), n + 1) << #offsets; \
  EXPECT_EQ(static_cast<std::size_t>(store.offsets.back()), store.text.size()) << #text;
#define EXPECT_RAW_CHUNK_TEXT(offsets, text, ...)                                 \
  EXPECT_EQ(store.offsets.size(), store.keep_raw() ? chunks + 1 : 0) << #offsets; \
  if (!store.offsets.empty()) EXPECT_EQ(static_cast<std::size_t>(store.offsets.back()), store.text.size());
#define EXPECT_RAW_TEXT(offsets, text, ...)                                          \
  EXPECT_EQ(store.offsets.size(), store.keep_raw() ? n + raw_extra : 0) << #offsets; \
  if (!store.offsets.empty()) EXPECT_EQ(static_cast<std::size_t>(store.offsets.back()), store.text.size());
  AIPERF_RECORD_COLUMNS(EXPECT_RECORD, EXPECT_CHUNK_OFFSETS, EXPECT_CHUNK, EXPECT_TEXT, EXPECT_RAW_CHUNK_TEXT,
                        EXPECT_RAW_TEXT)
#undef EXPECT_RECORD
#undef EXPECT_CHUNK_OFFSETS
#undef EXPECT_CHUNK
#undef EXPECT_TEXT
#undef EXPECT_RAW_CHUNK_TEXT
#undef EXPECT_RAW_TEXT
}

TEST(RecordStore, EveryColumnHasTheLengthItsKindSays) {
  for (const bool keep_raw : {false, true}) {
    RecordStore first(keep_raw);
    RecordStore second(!keep_raw);  // a merge also takes stores without raw columns
    RequestRecord cancelled = make_record(3, {7}, "");
    cancelled.was_cancelled = true;
    cancelled.error_kind = ErrorKind::cancelled;
    cancelled.error_message = "cancelled";
    cancelled.raw_chunk_ends.clear();  // its chunk's raw end is padded
    first.append(make_record(0, {1, 2}, "ab"));
    first.append(cancelled);
    second.append(make_record(1, {}, "c"));
    second.append(make_record(2, {5, 6, 7}, "def"));
    expect_column_lengths(first);
    expect_column_lengths(second);
    const RecordStore merged = RecordStore::merge({&first, &second}, keep_raw);
    expect_column_lengths(merged);
    EXPECT_EQ(merged.request_index, (std::vector<std::int64_t>{0, 1, 2, 3}));
    EXPECT_EQ(merged.was_cancelled, (std::vector<std::uint8_t>{0, 0, 0, 1}));
    EXPECT_EQ(merged.error_kind[3], static_cast<std::int8_t>(ErrorKind::cancelled));
    EXPECT_EQ(slice(merged.error_message, merged.error_message_offsets, 3), "cancelled");
    EXPECT_EQ(slice(merged.content, merged.content_offsets, 2), "def");
    if (keep_raw) {
      // Record 1 and 2 came from a store without raw text: their chunks have empty texts.
      EXPECT_EQ(slice(merged.raw, merged.raw_offsets, 0), "r0");
      EXPECT_EQ(slice(merged.raw, merged.raw_offsets, 2), "");
      EXPECT_EQ(slice(merged.request_headers, merged.request_header_offsets, 1), "");
      EXPECT_EQ(slice(merged.request_headers, merged.request_header_offsets, 3), "POST /3 HTTP/1.1\r\n\r\n");
    }
  }
}

TEST(RecordStore, MergeOfNothingIsEmpty) {
  const RecordStore merged = RecordStore::merge({}, false);
  EXPECT_EQ(merged.size(), 0u);
  EXPECT_EQ(merged.chunk_offsets, (std::vector<std::int64_t>{0}));
}

}  // namespace
}  // namespace aiperf
