#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

#include "kube/errors.h"

namespace tidemark::kube {
namespace {

const std::string kStream =
    R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
    "\n"
    R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"},"data":{"k":"line\nbreak"}}})"
    "\n"
    R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"7"}}})"
    "\n"
    R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"8"}}})"
    "\n";

std::vector<std::string> Describe(const std::vector<WatchEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(std::string(WatchEventTypeName(e.type)) + " " +
                  e.object["metadata"]["resourceVersion"].get<std::string>());
  }
  return out;
}

const std::vector<std::string> kExpected = {"ADDED 1", "MODIFIED 2", "BOOKMARK 7", "DELETED 8"};

TEST(WatchDecoderTest, EverySplitIntoTwoChunksGivesTheSameEvents) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    WatchDecoder decoder("watch configmaps");
    std::vector<WatchEvent> events;
    ASSERT_TRUE(decoder.Feed(std::string_view(kStream).substr(0, cut), &events).ok());
    ASSERT_TRUE(decoder.Feed(std::string_view(kStream).substr(cut), &events).ok());
    ASSERT_TRUE(decoder.Finish(&events).ok());
    EXPECT_EQ(Describe(events), kExpected) << "cut at " << cut;
  }
}

TEST(WatchDecoderTest, ByteByByteAndAllAtOnce) {
  WatchDecoder bytes("watch");
  std::vector<WatchEvent> events;
  for (char c : kStream) ASSERT_TRUE(bytes.Feed(std::string_view(&c, 1), &events).ok());
  EXPECT_EQ(Describe(events), kExpected);

  WatchDecoder whole("watch");
  std::vector<WatchEvent> at_once;
  ASSERT_TRUE(whole.Feed(kStream, &at_once).ok());
  EXPECT_EQ(Describe(at_once), kExpected);
  // The JSON string's escaped newline stays inside its event.
  EXPECT_EQ(at_once[1].object["data"]["k"], "line\nbreak");
}

TEST(WatchDecoderTest, ALastEventWithoutNewlineCountsAtTheEnd) {
  WatchDecoder decoder("watch");
  std::vector<WatchEvent> events;
  ASSERT_TRUE(
      decoder.Feed(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"3"}}})", &events)
          .ok());
  EXPECT_TRUE(events.empty());
  ASSERT_TRUE(decoder.Finish(&events).ok());
  ASSERT_EQ(events.size(), 1u);
}

TEST(WatchDecoderTest, AnExpiredErrorEventIsGoneAfterTheEventsBeforeIt) {
  WatchDecoder decoder("watch configmaps");
  std::vector<WatchEvent> events;
  const Status status = decoder.Feed(
      R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"3"}}})"
      "\n"
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)"
      R"J("message":"too old resource version: 3 (9)","reason":"Expired","code":410}})J"
      "\n",
      &events);
  EXPECT_EQ(status.code(), StatusCode::kGone);
  EXPECT_EQ(status.message(), "watch configmaps: HTTP 410: too old resource version: 3 (9)");
  EXPECT_EQ(events.size(), 1u);
}

TEST(WatchDecoderTest, GarbageIsAnInternalError) {
  WatchDecoder decoder("watch");
  std::vector<WatchEvent> events;
  EXPECT_EQ(decoder.Feed("<html>\n", &events).code(), StatusCode::kInternal);
  WatchDecoder unknown("watch");
  EXPECT_EQ(unknown
                .Feed(R"({"type":"WHAT","object":{}})"
                      "\n",
                      &events)
                .code(),
            StatusCode::kInternal);
}

struct Mapping {
  int http;
  bool creating;
  StatusCode code;
};

TEST(ErrorsTest, MapsHttpCodesWithTheServersMessage) {
  const Mapping mappings[] = {
      {400, false, StatusCode::kInvalidArgument},
      {401, false, StatusCode::kFailedPrecondition},
      {403, false, StatusCode::kFailedPrecondition},
      {404, false, StatusCode::kNotFound},
      {409, false, StatusCode::kConflict},
      {409, true, StatusCode::kAlreadyExists},
      {410, false, StatusCode::kGone},
      {415, false, StatusCode::kUnsupported},
      {422, false, StatusCode::kInvalidArgument},
      {429, false, StatusCode::kUnavailable},
      {500, false, StatusCode::kUnavailable},
      {503, false, StatusCode::kUnavailable},
      {504, false, StatusCode::kDeadlineExceeded},
  };
  for (const Mapping& m : mappings) {
    const std::string body = R"({"kind":"Status","status":"Failure","message":"the reason"})";
    const Status status = StatusFromHttp(m.http, body, "get leases ns/x", m.creating);
    EXPECT_EQ(status.code(), m.code) << m.http;
    EXPECT_EQ(status.message(), "get leases ns/x: HTTP " + std::to_string(m.http) + ": the reason");
  }
  // A plain-text body is kept as the message.
  EXPECT_EQ(StatusFromHttp(502, "bad gateway\n", "list x").message(),
            "list x: HTTP 502: bad gateway");
  // The Status reason wins over the code where it is more precise.
  EXPECT_EQ(StatusFromHttp(409, R"({"kind":"Status","reason":"AlreadyExists"})", "x").code(),
            StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace tidemark::kube
