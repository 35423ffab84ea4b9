// The engine's step executor and its entry: connecting, the lock, what a failing step
// leaves (reason, failure, pending list, ledger), the retries of a lock timeout, faking,
// squashes, and the modes that run nothing (dry run, suspend, read-only).
#include "tests/engine/engine_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// shop.0001 to 0003; 0002's second statement is `second`.
plan::MigrationPlan ThreeSteps(const std::string& second = "SELECT 1/0") {
  return Chain({SqlStep("0001", "SELECT 1"), SqlStep("0002", "SELECT 2; " + second),
                SqlStep("0003", "SELECT 3")});
}

using EngineExecuteTest = EngineTest;

TEST_F(EngineExecuteTest, StepsRunInOrderAndAreRecorded) {
  const engine::Report report = Reconcile(ThreeSteps());
  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_FALSE(report.outcome.progressing);
  EXPECT_THAT(Done(report), ElementsAre("apply shop.0001", "apply shop.0002", "apply shop.0003"));
  EXPECT_EQ(report.outcome.applied, 3);
  ASSERT_TRUE(report.outcome.last_applied);
  EXPECT_EQ(report.outcome.last_applied->migration, Shop("0003"));
  EXPECT_EQ(report.outcome.last_applied->at, kNow);
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002"), Shop("0003")}));
  EXPECT_EQ(db_.Calls().lock, 1);
  EXPECT_EQ(db_.Calls().unlock, 1);
}

TEST_F(EngineExecuteTest, AFailingStatementStallsWithTheFailureAndKeepsEarlierSteps) {
  db_.FailStatement("SELECT 1/0", StatementFailure::Error("22012", "division by zero"));
  const engine::Report report = Reconcile(ThreeSteps());
  ASSERT_TRUE(report.outcome.stalled);
  EXPECT_EQ(report.outcome.stalled->reason, plan::Reason::kMigrationFailed);
  EXPECT_THAT(report.outcome.stalled->message,
              HasSubstr("step shop.0002 failed at statement 2 `SELECT 1/0`: 22012 division by "
                        "zero. The step was rolled back and earlier steps stay applied"));
  ASSERT_TRUE(report.outcome.failure);
  const plan::StepFailure& failure = *report.outcome.failure;
  EXPECT_EQ(failure.migration, Shop("0002"));
  EXPECT_EQ(failure.statement_index, 1);
  EXPECT_EQ(failure.statement, "SELECT 1/0");
  EXPECT_EQ(failure.sql_state, "22012");
  EXPECT_EQ(failure.attempts, 1);
  EXPECT_EQ(failure.at, kNow);
  EXPECT_THAT(Pending(report.outcome), ElementsAre("apply shop.0002", "apply shop.0003"));
  EXPECT_THAT(Done(report), ElementsAre("apply shop.0001"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
  EXPECT_EQ(Runs(Shop("0003")), 0);

  // The next try counts the attempts from the history.
  EXPECT_EQ(Reconcile(ThreeSteps()).outcome.failure->attempts, 2);
}

TEST_F(EngineExecuteTest, ALockTimeoutIsRetriedThenLeftForTheNextReconcile) {
  db_.FailStatement("SELECT pg_sleep(1)", StatementFailure::LockTimeout());
  engine::Options options;
  options.lock_timeout_attempts = 3;
  const engine::Report report = Reconcile(ThreeSteps("SELECT pg_sleep(1)"), options);
  EXPECT_EQ(Runs(Shop("0002")), 3);
  EXPECT_FALSE(report.outcome.stalled);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kApplying);
  EXPECT_THAT(report.outcome.progressing->message,
              HasSubstr("step shop.0002 at statement 2 `SELECT pg_sleep(1)` could not take its "
                        "locks within lockTimeout 5000ms (3 attempts; rolled back each time)"));
  EXPECT_THAT(Pending(report.outcome), ElementsAre("apply shop.0002", "apply shop.0003"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineExecuteTest, ALockTimeoutThatClearsIsNoFailure) {
  db_.FailStatement("SELECT pg_sleep(1)", StatementFailure::LockTimeout(), 1);
  const engine::Report report = Reconcile(ThreeSteps("SELECT pg_sleep(1)"));
  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_FALSE(report.outcome.progressing);
  EXPECT_FALSE(report.outcome.failure);
  EXPECT_EQ(Runs(Shop("0002")), 2);
  EXPECT_EQ(Ledger().size(), 3u);
}

TEST_F(EngineExecuteTest, ARevertThatMeetsLockTimeoutsIsLeftReverting) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1", "SELECT -1"),
                                    SqlStep("0002", "SELECT 2", "SELECT pg_sleep(1)")});
  ReconcileDone(plan);
  db_.FailStatement("SELECT pg_sleep(1)", StatementFailure::LockTimeout());
  Target(plan, "zero");
  plan.policy.revert = plan::RevertPolicy::kAllow;
  const engine::Report report = Reconcile(plan);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kReverting);
  EXPECT_THAT(Pending(report.outcome), ElementsAre("revert shop.0002", "revert shop.0001"));
  EXPECT_EQ(report.outcome.to_revert, 2);
  EXPECT_EQ(Runs(Shop("0002")), 1 + engine::Options{}.lock_timeout_attempts);
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002")}));
}

