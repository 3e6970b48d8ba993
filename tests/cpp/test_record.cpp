// RecordStore: columnar append with offsets, and the sorted merge of per-thread stores.
#include <gtest/gtest.h>

#include "aiperf/record.hpp"

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
}

TEST(RecordStore, KeepRawStoresEveryChunkText) {
  RecordStore store(true);
  store.append(make_record(4, {1, 2}, "x"));
  EXPECT_EQ(store.raw_offsets, (std::vector<std::int64_t>{0, 2, 4}));
  EXPECT_EQ(store.raw, "r4r4");
  EXPECT_EQ(slice(store.response_headers, store.response_header_offsets, 0), "HTTP/1.1 200 OK\r\n");
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
}

TEST(RecordStore, MergeOfNothingIsEmpty) {
  const RecordStore merged = RecordStore::merge({}, false);
  EXPECT_EQ(merged.size(), 0u);
  EXPECT_EQ(merged.chunk_offsets, (std::vector<std::int64_t>{0}));
}

}  // namespace
}  // namespace aiperf
