// The watcher's state machine, stepped by hand: no server, no threads, no clock.
#include "runtime/watcher.h"

#include <gtest/gtest.h>

namespace tidemark::runtime {
namespace {

using Phase = WatcherState::Phase;
using nlohmann::json;

json Object(const std::string& name, const std::string& version) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", version}}}};
}

kube::ObjectList Page(std::vector<json> items, std::string version, std::string next = "") {
  kube::ObjectList page;
  page.items = json(std::move(items));
  page.resource_version = std::move(version);
  page.continue_token = std::move(next);
  return page;
}

WatcherInput Event(kube::WatchEvent::Type type, json object) {
  return WatchEventReceived{kube::WatchEvent{type, std::move(object)}};
}

WatcherInput Ended(Status status, bool saw_event, std::chrono::milliseconds lasted) {
  return WatchEnded{std::move(status), saw_event, lasted};
}

// "Init", "InitApply ns/a", ... for comparing what a step emitted.
std::vector<std::string> Names(const WatcherStep& step) {
  std::vector<std::string> names;
  for (const WatcherEvent& e : step.events) {
    switch (e.type) {
      case WatcherEvent::Type::kInit:
        names.push_back("Init");
        break;
      case WatcherEvent::Type::kInitApply:
        names.push_back("InitApply " + kube::ObjectKey(e.object));
        break;
      case WatcherEvent::Type::kInitDone:
        names.push_back("InitDone");
        break;
      case WatcherEvent::Type::kApply:
        names.push_back("Apply " + kube::ObjectKey(e.object));
        break;
      case WatcherEvent::Type::kDelete:
        names.push_back("Delete " + kube::ObjectKey(e.object));
        break;
    }
  }
  return names;
}

class WatcherMachineTest : public ::testing::Test {
 protected:
  WatcherStep Step(WatcherInput input, double unit_random = 0.0) {
    return StepWatcher(&state_, std::move(input), tuning_, unit_random);
  }
  // Lists one page and ends up watching from `version`.
  void ListTo(const std::string& version) {
    Step(ListResult{Page({Object("a", "3")}, version)});
    ASSERT_EQ(state_.phase, Phase::kWatching);
  }

