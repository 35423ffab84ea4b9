// The engine's safety rules (SPEC 3 and 5): what refuses a plan before any step runs, what
// only warns, and what a person can allow. A refused plan runs nothing and leaves the
// ledger as it was.
#include "plan/approval.h"
#include "tests/engine/engine_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class EngineSafetyTest : public EngineTest {
 protected:
  // Expects the plan refused before running anything, for `reason`, naming `step`.
  void ExpectRefused(const plan::MigrationPlan& plan, const std::string& reason,
                     const std::string& message, const engine::Options& options = {}) {
    const std::set<plan::StepId> before = Ledger();
    const int runs_before = db_.Calls().run;
    const engine::Report report = Reconcile(plan, options);
    ASSERT_TRUE(report.outcome.stalled) << "expected " << reason;
    EXPECT_EQ(plan::ReasonName(report.outcome.stalled->reason), reason);
    EXPECT_THAT(report.outcome.stalled->message, HasSubstr(message));
    EXPECT_THAT(report.done, IsEmpty());
    EXPECT_EQ(db_.Calls().run, runs_before);
    EXPECT_EQ(Ledger(), before);
  }
};

TEST_F(EngineSafetyTest, RevertingNeedsPermission) {
  plan::MigrationPlan plan =
      Chain({SqlStep("0001", "SELECT 1", "SELECT -1"), SqlStep("0002", "SELECT 2", "SELECT -2")});
  ReconcileDone(plan);
  Target(plan, "0001");
  ExpectRefused(plan, "RevertDenied", "would revert 1 applied step (first: shop.0002)");

  engine::Options allowed;
  allowed.allow_revert = true;
  const engine::Report reverted = Reconcile(plan, allowed);
  EXPECT_FALSE(reverted.outcome.stalled);
  EXPECT_THAT(Done(reverted), ElementsAre("revert shop.0002"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});

  Target(plan, "zero");
  plan.policy.revert = plan::RevertPolicy::kAllow;
  ReconcileDone(plan);
  EXPECT_THAT(Ledger(), IsEmpty());
}

TEST_F(EngineSafetyTest, AStepWithoutBackwardSqlIsIrreversible) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1", std::nullopt)});
  ReconcileDone(plan);
  Target(plan, "zero");
  plan.policy.revert = plan::RevertPolicy::kAllow;
  ExpectRefused(plan, "Irreversible", "step shop.0001 has no backward SQL");
  plan.migrations[0].irreversible_reason = "its reverse SQL fails on PostgreSQL";
  ExpectRefused(plan, "Irreversible",
                "step shop.0001 has no backward SQL (its reverse SQL fails on PostgreSQL), so it "
                "cannot be reverted");
}

struct ChecksumCase {
  plan::ChecksumPolicy policy;
  bool runs;  // whether the next step runs
  bool drift_reported;
};
void PrintTo(const ChecksumCase& c, std::ostream* out) {
  *out << "checksum policy " << static_cast<int>(c.policy);
}

class EngineChecksumTest : public EngineSafetyTest,
                           public ::testing::WithParamInterface<ChecksumCase> {};

TEST_P(EngineChecksumTest, ChangedSqlOfAnAppliedStep) {
  ReconcileDone(Chain({SqlStep("0001", "SELECT 1")}));
  plan::MigrationPlan changed =
      Chain({SqlStep("0001", "SELECT 'changed'"), SqlStep("0002", "SELECT 2")});
  changed.policy.checksum = GetParam().policy;
  if (!GetParam().runs) {
    ExpectRefused(changed, "ChecksumMismatch",
                  "step shop.0001 was applied with different forward SQL");
    return;
  }
  const engine::Report report = Reconcile(changed);
  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_THAT(Done(report), ElementsAre("apply shop.0002"));
  EXPECT_EQ(report.outcome.drift.checksum_mismatches, GetParam().drift_reported
                                                          ? std::vector<plan::StepId>{Shop("0001")}
                                                          : std::vector<plan::StepId>{});
}

