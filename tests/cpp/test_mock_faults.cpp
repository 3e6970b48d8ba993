// The mock server's faults: names, the seeded choice of faulty requests, the broken texts, and a live server
// resetting, hanging and rate-limiting.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <thread>

#include "aiperf/common/error.hpp"
#include "aiperf/mock_server.hpp"
#include "aiperf/engine/sse.hpp"

namespace {

using aiperf::mock::Endpoint;
using aiperf::mock::Fault;
using aiperf::mock::FaultRule;

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
  EXPECT_NE(message({{Fault::http_500, 1.5}}).find("http-500: the fraction must be between 0 and 1"), std::string::npos);
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
  for (Endpoint endpoint : {Endpoint::chat_completions, Endpoint::completions, Endpoint::embeddings,
                            Endpoint::image_generations}) {
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

Reply post(int port, const std::string& request_id, const std::string& body, long timeout_ms = 5000) {
  Reply reply;
  CURL* curl = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
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

}  // namespace
