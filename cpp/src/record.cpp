// Columnar record storage: appends per request on a loop thread, merges per-thread stores after the run.
#include "aiperf/record.hpp"

#include <algorithm>
#include <initializer_list>
#include <numeric>

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
  if (keep_raw_) {
    raw_offsets.push_back(0);
    response_header_offsets.push_back(0);
    request_header_offsets.push_back(0);
  }
}

void RecordStore::reserve(std::size_t records, std::size_t chunks) {
  request_index.reserve(records);
  body_index.reserve(records);
  worker_id.reserve(records);
  phase.reserve(records);
  session_num.reserve(records);
  turn_index.reserve(records);
  intended_ns.reserve(records);
  start_ns.reserve(records);
  ack_ns.reserve(records);
  end_ns.reserve(records);
  status.reserve(records);
  error_kind.reserve(records);
  was_cancelled.reserve(records);
  error_message_offsets.reserve(records + 1);
  chunk_offsets.reserve(records + 1);
  content_offsets.reserve(records + 1);
  reasoning_offsets.reserve(records + 1);
  usage_prompt_tokens.reserve(records);
  usage_completion_tokens.reserve(records);
  usage_reasoning_tokens.reserve(records);
  num_images.reserve(records);
  response_bytes.reserve(records);
  chunk_ns.reserve(chunks);
  chunk_content_bytes.reserve(chunks);
  if (keep_raw_) {
    raw_offsets.reserve(chunks + 1);
    response_header_offsets.reserve(records + 1);
    request_header_offsets.reserve(records + 1);
  }
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

}  // namespace

RecordStore::Extent RecordStore::extent() const noexcept {
  return Extent{size(), chunk_count(), error_message.size() + content.size() + reasoning.size(), raw.size(),
                response_headers.size(), request_headers.size()};
}

void RecordStore::reserve_touched(const Extent& extent) {
  const std::size_t records = extent.records;
  const std::size_t chunks = extent.chunks;
  for (auto* column : {&request_index, &session_num, &intended_ns, &start_ns, &ack_ns, &end_ns, &usage_prompt_tokens,
                       &usage_completion_tokens, &usage_reasoning_tokens, &response_bytes}) {
    reserve_and_touch(*column, records);
  }
  for (auto* column : {&body_index, &worker_id, &turn_index, &status, &num_images}) reserve_and_touch(*column, records);
  for (auto* column : {&phase, &error_kind}) reserve_and_touch(*column, records);
  reserve_and_touch(was_cancelled, records);
  for (auto* column : {&error_message_offsets, &chunk_offsets, &content_offsets, &reasoning_offsets}) {
    reserve_and_touch(*column, records + 1);
  }
  reserve_and_touch(chunk_ns, chunks);
  reserve_and_touch(chunk_content_bytes, chunks);
  // Content is most of the text; error messages and reasoning are usually empty and grow on demand.
  reserve_and_touch(content, extent.text_bytes);
  if (keep_raw_) {
    reserve_and_touch(raw_offsets, chunks + 1);
    reserve_and_touch(raw, extent.raw_bytes);
    reserve_and_touch(response_header_offsets, records + 1);
    reserve_and_touch(response_headers, extent.header_bytes);
    reserve_and_touch(request_header_offsets, records + 1);
    reserve_and_touch(request_headers, extent.request_header_bytes);
  }
}

void RecordStore::append(const RequestRecord& record) {
  request_index.push_back(record.request_index);
  body_index.push_back(record.body_index);
  worker_id.push_back(record.worker_id);
  phase.push_back(static_cast<std::int8_t>(record.phase));
  session_num.push_back(record.session_num);
  turn_index.push_back(record.turn_index);
  intended_ns.push_back(record.intended_ns);
  start_ns.push_back(record.start_ns);
  ack_ns.push_back(record.ack_ns);
  end_ns.push_back(record.end_ns);
  status.push_back(record.status);
  error_kind.push_back(static_cast<std::int8_t>(record.error_kind));
  was_cancelled.push_back(record.was_cancelled ? 1 : 0);
  error_message.append(record.error_message);
  error_message_offsets.push_back(static_cast<std::int64_t>(error_message.size()));
  chunk_ns.insert(chunk_ns.end(), record.chunk_ns.begin(), record.chunk_ns.end());
  chunk_content_bytes.insert(chunk_content_bytes.end(), record.chunk_content_bytes.begin(),
                             record.chunk_content_bytes.end());
  chunk_offsets.push_back(static_cast<std::int64_t>(chunk_ns.size()));
  content.append(record.fields.content);
  content_offsets.push_back(static_cast<std::int64_t>(content.size()));
  reasoning.append(record.fields.reasoning);
  reasoning_offsets.push_back(static_cast<std::int64_t>(reasoning.size()));
  usage_prompt_tokens.push_back(record.fields.usage_prompt_tokens);
  usage_completion_tokens.push_back(record.fields.usage_completion_tokens);
  usage_reasoning_tokens.push_back(record.fields.usage_reasoning_tokens);
  num_images.push_back(record.fields.num_images);
  response_bytes.push_back(record.response_bytes);
  if (keep_raw_) {
    const auto raw_base = static_cast<std::int64_t>(raw.size());
    raw.append(record.raw);
    // A record always has raw text for each of its chunks; pad missing ends so the offsets stay aligned.
    for (std::size_t chunk = 0; chunk < record.chunk_ns.size(); ++chunk) {
      const std::int64_t end = chunk < record.raw_chunk_ends.size() ? record.raw_chunk_ends[chunk]
                                                                    : static_cast<std::int64_t>(record.raw.size());
      raw_offsets.push_back(raw_base + end);
    }
    response_headers.append(record.response_headers);
    response_header_offsets.push_back(static_cast<std::int64_t>(response_headers.size()));
    request_headers.append(record.request_headers);
    request_header_offsets.push_back(static_cast<std::int64_t>(request_headers.size()));
  }
}

