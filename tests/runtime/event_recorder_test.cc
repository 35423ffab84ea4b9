// The event recorder against the test API server: events.k8s.io/v1 objects, counted in a
// series when they repeat.
#include "runtime/event_recorder.h"

#include <gmock/gmock.h>

#include <set>

#include "server_fixture.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;
using ::testing::MatchesRegex;

const json kPlan{
    {"apiVersion", "tidemark.dev/v1alpha1"},
    {"kind", "MigrationPlan"},
    {"metadata",
     {{"name", "shop"}, {"namespace", "prod"}, {"uid", "5f0c-11"}, {"resourceVersion", "42"}}}};

class EventRecorderTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    CreateNamespace("prod");
  }
  EventRecorderOptions Options() {
    EventRecorderOptions options;
    options.reporting_instance = "tidemark-7d9f-abcde";
    options.clock = &clock_;
    return options;
  }
  json Events() {
    auto list = client_->List(kube::resources::kEvents, "prod");
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? list->items : json::array();
  }

  FakeClock clock_;
};

TEST_F(EventRecorderTest, WritesAnEventsV1EventAboutTheObject) {
  EventRecorder recorder(*client_, Options());
  recorder.Record(kPlan, EventType::kWarning, "MigrationFailed", "Apply",
                  "shop.0002_order failed: relation \"x\" does not exist");
  recorder.Flush();
  const json events = Events();
  ASSERT_EQ(events.size(), 1u);
  const json& event = events[0];
  EXPECT_THAT(event["metadata"]["name"].get<std::string>(), MatchesRegex(R"(shop\.[0-9a-f]+)"));
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["reason"], "MigrationFailed");
  EXPECT_EQ(event["action"], "Apply");
  EXPECT_EQ(event["note"], "shop.0002_order failed: relation \"x\" does not exist");
  EXPECT_EQ(event["reportingController"], "tidemark.dev/controller");
  EXPECT_EQ(event["reportingInstance"], "tidemark-7d9f-abcde");
  EXPECT_THAT(event["eventTime"].get<std::string>(), MatchesRegex(kMicroTimePattern));
  EXPECT_EQ(event["regarding"], (json{{"apiVersion", "tidemark.dev/v1alpha1"},
                                      {"kind", "MigrationPlan"},
                                      {"name", "shop"},
                                      {"namespace", "prod"},
                                      {"uid", "5f0c-11"},
                                      {"resourceVersion", "42"}}));
  EXPECT_FALSE(event.contains("series"));
}

TEST_F(EventRecorderTest, RepeatsWithinTheWindowAreCountedInASeries) {
  EventRecorder recorder(*client_, Options());
  recorder.Record(kPlan, EventType::kNormal, "WaitingForLock", "Reconcile", "busy");
  recorder.Flush();
  clock_.Advance(std::chrono::seconds(30));
  recorder.Record(kPlan, EventType::kNormal, "WaitingForLock", "Reconcile", "busy");
  recorder.Flush();
  clock_.Advance(std::chrono::seconds(30));
  recorder.Record(kPlan, EventType::kNormal, "WaitingForLock", "Reconcile", "busy");
  recorder.Flush();
  json events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["series"]["count"], 3);
  EXPECT_NE(events[0]["series"]["lastObservedTime"], events[0]["eventTime"]);

  // Another note is another event.
  recorder.Record(kPlan, EventType::kNormal, "WaitingForLock", "Reconcile", "other");
  recorder.Flush();
  EXPECT_EQ(Events().size(), 2u);

  // Past the window the series has ended: a new event starts.
  clock_.Advance(std::chrono::minutes(7));
  recorder.Record(kPlan, EventType::kNormal, "WaitingForLock", "Reconcile", "busy");
  recorder.Flush();
  EXPECT_EQ(Events().size(), 3u);
}

TEST_F(EventRecorderTest, ASeriesWhoseEventWasDeletedStartsAgain) {
  EventRecorder recorder(*client_, Options());
  recorder.Record(kPlan, EventType::kNormal, "Applied", "Apply", "ok");
  recorder.Flush();
  const json first = Events()[0];
  ASSERT_TRUE(client_->Delete(kube::resources::kEvents, "prod", first["metadata"]["name"]).ok());
  clock_.Advance(std::chrono::seconds(1));
  recorder.Record(kPlan, EventType::kNormal, "Applied", "Apply", "ok");
  recorder.Flush();
  const json events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0]["metadata"]["name"], first["metadata"]["name"]);
}

TEST_F(EventRecorderTest, LongNotesAreCutTo1024Characters) {
  EventRecorder recorder(*client_, Options());
  recorder.Record(kPlan, EventType::kNormal, "Applied", "Apply", std::string(3000, 'x'));
  recorder.Flush();
  EXPECT_EQ(Events()[0]["note"].get<std::string>().size(), 1024u);
}

TEST_F(EventRecorderTest, EventsRecordedBeforeShutdownAreSent) {
  {
    EventRecorder recorder(*client_, Options());
    recorder.Record(kPlan, EventType::kNormal, "Applied", "Apply", "first");
    clock_.Advance(std::chrono::seconds(1));
    recorder.Record(kPlan, EventType::kNormal, "UpToDate", "Reconcile", "second");
  }
  const json events = Events();
  ASSERT_EQ(events.size(), 2u);
  std::set<std::string> reasons;
  for (const json& event : events) reasons.insert(event["reason"].get<std::string>());
  EXPECT_EQ(reasons, (std::set<std::string>{"Applied", "UpToDate"}));
}

TEST_F(EventRecorderTest, AtShutdownAFailedWriteDropsTheEventsStillQueued) {
  // The API server refuses events and answers slowly: shutdown comes while the first write
  // is under way.
  server_->FailNextRequests("POST", "/apis/events\\.k8s\\.io/v1/namespaces/prod/events", 10, 500);
  server_->SetResponseDelay(std::chrono::seconds(1));
  {
    EventRecorder recorder(*client_, Options());
    for (const char* note : {"first", "second", "third"}) {
      recorder.Record(kPlan, EventType::kNormal, "Applied", "Apply", note);
    }
  }
  server_->SetResponseDelay(std::chrono::milliseconds(0));
  size_t posts = 0;
  for (const auto& request : server_->requests()) {
    posts += request.method == "POST" && request.target.find("/events") != std::string::npos;
  }
  EXPECT_EQ(posts, 1u);  // the other two were not tried
  EXPECT_TRUE(Events().empty());
}

}  // namespace
}  // namespace tidemark::runtime