INSTANTIATE_TEST_SUITE_P(Policies, EngineChecksumTest,
                         ::testing::Values(ChecksumCase{plan::ChecksumPolicy::kBlock, false, true},
                                           ChecksumCase{plan::ChecksumPolicy::kWarn, true, true},
                                           ChecksumCase{plan::ChecksumPolicy::kIgnore, true,
                                                        false}));

TEST_F(EngineSafetyTest, UnknownLedgerRowsWarnOrBlock) {
  db_.AddLedgerRow(Shop("0000_removed"));
  db_.AddLedgerRow({"billing", "0001"});  // another plan's app: none of this plan's business
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1")});
  const engine::Report warned = Reconcile(plan);
  EXPECT_FALSE(warned.outcome.stalled);
  EXPECT_THAT(warned.outcome.drift.unknown_applied, ElementsAre(Shop("0000_removed")));
  EXPECT_THAT(Done(warned), ElementsAre("apply shop.0001"));

  plan.migrations.push_back(SqlStep("0002", "SELECT 2"));
  plan.migrations.back().dependencies = {Shop("0001")};
  plan.policy.unknown_applied = plan::UnknownAppliedPolicy::kBlock;
  ExpectRefused(plan, "UnknownApplied", "no step of this plan knows (first: shop.0000_removed)");
}

TEST_F(EngineSafetyTest, PythonStepsBlockOrAreRecordedOnly) {
  plan::Step fill = SqlStep("0002_fill", "");
  fill.python = true;
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), fill});
  ExpectRefused(plan, "PythonStep", "manage.py migrate shop 0002_fill");

  plan.policy.python_steps = plan::PythonStepsPolicy::kRecordOnly;
  const engine::Report recorded = Reconcile(plan);
  EXPECT_FALSE(recorded.outcome.stalled);
  EXPECT_THAT(recorded.outcome.notes,
              ElementsAre("recorded without running their Python code (pythonSteps: "
                          "RecordOnly): shop.0002_fill"));
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002_fill")}));
}

TEST_F(EngineSafetyTest, LintErrorsBlockOnlyWithLintBlock) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "CREATE INDEX i ON t (id)")});
  plan.policy.lint = plan::LintPolicy::kBlock;
  ExpectRefused(plan, "LintBlocked",
                "step shop.0001: statement 1: CREATE INDEX i on t: CREATE INDEX without "
                "CONCURRENTLY holds a SHARE lock that blocks writes to the table while the "
                "index builds; use CREATE INDEX CONCURRENTLY in a step with atomic: false (rule "
                "require-concurrent-index-creation)");

  plan.policy.lint = plan::LintPolicy::kWarn;
  const engine::Report warned = Reconcile(plan);
  EXPECT_FALSE(warned.outcome.stalled);
  ASSERT_EQ(warned.outcome.lint.size(), 1u);
  EXPECT_EQ(warned.outcome.lint[0].rule, "require-concurrent-index-creation");
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineSafetyTest, AnAcceptedLintErrorDoesNotBlock) {
  plan::MigrationPlan plan =
      Chain({SqlStep("0001",
                     "-- tidemark:allow require-concurrent-index-creation t is empty\n"
                     "CREATE INDEX i ON t (id)")});
  plan.policy.lint = plan::LintPolicy::kBlock;
  const engine::Report report = Reconcile(plan);
  EXPECT_FALSE(report.outcome.stalled);
  ASSERT_EQ(report.outcome.lint.size(), 1u);
  EXPECT_EQ(report.outcome.lint[0].accepted, "t is empty");
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineSafetyTest, LintBlockBlocksOnlyWhatTheStepsLintAllowDoesNotAccept) {
  plan::Step step = SqlStep("0001", "CREATE INDEX i ON t (id); ALTER TABLE t ADD CHECK (id > 0)");
  step.lint_allow = {{"require-concurrent-index-creation", "t holds 40 rows"}};
  plan::MigrationPlan plan = Chain({step});
  plan.policy.lint = plan::LintPolicy::kBlock;
  ExpectRefused(plan, "LintBlocked", "step shop.0001: statement 2:");

  plan.migrations[0].lint_allow.push_back({"constraint-missing-not-valid", "t holds 40 rows"});
  const engine::Report report = Reconcile(plan);
  EXPECT_FALSE(report.outcome.stalled);
  ASSERT_EQ(report.outcome.lint.size(), 2u);
  EXPECT_EQ(report.outcome.lint[1].accepted, "t holds 40 rows");
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineSafetyTest, SqlThatDoesNotParseIsAnInvalidSpec) {
  plan::MigrationPlan plan =
      Chain({SqlStep("0001", "SELECT 1"), SqlStep("0002", "CREATE TABLE (")});
  ExpectRefused(plan, "InvalidSpec", "step shop.0002 (engine_test) forward SQL does not parse");
}