TEST_F(EngineExecuteTest, ALostConnectionIsRetriedLater) {
  db_.FailStatement("SELECT 'gone'", StatementFailure::ConnectionLost());
  const engine::Report report = Reconcile(ThreeSteps("SELECT 'gone'"));
  EXPECT_FALSE(report.outcome.stalled);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kDatabaseUnavailable);
  EXPECT_THAT(report.outcome.progressing->message,
              HasSubstr("lost the database connection while running shop.0002"));
  EXPECT_EQ(Runs(Shop("0002")), 1);  // not retried on a session that is gone
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineExecuteTest, ABusyLockWaitsForTheNextReconcile) {
  auto other = db_.Connect();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Lock(std::chrono::milliseconds(100)).ok());
  engine::Options options;
  options.lock_wait = std::chrono::milliseconds(20);
  const engine::Report report = Reconcile(ThreeSteps(), options);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kWaitingForLock);
  EXPECT_THAT(report.outcome.progressing->message,
              HasSubstr("another tidemark run is migrating this ledger, will retry"));
  EXPECT_EQ(db_.Calls().run, 0);
  EXPECT_FALSE(report.ledger_read);
}

struct ConnectCase {
  std::string name;
  Status status;
  std::string stalled;      // the Stalled reason, or "" when it is progressing
  std::string progressing;  // the Progressing reason
};
void PrintTo(const ConnectCase& c, std::ostream* out) { *out << c.name; }

class EngineConnectTest : public EngineTest, public ::testing::WithParamInterface<ConnectCase> {};

TEST_P(EngineConnectTest, SaysWhatWentWrong) {
  const ConnectCase& c = GetParam();
  const engine::Connector failing = [&]() -> Result<ledger::StorePtr> { return c.status; };
  const engine::Report report = Reconcile(ThreeSteps(), failing, {});
  EXPECT_EQ(report.outcome.stalled ? plan::ReasonName(report.outcome.stalled->reason) : "",
            c.stalled);
  EXPECT_EQ(report.outcome.progressing ? plan::ReasonName(report.outcome.progressing->reason) : "",
            c.progressing);
  const plan::Problem& problem =
      report.outcome.stalled ? *report.outcome.stalled : *report.outcome.progressing;
  EXPECT_THAT(problem.message, HasSubstr(c.status.message()));
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, EngineConnectTest,
    ::testing::Values(ConnectCase{"NoSecret", Status::NotFound("secret default/db not found"),
                                  "SecretNotFound", ""},
                      ConnectCase{"Unreachable", Status::Unavailable("cannot connect to host db"),
                                  "", "DatabaseUnavailable"},
                      ConnectCase{"NoSchema",
                                  Status::FailedPrecondition("schema \"x\" does not exist"),
                                  "InvalidSpec", ""},
                      // A query that fails on a live session: retrying cannot help.
                      ConnectCase{"QueryFailed",
                                  Status::Internal("ledger query failed: permission denied"),
                                  "InvalidSpec", ""}),
    [](const ::testing::TestParamInfo<ConnectCase>& param) { return param.param.name; });

