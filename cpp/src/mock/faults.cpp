// The mock server's faulty-server modes, free of libevent: names, which request gets which fault, and the broken
// texts the faults send. fault_replies.cpp does the sending (resets, hangs, trickles).
#include <array>
#include <cmath>
#include <string>

#include "aiperf/common/error.hpp"
#include "aiperf/mock/faults.hpp"

namespace aiperf::mock {
namespace {

constexpr std::array<std::string_view, kFaultKinds> kFaultNames = {"none",
                                                                   "http-500",
                                                                   "http-429",
                                                                   "http-400",
                                                                   "reset-before-response",
                                                                   "reset-mid-stream",
                                                                   "no-done",
                                                                   "bad-json",
                                                                   "bad-sse",
                                                                   "huge-response",
                                                                   "hang",
                                                                   "trickle",
                                                                   "wrong-content-type",
                                                                   "bad-base64",
                                                                   "empty-response",
                                                                   "no-usage",
                                                                   "ignore-max-tokens"};

constexpr std::size_t kFillerBytes = std::size_t{1} << 20;

// 1 MiB of a 4-byte unit repeated; a huge reply repeats it.
std::string repeat_unit(std::string_view unit) {
  std::string out;
  out.reserve(kFillerBytes);
  while (out.size() + unit.size() <= kFillerBytes) out += unit;
  return out;
}

// 1 MiB of text-stream events, each carrying 64 KiB of content (" the" repeated).
std::string stream_filler() {
  const std::string content = [] {
    std::string text;
    for (int i = 0; i < 16384; ++i) text += " the";
    return text;
  }();
  const std::string event =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + content + "\"},\"finish_reason\":null}]}\n\n";
  std::string out;
  out.reserve(kFillerBytes);
  while (out.size() + event.size() <= kFillerBytes) out += event;
  return out;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

std::string_view fault_name(Fault fault) {
  const auto index = static_cast<std::size_t>(fault);
  return index < kFaultNames.size() ? kFaultNames[index] : "none";
}

Fault fault_from_name(std::string_view name) {
  for (std::size_t i = 1; i < kFaultNames.size(); ++i) {
    if (kFaultNames[i] == name) return static_cast<Fault>(i);
  }
  return Fault::none;
}

void validate_fault_rules(const std::vector<FaultRule>& rules) {
  std::array<bool, kFaultKinds> seen{};
  double total = 0.0;
  for (const FaultRule& rule : rules) {
    const auto index = static_cast<std::size_t>(rule.fault);
    if (rule.fault == Fault::none || index >= seen.size()) throw Error("mock server: fault: unknown kind");
    const std::string name(fault_name(rule.fault));
    if (seen[index]) throw Error("mock server: fault " + name + " is given twice");
    seen[index] = true;
    if (!(rule.fraction >= 0.0 && rule.fraction <= 1.0)) {
      throw Error("mock server: fault " + name + ": the fraction must be between 0 and 1");
    }
    total += rule.fraction;
  }
  if (total > 1.0 + 1e-9) throw Error("mock server: the fault fractions add up to more than 1");
}

Fault choose_fault(const std::vector<FaultRule>& rules, std::uint64_t seed, std::string_view request_key) {
  if (rules.empty()) return Fault::none;
  // 53 random bits as a double in [0, 1).
  const double draw = static_cast<double>(splitmix64(seed ^ fnv1a64(request_key)) >> 11) * 0x1.0p-53;
  double end = 0.0;
  for (const FaultRule& rule : rules) {
    end += rule.fraction;
    if (draw < end) return rule.fault;
  }
  return Fault::none;
}

bool fault_applies(Fault fault, Endpoint endpoint, bool stream, bool b64_images) {
  switch (fault) {
    case Fault::none: return false;
    case Fault::no_done: return stream && (endpoint == Endpoint::chat_completions || endpoint == Endpoint::completions);
    case Fault::bad_sse: return stream;
    case Fault::bad_base64: return b64_images;
    case Fault::ignore_max_tokens: return endpoint == Endpoint::chat_completions || endpoint == Endpoint::completions;
    default: return true;
  }
}

void apply_reply_fault(ReplyHeader& header, Fault fault, std::int64_t output_tokens_cap) {
  switch (fault) {
    case Fault::empty_response:
      header.completion_tokens = 0;
      header.finished_by_length = false;
      header.empty = true;
      return;
    case Fault::no_usage: header.usage = false; return;
    case Fault::ignore_max_tokens:
      header.completion_tokens = output_tokens_cap;
      header.finished_by_length = false;  // a server that ignores the limit stops on its own
      return;
    default: return;
  }
}

std::uint32_t append_text_stream(std::string& out, std::string& scratch, const ReplyHeader& header,
                                 std::string_view prefix, Fault fault, std::int64_t first, std::int64_t last,
                                 bool end) {
  const std::int64_t total = header.completion_tokens;
  const std::int64_t half = total / 2;  // where reset-mid-stream, bad-json and bad-sse strike
  std::uint32_t events = 0;
  for (std::int64_t token = first; token < last; ++token, ++events) {
    if ((fault == Fault::bad_json && token == half) || (fault == Fault::bad_sse && token >= half)) {
      scratch.clear();
      append_stream_token_event(scratch, header, prefix, token);
      fault == Fault::bad_json ? break_first_event_json(scratch) : strip_data_fields(scratch);
      out += scratch;
    } else {
      append_stream_token_event(out, header, prefix, token);
    }
  }
  if (!end) return events;
  scratch.clear();
  append_stream_end_events(scratch, header, prefix, fault != Fault::no_done);
  if (total == 0 && fault == Fault::bad_json) break_first_event_json(scratch);
  if (total == 0 && fault == Fault::bad_sse) strip_data_fields(scratch);
  out += scratch;
  // The finish_reason event, the usage event, an empty reply's role-only event.
  return events + 1 + (header.include_usage && header.usage) + header.empty;
}

HugeReply huge_reply(Endpoint endpoint, bool stream, std::int64_t total_bytes) {
  static const std::string text_filler = repeat_unit(" the");
  static const std::string base64_filler = repeat_unit("AAAA");
  static const std::string number_filler = repeat_unit("0.0,");
  static const std::string event_filler = stream_filler();
  HugeReply reply;
  const bool images = endpoint == Endpoint::image_generations || endpoint == Endpoint::image_edits;
  if (images && stream) {
    reply.head = "event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\"";
    reply.filler = base64_filler;
    reply.tail = "\"}\n\ndata: [DONE]\n\n";
  } else if (images) {
    reply.head = "{\"created\":0,\"data\":[{\"b64_json\":\"";
    reply.filler = base64_filler;
    reply.tail = "\"}]}";
  } else if (endpoint == Endpoint::embeddings) {
    reply.head = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[";
    reply.filler = number_filler;
    reply.tail = "0.0]}],\"model\":\"mock\"}";
  } else if (stream) {
    reply.filler = event_filler;
    reply.tail = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
  } else {
    reply.head = endpoint == Endpoint::completions
                     ? "{\"object\":\"text_completion\",\"model\":\"mock\",\"choices\":[{\"index\":0,\"text\":\""
                     : "{\"object\":\"chat.completion\",\"model\":\"mock\",\"choices\":[{\"index\":0,\"message\":"
                       "{\"role\":\"assistant\",\"content\":\"";
    reply.filler = text_filler;
    reply.tail = endpoint == Endpoint::completions ? "\",\"finish_reason\":\"length\"}]}"
                                                   : "\"},\"finish_reason\":\"length\"}]}";
  }
  const auto frame = static_cast<std::int64_t>(reply.head.size() + reply.tail.size());
  const auto filler_size = static_cast<std::int64_t>(reply.filler.size());
  reply.filler_count = std::max<std::int64_t>(1, (total_bytes - frame + filler_size - 1) / filler_size);
  return reply;
}

std::string_view wrong_content_type_page() {
  return "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>It works!</h1>"
         "<p>mock fault: wrong-content-type</p></body></html>\n";
}

void corrupt_base64(std::string& text) {
  static constexpr std::string_view kKey = "\"b64_json\":\"";
  for (std::size_t at = text.find(kKey); at != std::string::npos; at = text.find(kKey, at + kKey.size())) {
    const std::size_t value = at + kKey.size();
    if (value < text.size() && text[value] != '"') text[value] = '*';
  }
}

void strip_data_fields(std::string& text) {
  static constexpr std::string_view kField = "data: ";
  std::string out;
  out.reserve(text.size());
  std::size_t line = 0;
  while (line < text.size()) {
    std::size_t end = text.find('\n', line);
    end = end == std::string::npos ? text.size() : end + 1;
    std::string_view current(text.data() + line, end - line);
    if (current.starts_with(kField)) current.remove_prefix(kField.size());
    out += current;
    line = end;
  }
  text = std::move(out);
}

void break_first_event_json(std::string& text) {
  const std::size_t data = text.find("data: {");
  if (data == std::string::npos) return;
  const std::size_t end = text.find("\n\n", data);
  if (end == std::string::npos || end == 0 || text[end - 1] != '}') return;
  text.erase(end - 1, 1);
}

}  // namespace aiperf::mock
