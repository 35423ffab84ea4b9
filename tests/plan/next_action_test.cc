// The rule book from a reconcile's outcome to the next Action, row by row.
#include "plan/next_action.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tidemark::plan {
namespace {

using std::chrono::milliseconds;

struct Row {
  std::string name;
  Outcome outcome;
  bool status_published;
  tidemark::Action expected;
};

Outcome Stalled(Reason reason) {
  Outcome outcome;
  outcome.stalled = Problem{reason, "needs a person"};
  return outcome;
}

Outcome Progressing(Reason reason) {
  Outcome outcome;
  outcome.progressing = Problem{reason, "will retry"};
  return outcome;
}

Outcome Idle(Reason reason, bool pending) {
  Outcome outcome;
  outcome.idle_reason = reason;
  if (pending) outcome.pending.push_back({RecordedAction::kApply, {"shop", "0002_total"}});
  return outcome;
}

Outcome Pending() {
  Outcome outcome;
  outcome.pending.push_back({RecordedAction::kApply, {"shop", "0002_total"}});
  return outcome;
}

TEST(NextActionTest, EachOutcomeLeadsToItsAction) {
  const RequeuePolicy policy{milliseconds(600'000), milliseconds(5'000)};
  const std::vector<Row> rows = {
      {"up to date: resync", Outcome{}, true, tidemark::Action::Done(milliseconds(600'000))},
      {"status not written: error, back-off", Outcome{}, false, tidemark::Action::Error()},
      {"stalled: back-off, never given up", Stalled(Reason::kMigrationFailed), true,
       tidemark::Action::Retry()},
      {"stalled but unpublished: error", Stalled(Reason::kInvalidSpec), false,
       tidemark::Action::Error()},
      {"database unavailable: back-off", Progressing(Reason::kDatabaseUnavailable), true,
       tidemark::Action::Retry()},
      {"lock timeout of a step: back-off", Progressing(Reason::kApplying), true,
       tidemark::Action::Retry()},
      {"lock held elsewhere: look again in 5 s", Progressing(Reason::kWaitingForLock), true,
       tidemark::Action::RequeueAfter(milliseconds(5'000))},
      {"suspended: wait for a change", Idle(Reason::kSuspended, false), true,
       tidemark::Action::AwaitChange()},
      {"dry run with pending actions: resync", Idle(Reason::kDryRun, true), true,
       tidemark::Action::Done(milliseconds(600'000))},
      {"read-only with pending actions: back-off", Pending(), true, tidemark::Action::Retry()},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(NextAction(row.outcome, row.status_published, policy), row.expected)
        << row.name << ": got " << NextAction(row.outcome, row.status_published, policy).ToString();
  }
}

TEST(NextActionTest, ResultLabelsFollowTheAction) {
  EXPECT_STREQ(ReconcileResultName(tidemark::Action::Done(milliseconds(1)).result()), "success");
  EXPECT_STREQ(ReconcileResultName(tidemark::Action::AwaitChange().result()), "success");
  EXPECT_STREQ(ReconcileResultName(tidemark::Action::Retry().result()), "requeue");
  EXPECT_STREQ(ReconcileResultName(tidemark::Action::RequeueAfter(milliseconds(1)).result()),
               "requeue");
  EXPECT_STREQ(ReconcileResultName(tidemark::Action::Error().result()), "error");
}

}  // namespace
}  // namespace tidemark::plan
