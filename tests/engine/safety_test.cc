// The engine's safety rules (SPEC 3 and 5): what refuses a plan before any step runs, what
// only warns, and what a person can allow. A refused plan runs nothing and leaves the
// ledger as it was.
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

}  // namespace
}  // namespace tidemark::testing
