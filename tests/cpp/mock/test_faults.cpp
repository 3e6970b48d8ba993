// The mock server's faults: names, the seeded choice of faulty requests, the broken texts, and a live server
// resetting, hanging and rate-limiting.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "aiperf/common/error.hpp"
#include "aiperf/engine/sse.hpp"
#include "aiperf/mock/images.hpp"
#include "aiperf/mock/server.hpp"

namespace {

using aiperf::mock::Endpoint;
using aiperf::mock::Fault;
using aiperf::mock::FaultRule;

simdjson::dom::element parse_event(simdjson::dom::parser& parser, std::string_view json) {
  return parser.parse(simdjson::padded_string(json));
}

TEST(MockFaults, NamesRoundTripAndUnknownNamesAreNone) {
  for (int f = 1; f < aiperf::mock::kFaultKinds; ++f) {
    const auto fault = static_cast<Fault>(f);
    EXPECT_EQ(aiperf::mock::fault_from_name(aiperf::mock::fault_name(fault)), fault);
  }
  EXPECT_EQ(aiperf::mock::fault_name(Fault::reset_mid_stream), "reset-mid-stream");
  EXPECT_EQ(aiperf::mock::fault_from_name("http-501"), Fault::none);
  EXPECT_EQ(aiperf::mock::fault_from_name("none"), Fault::none);
}

TEST(MockFaults, EachRuleGetsItsFractionOfTheRequestsAndTheSameKeyTheSameFault) {
  const std::vector<FaultRule> rules = {{Fault::http_500, 0.25}, {Fault::hang, 0.5}};
  int counts[aiperf::mock::kFaultKinds] = {};
  for (int i = 0; i < 8000; ++i) {
    const std::string key = "run-" + std::to_string(i);
    const Fault fault = aiperf::mock::choose_fault(rules, 7, key);
    EXPECT_EQ(aiperf::mock::choose_fault(rules, 7, key), fault);
    ++counts[static_cast<int>(fault)];
  }
  EXPECT_NEAR(counts[static_cast<int>(Fault::http_500)], 2000, 200);
  EXPECT_NEAR(counts[static_cast<int>(Fault::hang)], 4000, 200);
  EXPECT_NEAR(counts[static_cast<int>(Fault::none)], 2000, 200);
}

TEST(MockFaults, FractionsZeroAndOneAndTheSeedDecide) {
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string key = std::to_string(i);
    EXPECT_EQ(aiperf::mock::choose_fault({{Fault::trickle, 0.0}}, 1, key), Fault::none);
    EXPECT_EQ(aiperf::mock::choose_fault({{Fault::trickle, 1.0}}, 1, key), Fault::trickle);
    differ += aiperf::mock::choose_fault({{Fault::trickle, 0.5}}, 1, key) !=
              aiperf::mock::choose_fault({{Fault::trickle, 0.5}}, 2, key);
  }
  EXPECT_GT(differ, 20);
  EXPECT_EQ(aiperf::mock::choose_fault({}, 1, "x"), Fault::none);
}

