// SseParser: events split across reads at any byte, line endings, comments, multi-line data, [DONE].
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "aiperf/engine/sse.hpp"

namespace aiperf {
namespace {

std::vector<std::string> parse_in_pieces(std::string_view stream, std::vector<std::size_t> cuts) {
  SseParser parser;
  std::vector<std::string> events;
  auto on_event = [&events](std::string_view data) { events.emplace_back(data); };
  std::size_t begin = 0;
  cuts.push_back(stream.size());
  for (std::size_t cut : cuts) {
    parser.feed(stream.substr(begin, cut - begin), on_event);
    begin = cut;
  }
  return events;
}

std::vector<std::string> parse(std::string_view stream) { return parse_in_pieces(stream, {}); }

TEST(SseParser, DispatchesEachEventOnABlankLine) {
  EXPECT_EQ(parse("data: {\"a\":1}\n\ndata: {\"b\":2}\n\n"), (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(SseParser, HoldsAnEventUntilItsBlankLineArrives) {
  EXPECT_TRUE(parse("data: x\n").empty());
  EXPECT_TRUE(parse("data: x").empty());
}

TEST(SseParser, AcceptsCrlfAndCrLineEndings) {
  EXPECT_EQ(parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SseParser, StripsOnlyOneLeadingSpaceAndAcceptsNone) {
  EXPECT_EQ(parse("data:x\n\ndata:  y\n\n"), (std::vector<std::string>{"x", " y"}));
}

TEST(SseParser, JoinsMultipleDataLinesWithLineFeed) {
  EXPECT_EQ(parse("data: one\ndata: two\ndata:\n\n"), (std::vector<std::string>{"one\ntwo\n"}));
}

TEST(SseParser, IgnoresCommentsAndOtherFields) {
  EXPECT_EQ(parse(": keep-alive\n\nevent: message\nid: 7\nretry: 10\ndata: x\n\n: bye\n\n"),
            (std::vector<std::string>{"x"}));
}

TEST(SseParser, LinesThatAreNoFieldAreSkippedButCountedAsBadFraming) {
  SseParser parser;
  std::vector<std::string> events;
  auto on_event = [&events](std::string_view data) { events.emplace_back(data); };
  parser.feed(": ping\nevent: x\nid: 1\nretry: 5\ndata: a\n\n", on_event);
  EXPECT_EQ(parser.invalid_lines(), 0u);
  parser.feed("{\"choices\":[]}\n\nnonsense: y\ndata: b\n\n", on_event);
  EXPECT_EQ(events, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parser.invalid_lines(), 2u);
  EXPECT_EQ(parser.first_invalid_line(), "{\"choices\":[]}");
  parser.reset();
  EXPECT_EQ(parser.invalid_lines(), 0u);
  EXPECT_TRUE(parser.first_invalid_line().empty());
}

TEST(SseParser, EmptyDataFieldDispatchesAnEmptyEventButBlankLinesAloneDoNot) {
  EXPECT_EQ(parse("\n\n\ndata\n\n"), (std::vector<std::string>{""}));
}

TEST(SseParser, SplittingAtEveryBytePositionGivesTheSameEvents) {
  const std::string stream =
      ": ping\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n"
      "event: x\ndata:{\"n\":2}\ndata: line2\n\n"
      "data: cr\r\rdata: [DONE]\n\n";
  const std::vector<std::string> expected = parse(stream);
  ASSERT_EQ(expected.size(), 4u);
  EXPECT_EQ(expected[1], "{\"n\":2}\nline2");
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    EXPECT_EQ(parse_in_pieces(stream, {cut}), expected) << "cut at " << cut;
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t cut = 1; cut < stream.size(); ++cut) every_byte.push_back(cut);
  EXPECT_EQ(parse_in_pieces(stream, every_byte), expected);
}

TEST(SseParser, ACrLfPairSplitAcrossReadsIsOneLineEnding) {
  // "data: a\r" | "\n" | "\r\n": had the split LF counted as a blank line, "a" would be dispatched early and "b" lost.
  EXPECT_EQ(parse_in_pieces("data: a\r\ndata: b\r\n\r\n", {8}), (std::vector<std::string>{"a\nb"}));
}

TEST(SseParser, ResetForgetsAPartialEvent) {
  SseParser parser;
  std::vector<std::string> events;
  auto on_event = [&events](std::string_view data) { events.emplace_back(data); };
  parser.feed("data: partial\ndata: more", on_event);
  EXPECT_GT(parser.pending_bytes(), 0u);
  parser.reset();
  EXPECT_EQ(parser.pending_bytes(), 0u);
  parser.feed("data: fresh\n\n", on_event);
  EXPECT_EQ(events, (std::vector<std::string>{"fresh"}));
}

TEST(SseParser, AnEventCompletedByALaterReadKeepsItsDataWhenTheFirstBufferIsReused) {
  // One-line events are passed as views of the input; one still open when feed() returns must not point into it.
  SseParser parser;
  std::vector<std::string> events;
  auto on_event = [&events](std::string_view data) { events.emplace_back(data); };
  std::string buffer = "data: {\"a\":1}\n\ndata: {\"b\":2}\n";
  parser.feed(buffer, on_event);
  EXPECT_EQ(parser.pending_bytes(), 7u);
  buffer.assign(buffer.size(), 'X');  // libcurl reuses its receive buffer for the next read
  parser.feed("\n", on_event);
  EXPECT_EQ(events, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(SseParser, ADataLineSplitAcrossReadsThenASecondLineJoinsBoth) {
  EXPECT_EQ(parse_in_pieces("data: one\ndata: two\n\ndata: three\n\n", {4, 10, 22}),
            (std::vector<std::string>{"one\ntwo", "three"}));
}

TEST(IsDone, RecognisesTheEndMarkerOnly) {
  EXPECT_TRUE(is_done("[DONE]"));
  EXPECT_TRUE(is_done(" [DONE] \n"));
  EXPECT_FALSE(is_done("[DONE"));
  EXPECT_FALSE(is_done("{\"done\":true}"));
  EXPECT_FALSE(is_done(""));
  EXPECT_FALSE(is_done("{\"content\":\"[DONE]\"}"));
}

}  // namespace
}  // namespace aiperf
