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

TEST(StatusTest, HeldPostDeployStepsLeaveThePlanReady) {
  Outcome outcome;
  outcome.total = 3;
  outcome.applied = 2;
  outcome.held = {{RecordedAction::kApply, {"shop", "0003_drop_label"}}};
  const PlanStatus status = ComputeStatus(outcome, 2, {}, "t");
  EXPECT_EQ(StatusOf(status, "Ready"), "True/WaitingForRollout");
  EXPECT_EQ(StatusOf(status, "Reconciling"), "False/WaitingForRollout");
  EXPECT_EQ(StatusOf(status, "Stalled"), "False/WaitingForRollout");
  EXPECT_EQ(StatusOf(status, "PostDeployPending"), "True/WaitingForRollout");
  EXPECT_EQ(status.Find("PostDeployPending")->message,
            "1 post-deploy step waits for the app's rollout, next: apply shop.0003_drop_label");
  EXPECT_EQ(status.Find("Ready")->message,
            "the pre-deploy steps are applied (2 steps applied); 1 post-deploy step waits for "
            "the app's rollout, next: apply shop.0003_drop_label");
  EXPECT_EQ(status.pending_count, 0);
  // The rollout gate says what they wait for.
  outcome.held_for = "Deployment web: 1 pod of an older ReplicaSet left (terminating)";
  EXPECT_EQ(ComputeStatus(outcome, 2, {}, "t").Find("PostDeployPending")->message,
            "1 post-deploy step waits for the app's rollout, next: apply shop.0003_drop_label; "
            "waiting for Deployment web: 1 pod of an older ReplicaSet left (terminating)");
  // Once they are applied the condition goes away with the rest of the old list.
  EXPECT_EQ(StatusOf(ComputeStatus(Outcome{}, 2, status.conditions, "t"), "PostDeployPending"),
            "missing");
}

// kstatus (sigs.k8s.io/cli-utils kstatus, as Flux's dependsOn and health checks read a
// custom resource): InProgress while status.observedGeneration differs from the generation
// or Reconciling is True, Failed when Stalled is True, else Current.
std::string Kstatus(int64_t generation, const PlanStatus& status) {
  auto is_true = [&](const char* type) {
    const Condition* c = status.Find(type);
    return c != nullptr && c->status == "True";
  };
  if (status.observed_generation != generation) return "InProgress";
  if (is_true("Reconciling")) return "InProgress";
  if (is_true("Stalled")) return "Failed";
  return "Current";
}

TEST(StatusTest, KstatusInEveryPhaseOfAPlan) {
  struct Case {
    const char* phase;
    Outcome outcome;
    const char* expected;
  };
  Outcome applying;
  applying.progressing = Problem{Reason::kApplying, "applying shop.0002"};
  Outcome held;
  held.held = {{RecordedAction::kApply, {"shop", "0003_drop_label"}}};
  Outcome failed;
  failed.stalled = Problem{Reason::kMigrationFailed, "shop.0002 failed"};
  Outcome locked;
  locked.progressing = Problem{Reason::kWaitingForLock, "another run holds the lock"};
  const Case cases[] = {
      {"steps running", applying, "InProgress"},
      {"waiting for the lock", locked, "InProgress"},
      {"post-deploy steps wait for the rollout", held, "Current"},
      {"a step failed", failed, "Failed"},
      {"up to date", Outcome{}, "Current"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Kstatus(3, ComputeStatus(c.outcome, 3, {}, "t")), c.expected) << c.phase;
  }
  // Before the first reconcile the API server gives a new plan the CRD's default status,
  // {observedGeneration: -1}: in progress, so that nothing released by it starts early.
  PlanStatus created;
  created.observed_generation = -1;
  EXPECT_EQ(Kstatus(1, created), "InProgress");
  // A spec change not yet observed is in progress too, whatever the old conditions say.
  EXPECT_EQ(Kstatus(4, ComputeStatus(Outcome{}, 3, {}, "t")), "InProgress");
}

}  // namespace
}  // namespace tidemark::plan