TEST(MockFaults, InvalidRulesAreErrorsNamingTheProblem) {
  auto message = [](const std::vector<FaultRule>& rules) {
    try {
      aiperf::mock::validate_fault_rules(rules);
    } catch (const aiperf::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message({{Fault::http_500, 0.5}, {Fault::hang, 0.5}}), "");
  EXPECT_NE(message({{Fault::http_500, 1.5}}).find("http-500: the fraction must be between 0 and 1"),
            std::string::npos);
  EXPECT_NE(message({{Fault::http_500, -0.1}}).find("between 0 and 1"), std::string::npos);
  EXPECT_NE(message({{Fault::http_500, 0.1}, {Fault::http_500, 0.1}}).find("http-500 is given twice"),
            std::string::npos);
  EXPECT_NE(message({{Fault::http_500, 0.6}, {Fault::hang, 0.6}}).find("add up to more than 1"), std::string::npos);
}

TEST(MockFaults, StreamOnlyAndImageOnlyFaultsApplyOnlyThere) {
  using aiperf::mock::fault_applies;
  EXPECT_TRUE(fault_applies(Fault::no_done, Endpoint::chat_completions, true, false));
  EXPECT_FALSE(fault_applies(Fault::no_done, Endpoint::chat_completions, false, false));
  EXPECT_FALSE(fault_applies(Fault::no_done, Endpoint::image_generations, true, true));
  EXPECT_TRUE(fault_applies(Fault::bad_sse, Endpoint::image_edits, true, true));
  EXPECT_FALSE(fault_applies(Fault::bad_sse, Endpoint::embeddings, false, false));
  EXPECT_TRUE(fault_applies(Fault::bad_base64, Endpoint::image_generations, false, true));
  EXPECT_FALSE(fault_applies(Fault::bad_base64, Endpoint::image_generations, false, false));  // url replies
  EXPECT_FALSE(fault_applies(Fault::bad_base64, Endpoint::chat_completions, false, false));
  EXPECT_TRUE(fault_applies(Fault::hang, Endpoint::embeddings, false, false));
  EXPECT_FALSE(fault_applies(Fault::none, Endpoint::embeddings, false, false));
}

std::string assemble(const aiperf::mock::HugeReply& reply) {
  std::string out = reply.head;
  for (std::int64_t i = 0; i < reply.filler_count; ++i) out += reply.filler;
  return out + reply.tail;
}

TEST(MockFaults, HugeRepliesHaveTheAskedSizeAndStayWellFormed) {
  constexpr std::int64_t kTotal = 3 << 20;
  simdjson::dom::parser parser;
  for (Endpoint endpoint :
       {Endpoint::chat_completions, Endpoint::completions, Endpoint::embeddings, Endpoint::image_generations}) {
    const std::string body = assemble(aiperf::mock::huge_reply(endpoint, false, kTotal));
    EXPECT_GE(static_cast<std::int64_t>(body.size()), kTotal);
    EXPECT_LT(static_cast<std::int64_t>(body.size()), kTotal + (1 << 20));
    simdjson::dom::element document;
    EXPECT_EQ(parser.parse(simdjson::padded_string(body)).get(document), simdjson::SUCCESS)
        << aiperf::mock::fault_name(Fault::huge_response) << " body of endpoint " << static_cast<int>(endpoint);
  }
  for (Endpoint endpoint : {Endpoint::chat_completions, Endpoint::image_generations}) {
    const std::string stream = assemble(aiperf::mock::huge_reply(endpoint, true, kTotal));
    EXPECT_GE(static_cast<std::int64_t>(stream.size()), kTotal);
    aiperf::SseParser sse;
    int events = 0;
    bool done = false;
    sse.feed(stream, [&](std::string_view data) {
      ++events;
      if (aiperf::is_done(data)) {
        done = true;
        return;
      }
      simdjson::dom::element event;
      EXPECT_EQ(parser.parse(simdjson::padded_string(data)).get(event), simdjson::SUCCESS);
    });
    EXPECT_TRUE(done);
    EXPECT_EQ(sse.invalid_lines(), 0u);
    EXPECT_GE(events, 2);
  }
}

TEST(MockFaults, BrokenTextsBreakExactlyWhatTheyName) {
  std::string images = R"({"data":[{"b64_json":"iVBO"},{"b64_json":"AAAA"},{"url":"x"}]})";
  aiperf::mock::corrupt_base64(images);
  EXPECT_EQ(images, R"({"data":[{"b64_json":"*VBO"},{"b64_json":"*AAA"},{"url":"x"}]})");

  std::string events = "event: x\ndata: {\"a\":1}\n\ndata: [DONE]\n\n";
  aiperf::mock::strip_data_fields(events);
  EXPECT_EQ(events, "event: x\n{\"a\":1}\n\n[DONE]\n\n");

  std::string stream = "data: {\"a\":{\"b\":1}}\n\ndata: {\"c\":2}\n\n";
  aiperf::mock::break_first_event_json(stream);
  EXPECT_EQ(stream, "data: {\"a\":{\"b\":1}\n\ndata: {\"c\":2}\n\n");
}

// The data of each SSE event of a text ("data: …\n\n" blocks), [DONE] included.
std::vector<std::string> event_data(const std::string& text) {
  std::vector<std::string> events;
  aiperf::SseParser sse;
  sse.feed(text, [&](std::string_view data) { events.emplace_back(data); });
  EXPECT_EQ(sse.invalid_lines(), 0u);
  return events;
}

aiperf::mock::ReplyHeader faulty_header(Endpoint endpoint, Fault fault, bool include_usage, std::int64_t max_tokens) {
  aiperf::mock::TextRequest request;
  request.include_usage = include_usage;
  request.max_tokens = max_tokens;
  request.prompt_chars = 8;
  auto header = aiperf::mock::make_reply_header(endpoint, request, 8, 1, 1);
  aiperf::mock::apply_reply_fault(header, fault, 8);
  return header;
}

TEST(MockFaults, EmptyResponseStreamsOnlyARoleEventThenTheUsualEnd) {
  simdjson::dom::parser parser;
  for (bool include_usage : {false, true}) {
    const auto header = faulty_header(Endpoint::chat_completions, Fault::empty_response, include_usage, -1);
    EXPECT_EQ(header.completion_tokens, 0);
    const std::string prefix = aiperf::mock::stream_event_prefix(header);
    std::string text;
    aiperf::mock::append_stream_end_events(text, header, prefix);
    const auto events = event_data(text);
    ASSERT_EQ(events.size(), include_usage ? 4u : 3u);
    simdjson::dom::element first = parse_event(parser, events[0]);
    EXPECT_EQ(simdjson::dom::object(first["choices"].at(0)["delta"]).size(), 1u);
    EXPECT_EQ(std::string_view(first["choices"].at(0)["delta"]["role"]), "assistant");
    EXPECT_TRUE(first["choices"].at(0)["finish_reason"].is_null());
    simdjson::dom::element finish = parse_event(parser, events[1]);
    EXPECT_EQ(simdjson::dom::object(finish["choices"].at(0)["delta"]).size(), 0u);
    EXPECT_EQ(std::string_view(finish["choices"].at(0)["finish_reason"]), "stop");
    if (include_usage) EXPECT_EQ(int64_t(parse_event(parser, events[2])["usage"]["completion_tokens"]), 0);
    EXPECT_EQ(events.back(), "[DONE]");
  }
  const auto completions = faulty_header(Endpoint::completions, Fault::empty_response, false, -1);
  std::string text;
  aiperf::mock::append_stream_end_events(text, completions, aiperf::mock::stream_event_prefix(completions));
  const auto events = event_data(text);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(std::string_view(parse_event(parser, events[0])["choices"].at(0)["text"]), "");
}

TEST(MockFaults, EmptyResponseBodiesCarryNoContent) {
  simdjson::dom::parser parser;
  auto chat = parse_event(parser, aiperf::mock::completion_body(
                                      faulty_header(Endpoint::chat_completions, Fault::empty_response, false, 4)));
  EXPECT_EQ(std::string_view(chat["choices"].at(0)["message"]["content"]), "");
  EXPECT_EQ(std::string_view(chat["choices"].at(0)["finish_reason"]), "stop");
  EXPECT_EQ(int64_t(chat["usage"]["completion_tokens"]), 0);
  auto completion = parse_event(
      parser, aiperf::mock::completion_body(faulty_header(Endpoint::completions, Fault::empty_response, false, -1)));
  EXPECT_EQ(std::string_view(completion["choices"].at(0)["text"]), "");
  // What the server does for images and embeddings: no items at all (the router sets n = 0, inputs = 0).
  aiperf::mock::ImageCache cache;
  aiperf::mock::ImageRequest images;
  images.prompt = "x";
  images.n = 0;
  images.width = images.height = 8;
  auto body = parse_event(parser, aiperf::mock::images_body(images, *cache.get(8, 8), "http://h:1", 0));
  EXPECT_EQ(simdjson::dom::array(body["data"]).size(), 0u);
  const auto rounds = aiperf::mock::image_stream_events(Endpoint::image_generations, images, *cache.get(8, 8), 0);
  EXPECT_EQ(rounds.back(), "data: [DONE]\n\n");
}

TEST(MockFaults, NoUsageLeavesUsageOutEvenWhenTheStreamAsksForIt) {
  for (Endpoint endpoint : {Endpoint::chat_completions, Endpoint::completions}) {
    const auto header = faulty_header(endpoint, Fault::no_usage, true, -1);
    const std::string prefix = aiperf::mock::stream_event_prefix(header);
    std::string text;
    for (std::int64_t i = 0; i < header.completion_tokens; ++i) {
      aiperf::mock::append_stream_token_event(text, header, prefix, i);
    }
    aiperf::mock::append_stream_end_events(text, header, prefix);
    EXPECT_EQ(event_data(text).size(), 8u + 2u);  // the tokens, the finish event, [DONE]
    EXPECT_EQ(text.find("usage"), std::string::npos);
    const std::string body = aiperf::mock::completion_body(header);
    EXPECT_EQ(body.find("usage"), std::string::npos);
    simdjson::dom::parser parser;
    EXPECT_EQ(std::string_view(parse_event(parser, body)["choices"].at(0)["finish_reason"]), "stop");
  }
  aiperf::mock::EmbeddingsRequest embeddings;
  embeddings.inputs = 1;
  EXPECT_EQ(aiperf::mock::embeddings_body(embeddings, false).find("usage"), std::string::npos);
  EXPECT_NE(aiperf::mock::embeddings_body(embeddings).find("usage"), std::string::npos);
  aiperf::mock::ImageCache cache;
  aiperf::mock::ImageRequest images;
  images.prompt = "x";
  images.width = images.height = 8;
  const auto image = cache.get(8, 8);
  simdjson::dom::parser parser;
  const std::string body = aiperf::mock::images_body(images, *image, "http://h:1", 0, false);
  EXPECT_EQ(body.find("usage"), std::string::npos);
  EXPECT_EQ(simdjson::dom::array(parse_event(parser, body)["data"]).size(), 1u);
  for (const std::string& round :
       aiperf::mock::image_stream_events(Endpoint::image_generations, images, *image, 0, false)) {
    EXPECT_EQ(round.find("usage"), std::string::npos);
    for (const std::string& data : event_data(round)) {
      if (data != "[DONE]") EXPECT_TRUE(parse_event(parser, data)["b64_json"].is_string());
    }
  }
}

TEST(MockFaults, IgnoreMaxTokensSendsTheConfiguredCountWhateverTheRequestAsks) {
  for (std::int64_t asked : {std::int64_t{-1}, std::int64_t{0}, std::int64_t{2}, std::int64_t{100}}) {
    const auto header = faulty_header(Endpoint::chat_completions, Fault::ignore_max_tokens, false, asked);
    EXPECT_EQ(header.completion_tokens, 8) << asked;
    EXPECT_FALSE(header.finished_by_length);
  }
  simdjson::dom::parser parser;
  auto body = parse_event(
      parser, aiperf::mock::completion_body(faulty_header(Endpoint::completions, Fault::ignore_max_tokens, false, 2)));
  EXPECT_EQ(std::string_view(body["choices"].at(0)["text"]), " the of and to in a is that");
  EXPECT_EQ(int64_t(body["usage"]["completion_tokens"]), 8);
  EXPECT_EQ(std::string_view(body["choices"].at(0)["finish_reason"]), "stop");
  // The other faults leave the header alone.
  const auto plain = faulty_header(Endpoint::chat_completions, Fault::hang, true, 2);
  EXPECT_EQ(plain.completion_tokens, 2);
  EXPECT_TRUE(plain.usage && plain.include_usage && !plain.empty);
}

TEST(MockFaults, ContentFaultsApplyWhereTheyCanChangeTheReply) {
  using aiperf::mock::fault_applies;
  for (Endpoint endpoint : {Endpoint::chat_completions, Endpoint::completions, Endpoint::embeddings,
                            Endpoint::image_generations, Endpoint::image_edits}) {
    EXPECT_TRUE(fault_applies(Fault::empty_response, endpoint, false, false));
    EXPECT_TRUE(fault_applies(Fault::no_usage, endpoint, true, true));
  }
  EXPECT_TRUE(fault_applies(Fault::ignore_max_tokens, Endpoint::chat_completions, true, false));
  EXPECT_TRUE(fault_applies(Fault::ignore_max_tokens, Endpoint::completions, false, false));
  EXPECT_FALSE(fault_applies(Fault::ignore_max_tokens, Endpoint::embeddings, false, false));
  EXPECT_FALSE(fault_applies(Fault::ignore_max_tokens, Endpoint::image_generations, false, true));
  EXPECT_EQ(aiperf::mock::fault_name(Fault::empty_response), "empty-response");
  EXPECT_EQ(aiperf::mock::fault_name(Fault::no_usage), "no-usage");
  EXPECT_EQ(aiperf::mock::fault_name(Fault::ignore_max_tokens), "ignore-max-tokens");
}

// A stream's SSE events, valid and invalid JSON counted, and the lines not in SSE form.
struct StreamCheck {
  int json_events = 0;
  int broken_json_events = 0;
  bool done = false;
  std::size_t invalid_lines = 0;
};

StreamCheck check_stream(const std::string& text) {
  StreamCheck check;
  simdjson::dom::parser parser;
  aiperf::SseParser sse;
  sse.feed(text, [&](std::string_view data) {
    if (aiperf::is_done(data)) {
      check.done = true;
      return;
    }
    simdjson::dom::element event;
    ++(parser.parse(simdjson::padded_string(data)).get(event) == simdjson::SUCCESS ? check.json_events
                                                                                   : check.broken_json_events);
  });
  check.invalid_lines = sse.invalid_lines();
  return check;
}

TEST(MockFaults, TextStreamsAreTheSameWrittenAtOnceOrTokenByToken) {
  for (Fault fault : {Fault::none, Fault::no_done, Fault::bad_json, Fault::bad_sse, Fault::empty_response,
                      Fault::no_usage, Fault::ignore_max_tokens}) {
    const auto header = faulty_header(Endpoint::chat_completions, fault, true, 6);
    const std::string prefix = aiperf::mock::stream_event_prefix(header);
    const std::int64_t total = header.completion_tokens;
    std::string scratch, at_once, piecewise;
    const auto events = aiperf::mock::append_text_stream(at_once, scratch, header, prefix, fault, 0, total, true);
    std::uint32_t piece_events = 0;
    for (std::int64_t token = 0; token < total; ++token) {
      piece_events +=
          aiperf::mock::append_text_stream(piecewise, scratch, header, prefix, fault, token, token + 1, false);
    }
    piece_events += aiperf::mock::append_text_stream(piecewise, scratch, header, prefix, fault, total, total, true);
    EXPECT_EQ(piecewise, at_once) << aiperf::mock::fault_name(fault);
    EXPECT_EQ(piece_events, events);
    const StreamCheck check = check_stream(at_once);
    // What a --timing-log line counts: every SSE event but [DONE], broken or not.
    EXPECT_EQ(static_cast<std::uint32_t>(check.json_events + check.broken_json_events) +
                  (fault == Fault::bad_sse ? static_cast<std::uint32_t>(check.invalid_lines) : 0u),
              events)
        << aiperf::mock::fault_name(fault);
    EXPECT_EQ(check.done, fault != Fault::no_done);
  }
}

TEST(MockFaults, TextStreamFaultsBreakWhatTheyName) {
  auto stream = [](Fault fault, std::int64_t max_tokens) {
    const auto header = faulty_header(Endpoint::completions, fault, false, max_tokens);
    std::string scratch, out;
    aiperf::mock::append_text_stream(out, scratch, header, aiperf::mock::stream_event_prefix(header), fault, 0,
                                     header.completion_tokens, true);
    return check_stream(out);
  };
  const StreamCheck plain = stream(Fault::none, 6);
  EXPECT_EQ(plain.json_events, 7);  // six tokens and the finish event
  EXPECT_EQ(plain.broken_json_events, 0);
  EXPECT_EQ(plain.invalid_lines, 0u);
  const StreamCheck bad_json = stream(Fault::bad_json, 6);
  EXPECT_EQ(bad_json.broken_json_events, 1);
  EXPECT_EQ(bad_json.json_events, 6);
  const StreamCheck bad_sse = stream(Fault::bad_sse, 6);
  EXPECT_EQ(bad_sse.invalid_lines, 3u);  // tokens 3, 4 and 5 without `data: `
  EXPECT_EQ(bad_sse.json_events, 4);
  EXPECT_EQ(stream(Fault::bad_json, 0).broken_json_events, 1);  // no tokens: the finish event breaks
  EXPECT_EQ(stream(Fault::bad_sse, 0).invalid_lines, 2u);       // the finish event and [DONE]
  EXPECT_FALSE(stream(Fault::no_done, 6).done);
}

struct Reply {
  CURLcode result = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
};

size_t collect(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

Reply post(int port, const std::string& request_id, const std::string& body, long timeout_ms = 5000,
           const std::string& path = "/v1/chat/completions") {
  Reply reply;
  CURL* curl = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_slist* headers = curl_slist_append(nullptr, ("X-Request-ID: " + request_id).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  reply.result = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return reply;
}

aiperf::MockServerConfig faulty(Fault fault) {
  aiperf::MockServerConfig config;
  config.ttft_ms = 0;
  config.itl_ms = 0;
  config.output_tokens = 8;
  config.faults = {{fault, 1.0}};
  return config;
}

constexpr const char* kChat = R"({"messages":[{"role":"user","content":"hi"}]})";
constexpr const char* kStream = R"({"stream":true,"messages":[{"role":"user","content":"hi"}]})";

TEST(MockFaultServer, RateLimitCarriesRetryAfterAndAnOpenAIErrorBody) {
  aiperf::MockServer server(faulty(Fault::http_429));
  const int port = server.start();
  const Reply reply = post(port, "a", kChat);
  EXPECT_EQ(reply.status, 429);
  EXPECT_NE(reply.headers.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(reply.body.find(R"("error":{"message":"mock fault http-429)"), std::string::npos);
  EXPECT_EQ(server.stats()["fault_http_429"], 1);
}

TEST(MockFaultServer, ResetBeforeResponseSendsNoByteAndTheServerGoesOn) {
  aiperf::MockServer server(faulty(Fault::reset_before_response));
  const int port = server.start();
  for (int i = 0; i < 3; ++i) {
    const Reply reply = post(port, "r" + std::to_string(i), kChat);
    EXPECT_TRUE(reply.result == CURLE_RECV_ERROR || reply.result == CURLE_GOT_NOTHING) << reply.result;
    EXPECT_EQ(reply.status, 0);
  }
  EXPECT_EQ(server.stats()["client_disconnects"], 0);  // resets are ours, not the client's
}

TEST(MockFaultServer, ResetMidStreamDeliversHalfTheTokensFirst) {
  aiperf::MockServer server(faulty(Fault::reset_mid_stream));
  const int port = server.start();
  const Reply reply = post(port, "m", kStream);
  EXPECT_NE(reply.result, CURLE_OK);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body.find("[DONE]"), std::string::npos);
}

TEST(MockFaultServer, NoDoneSendsEveryTokenAndTheFinishButNotTheMarker) {
  aiperf::MockServer server(faulty(Fault::no_done));
  const int port = server.start();
  const Reply reply = post(port, "n", kStream);
  EXPECT_EQ(reply.result, CURLE_OK);
  EXPECT_NE(reply.body.find("\"finish_reason\":\"stop\""), std::string::npos);
  EXPECT_EQ(reply.body.find("[DONE]"), std::string::npos);
}

TEST(MockFaultServer, HangNeverAnswersAndStopStillFreesTheRequest) {
  aiperf::MockServer server(faulty(Fault::hang));
  const int port = server.start();
  const Reply reply = post(port, "h", kChat, 300);
  EXPECT_EQ(reply.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_TRUE(reply.body.empty());
  // A request still hanging when the server stops: the stop closes its connection instead of waiting for it.
  Reply open;
  std::thread client([&] { open = post(port, "h2", kChat, 60'000); });
  while (server.stats()["fault_hang"] < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.stop();
  EXPECT_TRUE(server.wait(5.0));
  client.join();
  EXPECT_NE(open.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(open.status, 0);
}

TEST(MockFaultServer, TrickleSendsTheReplyAByteAtATime) {
  aiperf::MockServer server(faulty(Fault::trickle));
  const int port = server.start();
  const Reply reply = post(port, "t", kChat, 350);
  EXPECT_EQ(reply.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(reply.status, 200);
  EXPECT_LE(reply.body.size(), 5u);  // one byte per 100 ms
}

TEST(MockFaultServer, HugeResponseIsWrittenAsTheClientReads) {
  aiperf::MockServerConfig config = faulty(Fault::huge_response);
  config.huge_response_bytes = 8 << 20;
  aiperf::MockServer server(config);
  const int port = server.start();
  const Reply reply = post(port, "g", kChat, 20'000);
  EXPECT_EQ(reply.result, CURLE_OK);
  EXPECT_GE(reply.body.size(), std::size_t{8} << 20);
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  EXPECT_EQ(parser.parse(simdjson::padded_string(reply.body)).get(document), simdjson::SUCCESS);
}

TEST(MockFaultServer, EmptyResponseStreamsTheRoleAloneAndImagesComeBackEmpty) {
  aiperf::MockServer server(faulty(Fault::empty_response));
  const int port = server.start();
  const Reply stream =
      post(port, "e",
           R"({"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(stream.result, CURLE_OK);
  EXPECT_EQ(stream.status, 200);
  const auto events = event_data(stream.body);
  ASSERT_EQ(events.size(), 4u);  // role, finish, usage, [DONE]
  EXPECT_NE(events[0].find(R"("delta":{"role":"assistant"},)"), std::string::npos);
  EXPECT_EQ(stream.body.find("\"content\""), std::string::npos);
  EXPECT_EQ(events[3], "[DONE]");
  const Reply images = post(port, "i", R"({"prompt":"x","size":"16x16"})", 5000, "/v1/images/generations");
  EXPECT_EQ(images.status, 200);
  EXPECT_NE(images.body.find(R"("data":[])"), std::string::npos);
  const Reply embeddings = post(port, "m", R"({"input":"x"})", 5000, "/v1/embeddings");
  EXPECT_NE(embeddings.body.find(R"("data":[])"), std::string::npos);
  EXPECT_EQ(server.stats()["fault_empty_response"], 3);
  EXPECT_EQ(server.stats()["images_sent"], 0);
}

TEST(MockFaultServer, NoUsageAndIgnoreMaxTokensChangeOnlyWhatTheyName) {
  aiperf::MockServer no_usage(faulty(Fault::no_usage));
  const Reply stream =
      post(no_usage.start(), "u", R"({"stream":true,"stream_options":{"include_usage":true},"messages":[]})");
  EXPECT_EQ(event_data(stream.body).size(), 8u + 2u);
  EXPECT_EQ(stream.body.find("usage"), std::string::npos);
  aiperf::MockServer ignoring(faulty(Fault::ignore_max_tokens));
  const Reply body = post(ignoring.start(), "x", R"({"max_completion_tokens":2,"messages":[]})");
  EXPECT_NE(body.body.find(R"("content":" the of and to in a is that")"), std::string::npos);
  EXPECT_NE(body.body.find(R"("completion_tokens":8,)"), std::string::npos);
}

}  // namespace
