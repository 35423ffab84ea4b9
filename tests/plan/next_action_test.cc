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
      {"a Job runs a step: its change brings the plan back", Progressing(Reason::kRunnerRunning),
       true, tidemark::Action::AwaitChange()},
      {"suspended: wait for a change", Idle(Reason::kSuspended, false), true,
       tidemark::Action::AwaitChange()},
      {"dry run with pending actions: resync", Idle(Reason::kDryRun, true), true,
       tidemark::Action::Done(milliseconds(600'000))},
      {"awaiting approval: resync (an approval is a spec change)",
       Idle(Reason::kWaitingForApproval, true), true,
       tidemark::Action::Done(milliseconds(600'000))},
      {"read-only with pending actions: back-off", Pending(), true, tidemark::Action::Retry()},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(NextAction(row.outcome, row.status_published, policy), row.expected)
        << row.name << ": got " << NextAction(row.outcome, row.status_published, policy).ToString();
  }
}

PlanStatus Ending(const std::string& reason) {
  PlanStatus status;
  status.conditions = {{"Ready", "False", 1, "t", reason, ""},
                       {"Stalled", "True", 1, "t", reason, ""}};
  return status;
}

// A Secret that came late: many failed reconciles, then one that applies the steps but cannot
// write its status. Its retry starts from the first back-off delay again.
TEST(NextActionTest, AReconcileThatMovedOnRestartsTheBackoff) {
  const RequeuePolicy policy;
  EXPECT_EQ(NextAction(Outcome{}, false, policy, /*moved_on=*/true),
            tidemark::Action::Error().RestartingBackoff());
  EXPECT_EQ(NextAction(Outcome{}, false, policy, true).ToString(), "Backoff(error, restarted)");
  EXPECT_NE(tidemark::Action::Error().RestartingBackoff(), tidemark::Action::Error());
  // Only a back-off has a count to restart.
  EXPECT_EQ(NextAction(Outcome{}, true, policy, true), tidemark::Action::Done(policy.resync));

  const std::vector<Condition> secret_missing = Ending("SecretNotFound").conditions;
  struct Case {
    std::string name;
    size_t steps_run;
    bool published;
    std::vector<Condition> before;
    PlanStatus now;
    bool moved_on;
  };
  const std::vector<Case> cases = {
      {"ran steps, status not written", 7, false, secret_missing, Ending("UpToDate"), true},
      {"same reason again", 0, true, secret_missing, Ending("SecretNotFound"), false},
      {"another reason, published", 0, true, secret_missing, Ending("DatabaseUnavailable"), true},
      {"another reason, unpublished: the old status stays", 0, false, secret_missing,
       Ending("DatabaseUnavailable"), false},
      {"first reconcile: nothing to compare", 0, true, {}, Ending("SecretNotFound"), false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MovedOn(c.steps_run, c.published, c.before, c.now), c.moved_on) << c.name;
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