TEST_F(EngineSafetyTest, ADirtyStepInTheHistoryStopsThePlanUntilResolved) {
  plan::Step concurrently = SqlStep("0002", "CREATE INDEX CONCURRENTLY i ON t (id); SELECT 1/0");
  concurrently.atomic = false;
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), concurrently});
  db_.FailStatement("SELECT 1/0", StatementFailure::Error("22012", "division by zero"), 1);
  const engine::Report stopped = Reconcile(plan);
  ASSERT_TRUE(stopped.outcome.stalled);
  EXPECT_EQ(stopped.outcome.stalled->reason, plan::Reason::kDirtyNonAtomic);
  EXPECT_THAT(stopped.outcome.stalled->message,
              HasSubstr("non-atomic step shop.0002 stopped at statement 2"));

  // The next reconcile finds it in the history and does not run it again.
  ExpectRefused(plan, "DirtyNonAtomic",
                "non-atomic step shop.0002 stopped applying at statement 2");
  EXPECT_EQ(Runs(Shop("0002")), 1);

  plan.resolve = {{Shop("0002"), plan::ResolvedState::kApplied}};
  ReconcileDone(plan);
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002")}));
  EXPECT_EQ(Runs(Shop("0002")), 1);  // resolved as applied: not run again
}

// A run interrupted in an index build (the session lost, no error recorded) can be checked
// in the catalog: the next run goes on from that build, without a person.
TEST_F(EngineSafetyTest, AnInterruptedIndexBuildGoesOnFromWhereItStopped) {
  plan::Step indexes =
      SqlStep("0002", "SELECT 'before'; CREATE INDEX CONCURRENTLY i ON t (id); SELECT 'after'");
  indexes.atomic = false;
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), indexes});
  db_.FailStatement("CREATE INDEX CONCURRENTLY i ON t (id)", StatementFailure::ConnectionLost(), 1);
  const engine::Report lost = Reconcile(plan);
  EXPECT_FALSE(lost.outcome.stalled);
  ASSERT_TRUE(lost.outcome.progressing);
  EXPECT_EQ(lost.outcome.progressing->reason, plan::Reason::kDatabaseUnavailable);
  EXPECT_THAT(lost.outcome.progressing->message,
              HasSubstr("the next run checks that index build and goes on from it; will retry"));
  // Run again, the statement before the build would fail: it must not run.
  db_.FailStatement("SELECT 'before'", StatementFailure::Error("22012", "division by zero"));
  const engine::Report resumed = Reconcile(plan);
  EXPECT_FALSE(resumed.outcome.stalled);
  EXPECT_FALSE(resumed.outcome.progressing);
  EXPECT_THAT(resumed.outcome.notes,
              ElementsAre("shop.0002: an earlier run was interrupted at statement 2; going on "
                          "from there"));
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002")}));
}

TEST_F(EngineSafetyTest, AnInterruptedStatementThatIsNoIndexBuildNeedsAPerson) {
  plan::Step step = SqlStep("0001", "CREATE INDEX CONCURRENTLY i ON t (id); SELECT 'gone'");
  step.atomic = false;
  plan::MigrationPlan plan = Chain({step});
  db_.FailStatement("SELECT 'gone'", StatementFailure::ConnectionLost(), 1);
  const engine::Report lost = Reconcile(plan);
  ASSERT_TRUE(lost.outcome.stalled);
  EXPECT_EQ(lost.outcome.stalled->reason, plan::Reason::kDirtyNonAtomic);
  ExpectRefused(plan, "DirtyNonAtomic",
                "non-atomic step shop.0001 stopped applying at statement 2");
}

