// The record columns, defined once: RecordStore's members, append, merge and reserve, the binding's records dict
// and _engine.RECORD_SCHEMA are all expanded from this table, in this order.
#pragma once

// Every entry is one of (r is the RequestRecord being appended):
//   RECORD(name, C++ type, numpy dtype, value from r)           one value per record
//   CHUNK_OFFSETS(name, chunk count of r)                      int64[n+1]: record i owns chunks [o[i], o[i+1])
//   CHUNK(name, C++ type, numpy dtype, vector of r)            one value per chunk
//   TEXT(offsets name, text name, string of r)                 int64[n+1] offsets into the UTF-8 bytes of all records
//   RAW_CHUNK_TEXT(offsets name, text name, string of r, chunk ends of r)
//                                                              keep_raw only: int64[chunks+1] offsets, a text per chunk
//   RAW_TEXT(offsets name, text name, string of r)             keep_raw only: like TEXT (both empty without keep_raw)
// chunk_offsets is the one CHUNK_OFFSETS entry; the CHUNK entries follow it.
#define AIPERF_RECORD_COLUMNS(RECORD, CHUNK_OFFSETS, CHUNK, TEXT, RAW_CHUNK_TEXT, RAW_TEXT) \
  RECORD(request_index, std::int64_t, "int64", r.request_index)                             \
  RECORD(body_index, std::int32_t, "int32", r.body_index)                                   \
  RECORD(worker_id, std::int32_t, "int32", r.worker_id)                                     \
  RECORD(phase, std::int8_t, "int8", static_cast<std::int8_t>(r.phase))                     \
  RECORD(session_num, std::int64_t, "int64", r.session_num)                                 \
  RECORD(turn_index, std::int32_t, "int32", r.turn_index)                                   \
  RECORD(intended_ns, std::int64_t, "int64", r.intended_ns)                                 \
  RECORD(start_ns, std::int64_t, "int64", r.start_ns)                                       \
  RECORD(ack_ns, std::int64_t, "int64", r.ack_ns)                                           \
  RECORD(end_ns, std::int64_t, "int64", r.end_ns)                                           \
  RECORD(status, std::int32_t, "int32", r.status)                                           \
  RECORD(error_kind, std::int8_t, "int8", static_cast<std::int8_t>(r.error_kind))           \
  RECORD(was_cancelled, std::uint8_t, "bool", r.was_cancelled ? 1 : 0)                      \
  TEXT(error_message_offsets, error_message, r.error_message)                               \
  CHUNK_OFFSETS(chunk_offsets, r.chunk_ns.size())                                           \
  CHUNK(chunk_ns, std::int64_t, "int64", r.chunk_ns)                                        \
  CHUNK(chunk_content_bytes, std::int32_t, "int32", r.chunk_content_bytes)                  \
  TEXT(content_offsets, content, r.fields.content)                                          \
  TEXT(reasoning_offsets, reasoning, r.fields.reasoning)                                    \
  RECORD(usage_prompt_tokens, std::int64_t, "int64", r.fields.usage_prompt_tokens)          \
  RECORD(usage_completion_tokens, std::int64_t, "int64", r.fields.usage_completion_tokens)  \
  RECORD(usage_reasoning_tokens, std::int64_t, "int64", r.fields.usage_reasoning_tokens)    \
  RECORD(num_images, std::int32_t, "int32", r.fields.num_images)                            \
  RECORD(response_bytes, std::int64_t, "int64", r.response_bytes)                           \
  RAW_CHUNK_TEXT(raw_offsets, raw, r.raw, r.raw_chunk_ends)                                 \
  RAW_TEXT(response_header_offsets, response_headers, r.response_headers)                   \
  RAW_TEXT(request_header_offsets, request_headers, r.request_headers)

// Expands to nothing: for the kinds an expansion does not need.
#define AIPERF_RECORD_COLUMNS_SKIP(...)