void RecordStore::append_row(const RecordStore& source, std::size_t row) {
  auto slice_append = [](std::string& to, const std::string& from, const std::vector<std::int64_t>& offsets,
                         std::size_t i) {
    to.append(from, static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(offsets[i + 1] - offsets[i]));
  };
  request_index.push_back(source.request_index[row]);
  body_index.push_back(source.body_index[row]);
  worker_id.push_back(source.worker_id[row]);
  phase.push_back(source.phase[row]);
  session_num.push_back(source.session_num[row]);
  turn_index.push_back(source.turn_index[row]);
  intended_ns.push_back(source.intended_ns[row]);
  start_ns.push_back(source.start_ns[row]);
  ack_ns.push_back(source.ack_ns[row]);
  end_ns.push_back(source.end_ns[row]);
  status.push_back(source.status[row]);
  error_kind.push_back(source.error_kind[row]);
  was_cancelled.push_back(source.was_cancelled[row]);
  slice_append(error_message, source.error_message, source.error_message_offsets, row);
  error_message_offsets.push_back(static_cast<std::int64_t>(error_message.size()));
  const auto first_chunk = static_cast<std::size_t>(source.chunk_offsets[row]);
  const auto last_chunk = static_cast<std::size_t>(source.chunk_offsets[row + 1]);
  chunk_ns.insert(chunk_ns.end(), source.chunk_ns.begin() + first_chunk, source.chunk_ns.begin() + last_chunk);
  chunk_content_bytes.insert(chunk_content_bytes.end(), source.chunk_content_bytes.begin() + first_chunk,
                             source.chunk_content_bytes.begin() + last_chunk);
  chunk_offsets.push_back(static_cast<std::int64_t>(chunk_ns.size()));
  slice_append(content, source.content, source.content_offsets, row);
  content_offsets.push_back(static_cast<std::int64_t>(content.size()));
  slice_append(reasoning, source.reasoning, source.reasoning_offsets, row);
  reasoning_offsets.push_back(static_cast<std::int64_t>(reasoning.size()));
  usage_prompt_tokens.push_back(source.usage_prompt_tokens[row]);
  usage_completion_tokens.push_back(source.usage_completion_tokens[row]);
  usage_reasoning_tokens.push_back(source.usage_reasoning_tokens[row]);
  num_images.push_back(source.num_images[row]);
  response_bytes.push_back(source.response_bytes[row]);
  if (keep_raw_ && source.keep_raw_) {
    for (std::size_t chunk = first_chunk; chunk < last_chunk; ++chunk) {
      raw.append(source.raw, static_cast<std::size_t>(source.raw_offsets[chunk]),
                 static_cast<std::size_t>(source.raw_offsets[chunk + 1] - source.raw_offsets[chunk]));
      raw_offsets.push_back(static_cast<std::int64_t>(raw.size()));
    }
    slice_append(response_headers, source.response_headers, source.response_header_offsets, row);
    response_header_offsets.push_back(static_cast<std::int64_t>(response_headers.size()));
    slice_append(request_headers, source.request_headers, source.request_header_offsets, row);
    request_header_offsets.push_back(static_cast<std::int64_t>(request_headers.size()));
  } else if (keep_raw_) {
    for (std::size_t chunk = first_chunk; chunk < last_chunk; ++chunk) raw_offsets.push_back(raw_offsets.back());
    response_header_offsets.push_back(response_header_offsets.back());
    request_header_offsets.push_back(request_header_offsets.back());
  }
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