TEST_F(EngineExecuteTest, FakeAllRecordsEveryStepWithoutRunningIt) {
  db_.FailStatement("SELECT 1/0", StatementFailure::Error("22012", "division by zero"));
  engine::Options options;
  options.fake_all = true;
  const engine::Report report = Reconcile(ThreeSteps(), options);
  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_THAT(Done(report), ElementsAre("fake shop.0001", "fake shop.0002", "fake shop.0003"));
  EXPECT_EQ(Ledger().size(), 3u);
}

TEST_F(EngineExecuteTest, FakeInitialFakesAnInitialStepWhoseTablesExist) {
  const plan::MigrationPlan plan =
      Chain({SqlStep("0001_initial", "CREATE TABLE t (id int); CREATE TABLE u (id int)"),
             SqlStep("0002", "ALTER TABLE t ADD COLUMN c int")});
  engine::Options options;
  options.fake_initial = true;

  MemoryDatabase partial;
  partial.AddTable("t");  // one of its two tables: applied for real
  EXPECT_THAT(Done(Reconcile(
                  plan, [&] { return partial.Connect(); }, options)),
              ElementsAre("apply shop.0001_initial", "apply shop.0002"));

  db_.AddTable("t");
  db_.AddTable("u");
  EXPECT_THAT(Done(Reconcile(plan, options)),
              ElementsAre("fake shop.0001_initial", "apply shop.0002"));
  EXPECT_EQ(Ledger().size(), 2u);
}

TEST_F(EngineExecuteTest, ASquashIsRecordedOnceItsReplacedStepsAreApplied) {
  plan::Step squash = SqlStep("0001_squashed_0002", "SELECT 12");
  squash.replaces = {Shop("0001"), Shop("0002")};
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), SqlStep("0002", "SELECT 2")});
  plan.migrations.push_back(squash);
  db_.AddLedgerRow(Shop("0001"));
  db_.AddLedgerRow(Shop("0002"));
  ReconcileDone(plan);
  EXPECT_EQ(Ledger(),
            (std::set<plan::StepId>{Shop("0001"), Shop("0002"), Shop("0001_squashed_0002")}));
  EXPECT_EQ(Runs(Shop("0001")) + Runs(Shop("0002")), 0);
}

TEST_F(EngineExecuteTest, ASquashOnAnEmptyLedgerRecordsItsReplacedSteps) {
  plan::Step squash = SqlStep("0001_squashed_0002", "SELECT 12");
  squash.replaces = {Shop("0001"), Shop("0002")};
  const engine::Report report = Reconcile(Chain({squash}));
  EXPECT_THAT(Done(report), ElementsAre("apply shop.0001_squashed_0002"));
  EXPECT_EQ(Ledger(),
            (std::set<plan::StepId>{Shop("0001"), Shop("0002"), Shop("0001_squashed_0002")}));
}

// The modes that execute nothing: what each reports, and that it wrote nothing.
struct QuietCase {
  std::string name;
  std::function<void(plan::MigrationPlan&, engine::Options&)> set;
  std::string idle_reason;  // "" when none
  bool reads_ledger;
};
void PrintTo(const QuietCase& c, std::ostream* out) { *out << c.name; }

class EngineQuietModeTest : public EngineExecuteTest,
                            public ::testing::WithParamInterface<QuietCase> {};

