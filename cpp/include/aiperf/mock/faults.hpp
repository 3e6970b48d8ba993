// The mock server's faulty-server modes, free of libevent: names, which request gets which fault, and the broken
// texts the faults send (src/mock/fault_replies.cpp does the sending: resets, hangs, trickles, huge replies).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aiperf/mock/responses.hpp"
#include "aiperf/mock/routes.hpp"

namespace aiperf::mock {

// Faulty-server modes (`aiperf mock-server --fault KIND:FRACTION`, docs/reliability.md); the names are
// fault_name()'s. A fault that does not fit a request (bad-base64 on a text reply, no-done on a non-streaming one)
// leaves it a normal reply.
enum class Fault : std::uint8_t {
  none,
  http_500,               // 500 with an OpenAI error body
  http_429,               // 429 with Retry-After: 1 and an OpenAI error body
  http_400,               // 400 with an OpenAI error body
  reset_before_response,  // TCP RST before any response byte
  reset_mid_stream,       // head and half the body (streams: half the tokens), then TCP RST
  no_done,                // text streams: every event but the final data: [DONE]
  bad_json,               // non-streaming: the body cut in half; streams: one event's JSON cut short
  bad_sse,                // streams: the second half of the events without their `data:` field name
  huge_response,          // a reply of MockServerConfig::huge_response_bytes, written as the client reads it
  hang,                   // the request is read and never answered
  trickle,                // the reply one byte per 100 ms
  wrong_content_type,     // 200 with Content-Type text/html and an HTML page
  bad_base64,             // images (b64_json): every image's base64 starts with '*'
  empty_response,         // a 200 without content: a role-only stream event, "" content, "data": []
  no_usage,               // no usage object, even when stream_options.include_usage asks for one
  ignore_max_tokens,      // text: MockServerConfig::output_tokens tokens whatever max_tokens says
};
inline constexpr int kFaultKinds = static_cast<int>(Fault::ignore_max_tokens) + 1;  // none included
struct FaultRule {
  Fault fault = Fault::none;
  double fraction = 0.0;  // of the requests, 0 to 1; the rules' fractions add up to at most 1
};

std::string_view fault_name(Fault fault);      // "http-500", "reset-mid-stream", …; "none"
Fault fault_from_name(std::string_view name);  // Fault::none for an unknown name
// Throws aiperf::Error naming the problem: an unknown kind, a kind listed twice, a fraction outside 0..1, or
// fractions adding up to more than 1.
void validate_fault_rules(const std::vector<FaultRule>& rules);
// The fault of the request with this key (its X-Request-ID): a hash of seed and key, read as a number in [0, 1),
// falls into one of the rules' fractions laid end to end, or past them (Fault::none). The same key gets the same
// fault, so a request libcurl resends on a fresh connection after a reset is reset again.
Fault choose_fault(const std::vector<FaultRule>& rules, std::uint64_t seed, std::string_view request_key);
// Whether a fault changes a reply of this shape (b64_images: an image reply carrying base64 images).
bool fault_applies(Fault fault, Endpoint endpoint, bool stream, bool b64_images);

// A huge-response reply: head, then filler repeated filler_count times, then tail; about total_bytes long and
// well-formed (a client without a size limit can parse it).
struct HugeReply {
  std::string head;
  std::string_view filler;  // a static 1 MiB block
  std::int64_t filler_count = 0;
  std::string tail;
};
HugeReply huge_reply(Endpoint endpoint, bool stream, std::int64_t total_bytes);
// The page a wrong-content-type reply carries (what a misrouted proxy answers with).
std::string_view wrong_content_type_page();
// bad-base64: the first character of every "b64_json" string value becomes '*'.
void corrupt_base64(std::string& text);
// bad-sse: every `data:` line of the text loses its field name (the JSON stays, as a line of its own).
void strip_data_fields(std::string& text);
// bad-json: the first SSE event of the text ("data: {…}\n\n") loses its closing brace.
void break_first_event_json(std::string& text);
// The faults that change a text reply's content rather than how it is sent (empty-response, no-usage,
// ignore-max-tokens); others leave the header as it is.
void apply_reply_fault(ReplyHeader& header, Fault fault, std::int64_t output_tokens_cap);
// The SSE text of a chat/completions stream's token events [first, last), then its end events when `end`, broken
// as `fault` says: bad-json, the middle token's event loses its closing brace; bad-sse, the events from the middle
// token on lose their `data: `; no-done, no data: [DONE] (without tokens, bad-json and bad-sse strike the finish
// event). Returns the SSE events appended, data: [DONE] not counted. `scratch` is reused between calls.
std::uint32_t append_text_stream(std::string& out, std::string& scratch, const ReplyHeader& header,
                                 std::string_view prefix, Fault fault, std::int64_t first, std::int64_t last, bool end);

}  // namespace aiperf::mock