TEST_F(EngineSafetyTest, AStepResolvedAsUnappliedRunsAgain) {
  plan::Step step = SqlStep("0001", "SELECT 1/0");
  step.atomic = false;
  plan::MigrationPlan plan = Chain({step});
  db_.FailStatement("SELECT 1/0", StatementFailure::Error("22012", "division by zero"), 1);
  ASSERT_EQ(Reconcile(plan).outcome.stalled->reason, plan::Reason::kDirtyNonAtomic);

  plan.resolve = {{Shop("0001"), plan::ResolvedState::kUnapplied}};
  ReconcileDone(plan);
  EXPECT_EQ(Runs(Shop("0001")), 2);
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

// policy.approval: Required runs exactly the actions a person approved, by their digest.
TEST_F(EngineSafetyTest, ApprovalIsBoundToTheDigestOfWhatWouldRun) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), SqlStep("0002", "SELECT 2")});
  plan.policy.approval = plan::ApprovalPolicy::kRequired;
  engine::Options read_only;
  read_only.execute = false;
  const engine::Report planned = Reconcile(plan, read_only);
  const std::string digest = planned.approval_digest;
  ASSERT_TRUE(plan::IsApprovalDigest(digest)) << digest;
  ASSERT_TRUE(planned.outcome.approval);
  EXPECT_EQ(planned.outcome.approval->digest, digest);

  // Not approved: nothing runs, and the plan waits (not Stalled).
  const engine::Report waiting = Reconcile(plan);
  EXPECT_FALSE(waiting.outcome.stalled);
  EXPECT_EQ(waiting.outcome.idle_reason, plan::Reason::kWaitingForApproval);
  EXPECT_THAT(Pending(waiting.outcome), ElementsAre("apply shop.0001", "apply shop.0002"));
  EXPECT_EQ(db_.Calls().run, 0);

  // Approved, then the SQL changed: the old approval runs nothing.
  plan.approved_digest = digest;
  plan.migrations[1].forward = "SELECT 'two'";
  const engine::Report stale = Reconcile(plan);
  EXPECT_EQ(stale.outcome.idle_reason, plan::Reason::kWaitingForApproval);
  EXPECT_NE(stale.outcome.approval->digest, digest);
  EXPECT_EQ(stale.outcome.approval->approved, digest);
  EXPECT_THAT(Ledger(), IsEmpty());

  plan.migrations[1].forward = "SELECT 2";
  ReconcileDone(plan);
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002")}));

  // The same digest does not approve what comes next: a new step waits for its own.
  plan.migrations.push_back(SqlStep("0003", "SELECT 3"));
  plan.migrations.back().dependencies = {Shop("0002")};
  const engine::Report next = Reconcile(plan);
  EXPECT_EQ(next.outcome.idle_reason, plan::Reason::kWaitingForApproval);
  EXPECT_EQ(Runs(Shop("0003")), 0);
}

// --approve checks the digest whatever the policy says; nothing pending needs no approval.
TEST_F(EngineSafetyTest, AnApprovalGivenOnTheCommandLineIsCheckedToo) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1")});
  engine::Options approve;
  approve.approve = "sha256:" + std::string(64, '0');
  const engine::Report refused = Reconcile(plan, approve);
  EXPECT_EQ(refused.outcome.idle_reason, plan::Reason::kWaitingForApproval);
  EXPECT_THAT(Ledger(), IsEmpty());
  approve.approve = refused.approval_digest;
  ReconcileDone(plan, approve);
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
  plan.policy.approval = plan::ApprovalPolicy::kRequired;
  const engine::Report nothing = Reconcile(plan);
  EXPECT_FALSE(nothing.outcome.idle_reason);
  EXPECT_FALSE(nothing.outcome.approval);
}

}  // namespace
}  // namespace tidemark::testing