TEST_P(EngineQuietModeTest, ExecutesNothing) {
  ReconcileDone(Chain({SqlStep("0001", "SELECT 1")}));
  const CallCounts before = db_.Calls();
  plan::MigrationPlan plan = ThreeSteps();
  engine::Options options;
  GetParam().set(plan, options);
  const engine::Report report = Reconcile(plan, options);

  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_FALSE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.idle_reason ? plan::ReasonName(*report.outcome.idle_reason) : "",
            GetParam().idle_reason);
  EXPECT_THAT(report.done, IsEmpty());
  EXPECT_EQ(db_.Calls().Writes(), before.Writes());
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
  EXPECT_EQ(report.ledger_read, GetParam().reads_ledger);
  if (GetParam().reads_ledger) {
    EXPECT_THAT(Pending(report.outcome), ElementsAre("apply shop.0002", "apply shop.0003"));
    ASSERT_EQ(report.steps.size(), 3u);
    EXPECT_TRUE(report.steps[0].applied);
    EXPECT_FALSE(report.steps[1].applied);
  } else {
    EXPECT_EQ(db_.Calls().read, before.read);  // not even connected
  }
}

INSTANTIATE_TEST_SUITE_P(
    Modes, EngineQuietModeTest,
    ::testing::Values(
        QuietCase{"DryRunOption",
                  [](plan::MigrationPlan&, engine::Options& o) { o.dry_run = true; }, "DryRun",
                  true},
        QuietCase{"DryRunPlan", [](plan::MigrationPlan& p, engine::Options&) { p.dry_run = true; },
                  "DryRun", true},
        QuietCase{"ReadOnly", [](plan::MigrationPlan&, engine::Options& o) { o.execute = false; },
                  "", true},
        QuietCase{"Suspended", [](plan::MigrationPlan& p, engine::Options&) { p.suspend = true; },
                  "Suspended", false}),
    [](const ::testing::TestParamInfo<QuietCase>& param) { return param.param.name; });

// SPEC 1, lastRun.restorePoint: taken once, before the first change, and written in every
// history row of the run; a run with nothing to do takes none.
TEST_F(EngineExecuteTest, ARunRecordsItsRestorePointBeforeItsFirstChange) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1"), SqlStep("0002", "SELECT 2")});
  std::vector<std::string> seen;
  engine::Observer observer;
  observer.on_restore_point = [&](const plan::RestorePoint& point) {
    seen.push_back("restore point " + point.wal_lsn + " after " + std::to_string(db_.Calls().run) +
                   " runs");
  };
  const engine::Report report = engine::Reconcile(
      plan, [this] { return db_.Connect(); }, {}, observer, [] { return std::string(kNow); });
  ASSERT_TRUE(report.outcome.restore_point);
  const std::string lsn = report.outcome.restore_point->wal_lsn;
  EXPECT_THAT(seen, ElementsAre("restore point " + lsn + " after 0 runs"));
  const std::vector<ledger::HistoryRow> rows = db_.HistoryRows();
  ASSERT_EQ(rows.size(), 2u);
  for (const ledger::HistoryRow& row : rows) EXPECT_EQ(row.restore_lsn, lsn) << row.step.ToString();

  const engine::Report nothing = Reconcile(plan);
  EXPECT_FALSE(nothing.outcome.restore_point);
  EXPECT_EQ(db_.Calls().restore_points, 1);
}

TEST_F(EngineExecuteTest, AFailedBackupStopsTheRunWithNothingChanged) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1")});
  engine::Options options;
  int backups = 0;
  options.before_first_change = [&] {
    ++backups;
    return Status::Unavailable("pg_dump exited with code 1: connection refused");
  };
  const engine::Report report = Reconcile(plan, options);
  ASSERT_TRUE(report.outcome.stalled);
  EXPECT_EQ(report.outcome.stalled->reason, plan::Reason::kBackupFailed);
  EXPECT_THAT(report.outcome.stalled->message,
              HasSubstr("the backup before the first change failed, so nothing was changed: "
                        "pg_dump exited with code 1"));
  EXPECT_EQ(backups, 1);
  EXPECT_EQ(db_.Calls().run, 0);
  EXPECT_EQ(db_.Calls().restore_points, 0);
  EXPECT_THAT(Ledger(), IsEmpty());

  options.before_first_change = [&] {
    ++backups;
    return Status::Ok();
  };
  ReconcileDone(plan, options);
  EXPECT_EQ(backups, 2);
  ReconcileDone(plan, options);  // nothing to do: no backup
  EXPECT_EQ(backups, 2);
}

}  // namespace
}  // namespace tidemark::testing