  WatcherState state_;
  WatcherTuning tuning_;
};

TEST_F(WatcherMachineTest, ListsPageByPageThenWatchesFromTheListsVersion) {
  EXPECT_EQ(state_.phase, Phase::kEmpty);
  WatcherStep first = Step(ListResult{Page({Object("a", "3"), Object("b", "4")}, "9", "page2")});
  EXPECT_EQ(Names(first), (std::vector<std::string>{"Init", "InitApply ns/a", "InitApply ns/b"}));
  EXPECT_EQ(state_.phase, Phase::kListing);
  EXPECT_EQ(state_.continue_token, "page2");
  EXPECT_FALSE(first.restarted);

  WatcherStep last = Step(ListResult{Page({Object("c", "5")}, "10")});
  EXPECT_EQ(Names(last), (std::vector<std::string>{"InitApply ns/c", "InitDone"}));
  EXPECT_EQ(state_.phase, Phase::kWatching);
  EXPECT_EQ(state_.resource_version, "10");
  EXPECT_EQ(state_.continue_token, "");
  EXPECT_EQ(last.delay, Millis(0));
}

TEST_F(WatcherMachineTest, EventsBecomeChangesAndMoveTheVersion) {
  ListTo("10");
  EXPECT_EQ(Names(Step(Event(kube::WatchEvent::Type::kAdded, Object("n", "11")))),
            std::vector<std::string>{"Apply ns/n"});
  EXPECT_EQ(Names(Step(Event(kube::WatchEvent::Type::kModified, Object("n", "12")))),
            std::vector<std::string>{"Apply ns/n"});
  EXPECT_EQ(Names(Step(Event(kube::WatchEvent::Type::kDeleted, Object("n", "13")))),
            std::vector<std::string>{"Delete ns/n"});
  EXPECT_EQ(state_.resource_version, "13");
}

TEST_F(WatcherMachineTest, ABookmarkOnlyMovesTheVersion) {
  ListTo("10");
  const WatcherStep step =
      Step(Event(kube::WatchEvent::Type::kBookmark,
                 {{"kind", "ConfigMap"}, {"metadata", {{"resourceVersion", "25"}}}}));
  EXPECT_TRUE(step.events.empty());
  EXPECT_EQ(state_.resource_version, "25");
}

TEST_F(WatcherMachineTest, AClosedStreamIsWatchedAgainFromTheLastVersionAtOnce) {
  ListTo("10");
  Step(Event(kube::WatchEvent::Type::kAdded, Object("n", "14")));
  const WatcherStep step = Step(Ended(Status::Ok(), true, std::chrono::minutes(5)));
  EXPECT_EQ(state_.phase, Phase::kWatching);
  EXPECT_EQ(state_.resource_version, "14");
  EXPECT_EQ(step.delay, Millis(0));
  EXPECT_FALSE(step.restarted);  // the server's routine timeout
  EXPECT_EQ(state_.failures, 0u);
}

TEST_F(WatcherMachineTest, GoneSendsTheWatcherBackToAFullList) {
  ListTo("10");
  Step(Event(kube::WatchEvent::Type::kAdded, Object("n", "14")));
  const WatcherStep step = Step(Ended(Status::Gone("too old"), true, std::chrono::seconds(30)));
  EXPECT_EQ(state_.phase, Phase::kEmpty);
  EXPECT_EQ(state_.resource_version, "");
  EXPECT_TRUE(step.restarted);
  EXPECT_EQ(step.delay, Millis(0));
  // The next list starts a new listing (Init), which the store will swap in at InitDone.
  EXPECT_EQ(Names(Step(ListResult{Page({}, "30")})),
            (std::vector<std::string>{"Init", "InitDone"}));
  EXPECT_EQ(state_.resource_version, "30");
}

TEST_F(WatcherMachineTest, AnExpiredContinueTokenRestartsTheListing) {
  Step(ListResult{Page({Object("a", "3")}, "9", "page2")});
  const WatcherStep step = Step(ListResult{Status::Gone("continue expired")});
  EXPECT_EQ(state_.phase, Phase::kEmpty);
  EXPECT_EQ(state_.continue_token, "");
  EXPECT_TRUE(step.restarted);
}

TEST_F(WatcherMachineTest, AQuickCloseWithoutEventsCountsAsAFailureAndBacksOff) {
  ListTo("10");
  const WatcherStep first = Step(Ended(Status::Ok(), false, std::chrono::milliseconds(300)));
  EXPECT_EQ(state_.phase, Phase::kWatching);
  EXPECT_EQ(state_.resource_version, "10");
  EXPECT_EQ(first.delay, Millis(800));
  EXPECT_TRUE(first.restarted);
  const WatcherStep second = Step(Ended(Status::Ok(), false, std::chrono::milliseconds(300)));
  EXPECT_EQ(second.delay, Millis(1600));
  // An equally short stream that delivered an event is healthy.
  const WatcherStep healthy = Step(Ended(Status::Ok(), true, std::chrono::milliseconds(300)));
  EXPECT_EQ(healthy.delay, Millis(0));
  EXPECT_EQ(state_.failures, 0u);
}

TEST_F(WatcherMachineTest, FailuresBackOffWithJitterUpToThirtySeconds) {
  ListTo("10");
  WatcherStep step;
  for (int i = 0; i < 10; ++i) {
    step =
        Step(Ended(Status::Unavailable("connection refused"), false, std::chrono::seconds(5)), 0.5);
  }
  EXPECT_EQ(step.delay, Millis(33'000));  // the 30 s cap plus half of the 20% jitter
  EXPECT_EQ(state_.resource_version, "10");
  // An event proves the stream healthy again: the next failure starts over at 800 ms.
  Step(Event(kube::WatchEvent::Type::kAdded, Object("n", "11")));
  EXPECT_EQ(Step(Ended(Status::Unavailable("x"), false, std::chrono::seconds(5))).delay,
            Millis(800));
}

TEST_F(WatcherMachineTest, AFailedListIsRetriedWithBackOff) {
  const WatcherStep step = Step(ListResult{Status::Unavailable("connection refused")});
  EXPECT_EQ(state_.phase, Phase::kEmpty);
  EXPECT_EQ(step.delay, Millis(800));
  EXPECT_TRUE(step.events.empty());
  Step(ListResult{Page({}, "5")});
  EXPECT_EQ(state_.failures, 0u);
}

TEST_F(WatcherMachineTest, AGoneThatComesAtOnceAgainAlsoBacksOff) {
  ListTo("10");
  const WatcherStep step =
      Step(Ended(Status::Gone("too old"), false, std::chrono::milliseconds(5)));
  EXPECT_EQ(state_.phase, Phase::kEmpty);
  EXPECT_EQ(step.delay, Millis(800));
}

TEST_F(WatcherMachineTest, CancellationChangesNothing) {
  ListTo("10");
  const WatcherStep step =
      Step(Ended(Status::Cancelled("stop"), false, std::chrono::milliseconds(5)));
  EXPECT_FALSE(step.restarted);
  EXPECT_EQ(state_.failures, 0u);
  EXPECT_EQ(state_.resource_version, "10");
}

}  // namespace
}  // namespace tidemark::runtime
