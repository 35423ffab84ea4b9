// Conditions as kstatus, Argo CD and `kubectl wait` read them.
#include "plan/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tidemark::plan {
namespace {

using ::testing::HasSubstr;

std::string StatusOf(const PlanStatus& status, const std::string& type) {
  const Condition* c = status.Find(type);
  return c ? c->status + "/" + c->reason : "missing";
}

TEST(StatusTest, UpToDateIsReady) {
  Outcome outcome;
  outcome.total = outcome.applied = 3;
  const PlanStatus status = ComputeStatus(outcome, 4, {}, "2026-11-25T08:00:00Z");
  EXPECT_EQ(StatusOf(status, "Ready"), "True/UpToDate");
  EXPECT_EQ(StatusOf(status, "Reconciling"), "False/UpToDate");
  EXPECT_EQ(StatusOf(status, "Stalled"), "False/UpToDate");
  EXPECT_EQ(StatusOf(status, "Drifted"), "False/NoDrift");
  EXPECT_EQ(status.observed_generation, 4);
  EXPECT_EQ(status.Find("Ready")->observed_generation, 4);
}

TEST(StatusTest, StalledIsNotReadyAndNotReconciling) {
  Outcome outcome;
  outcome.stalled = Problem{Reason::kRevertDenied, "the plan would revert 2 applied steps"};
  const PlanStatus status = ComputeStatus(outcome, 1, {}, "t");
  EXPECT_EQ(StatusOf(status, "Ready"), "False/RevertDenied");
  EXPECT_EQ(StatusOf(status, "Stalled"), "True/RevertDenied");
  EXPECT_EQ(StatusOf(status, "Reconciling"), "False/RevertDenied");
  EXPECT_THAT(status.Find("Stalled")->message, HasSubstr("revert 2"));
}

TEST(StatusTest, WaitingIsReconciling) {
  Outcome outcome;
  outcome.progressing = Problem{Reason::kWaitingForLock, "another run holds the lock"};
  const PlanStatus status = ComputeStatus(outcome, 1, {}, "t");
  EXPECT_EQ(StatusOf(status, "Reconciling"), "True/WaitingForLock");
  EXPECT_EQ(StatusOf(status, "Stalled"), "False/WaitingForLock");
}

TEST(StatusTest, PendingListIsCappedButCounted) {
  Outcome outcome;
  for (int i = 0; i < 120; ++i)
    outcome.pending.push_back({RecordedAction::kApply, {"a", std::to_string(i)}});
  outcome.idle_reason = Reason::kDryRun;
  const PlanStatus status = ComputeStatus(outcome, 1, {}, "t");
  EXPECT_EQ(status.pending.size(), kMaxPendingListed);
  EXPECT_EQ(status.pending_count, 120);
  EXPECT_EQ(StatusOf(status, "Ready"), "False/DryRun");
}

TEST(StatusTest, TransitionTimeMovesOnlyWhenStatusChanges) {
  Outcome ready;
  const PlanStatus first = ComputeStatus(ready, 1, {}, "2026-01-01T00:00:00Z");
  const PlanStatus second = ComputeStatus(ready, 2, first.conditions, "2026-01-02T00:00:00Z");
  EXPECT_EQ(second.Find("Ready")->last_transition_time, "2026-01-01T00:00:00Z");
  Outcome stalled;
  stalled.stalled = Problem{Reason::kMigrationFailed, "x"};
  const PlanStatus third = ComputeStatus(stalled, 2, second.conditions, "2026-01-03T00:00:00Z");
  EXPECT_EQ(third.Find("Ready")->last_transition_time, "2026-01-03T00:00:00Z");
}

TEST(StatusTest, DriftIsAConditionAndTheFailingStatementIsCut) {
  Outcome outcome;
  outcome.drift.checksum_mismatches = {{"shop", "0001_initial"}};
  outcome.failure =
      StepFailure{{"shop", "0002"}, 1, std::string(300, 'x'), "42P01", "no table", "t", 2};
  const PlanStatus status = ComputeStatus(outcome, 1, {}, "t");
  EXPECT_EQ(status.failure->statement.size(), 200u);
  const Condition* drifted = status.Find("Drifted");
  EXPECT_EQ(drifted->status, "True");
  EXPECT_EQ(drifted->reason, "ChecksumMismatch");
}

}  // namespace
}  // namespace tidemark::plan
