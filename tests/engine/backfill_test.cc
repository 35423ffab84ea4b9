// Back-fill steps (kind: Backfill) through the engine against the in-memory ledger: the
// batch statement checked before anything runs, batches until one changes no row, the
// lock_timeout retries counted from the last progress, and what the outcome says when a
// back-fill stops unfinished.
#include <gmock/gmock.h>

#include "tests/engine/engine_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kBatch[] =
    "UPDATE shop_item SET c = 0 WHERE id IN (SELECT id FROM shop_item WHERE c IS NULL LIMIT 10)";

plan::Step BackfillStep(const std::string& name, const std::string& forward) {
  plan::Step step = SqlStep(name, forward, std::nullopt);
  step.kind = plan::StepKind::kBackfill;
  step.backfill.batch_delay = std::chrono::milliseconds(0);
  return step;
}

plan::MigrationPlan Plan(const std::string& forward) {
  return Chain({SqlStep("0001", "CREATE TABLE shop_item (id int, c int)"),
                BackfillStep("0002_fill", forward)});
}

class BackfillTest : public EngineTest {};

TEST_F(BackfillTest, RunsBatchesUntilOneChangesNoRowAndReportsEach) {
  db_.BatchRows(kBatch, {10, 10, 5});
  std::vector<int64_t> rows;
  engine::Observer observer;
  observer.on_backfill_progress = [&](const plan::Action& action,
                                      const ledger::BackfillProgress& progress) {
    EXPECT_EQ(action.step->id, Shop("0002_fill"));
    rows.push_back(progress.rows);
  };
  const engine::Report report = engine::Reconcile(
      Plan(kBatch), [this] { return db_.Connect(); }, {}, observer, [] { return "now"; });
  ASSERT_FALSE(report.outcome.stalled) << report.outcome.stalled->message;
  ASSERT_FALSE(report.outcome.progressing) << report.outcome.progressing->message;
  EXPECT_EQ(rows, (std::vector<int64_t>{10, 20, 25, 25}));
  EXPECT_FALSE(report.outcome.backfill);  // done: nothing left to show
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002_fill")}));
  EXPECT_EQ(Runs(Shop("0002_fill")), 1);
}

TEST_F(BackfillTest, AnythingButOneBatchStatementIsRefusedBeforeAnythingRuns) {
  const std::string prefix =
      "step shop.0002_fill (engine_test) forward: a back-fill (kind: Backfill) runs exactly one "
      "UPDATE, DELETE or INSERT ... SELECT, again in transactions of its own until it changes no "
      "row; found ";
  const std::string suffix =
      ". Put other SQL (DDL, several statements, BEGIN/COMMIT) in a step of its own";
  const std::pair<std::string, std::string> cases[] = {
      {std::string(kBatch) + "; " + kBatch, "2 statements"},
      {"ALTER TABLE shop_item ADD COLUMN d int", "`ALTER TABLE shop_item ADD COLUMN d int`"},
      {"BEGIN; " + std::string(kBatch) + "; COMMIT", "3 statements"},
      {"INSERT INTO shop_item VALUES (1, 2)", "`INSERT INTO shop_item VALUES (1, 2)`"},
      {"SELECT 1", "`SELECT 1`"},
  };
  for (const auto& [forward, found] : cases) {
    const engine::Report report = Reconcile(Plan(forward));
    ASSERT_TRUE(report.outcome.stalled) << forward;
    EXPECT_EQ(report.outcome.stalled->reason, plan::Reason::kInvalidSpec);
    EXPECT_EQ(report.outcome.stalled->message, prefix + found + suffix);
    EXPECT_TRUE(Ledger().empty()) << forward;  // refused before the first step
  }
  for (const char* forward :
       {"DELETE FROM shop_item WHERE id IN (SELECT id FROM shop_item LIMIT 5)",
        "INSERT INTO shop_copy SELECT * FROM shop_item LIMIT 5 ON CONFLICT DO NOTHING",
        "WITH b AS (SELECT id FROM shop_item WHERE c IS NULL LIMIT 5) UPDATE shop_item SET c = 1 "
        "FROM b WHERE shop_item.id = b.id"}) {
    MemoryDatabase db;
    const engine::Report report = engine::Reconcile(
        Plan(forward), [&db] { return db.Connect(); }, {}, {}, [] { return "now"; });
    EXPECT_FALSE(report.outcome.stalled) << forward << ": " << report.outcome.stalled->message;
  }
}

TEST_F(BackfillTest, LockTimeoutsAreRetriedAndCountedFromTheLastProgress) {
  // Two tries meet lock_timeout, the third gets a batch done and then meets it again, twice
  // more: 4 failed tries, never 3 in a row without progress, so the back-fill gets through
  // with lock_timeout_attempts 3.
  db_.BatchRows(kBatch, {10, 10});
  db_.FailStatement(kBatch, StatementFailure::LockTimeout(), 2);
  bool scripted = false;
  engine::Observer observer;
  observer.on_backfill_progress = [&](const plan::Action&, const ledger::BackfillProgress&) {
    if (!scripted) db_.FailStatement(kBatch, StatementFailure::LockTimeout(), 2);
    scripted = true;
  };
  const engine::Report report = engine::Reconcile(
      Plan(kBatch), [this] { return db_.Connect(); }, {}, observer, [] { return "now"; });
  ASSERT_FALSE(report.outcome.progressing) << report.outcome.progressing->message;
  EXPECT_EQ(Runs(Shop("0002_fill")), 5);
  EXPECT_EQ(Ledger().count(Shop("0002_fill")), 1u);
}

TEST_F(BackfillTest, ABackfillThatKeepsMeetingLockTimeoutIsLeftWithItsCounts) {
  db_.FailStatement(kBatch, StatementFailure::LockTimeout());
  const engine::Report report = Reconcile(Plan(kBatch));
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kApplying);
  EXPECT_THAT(report.outcome.progressing->message,
              HasSubstr("could not take its locks within lockTimeout 5000ms (3 attempts; each "
                        "batch that met it rolled back) (0 rows in 0 batches done so far stay "
                        "done; the next run goes on from there); will retry"));
  ASSERT_TRUE(report.outcome.backfill);
  EXPECT_EQ(report.outcome.backfill->migration, Shop("0002_fill"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(BackfillTest, MaxBatchesStallsTheBackfillAsNotConverging) {
  db_.BatchRows(kBatch, {10, 10, 10, 10});
  plan::MigrationPlan plan = Plan(kBatch);
  plan.migrations[1].backfill.max_batches = 3;
  const engine::Report report = Reconcile(plan);
  ASSERT_TRUE(report.outcome.stalled);
  EXPECT_EQ(report.outcome.stalled->reason, plan::Reason::kMigrationFailed);
  EXPECT_THAT(report.outcome.stalled->message,
              HasSubstr("back-fill shop.0002_fill stopped unrecorded: 3 batches (maxBatches 3)"));
  EXPECT_THAT(report.outcome.stalled->message,
              HasSubstr("Fix its statement so that it skips the rows it has done, or raise "
                        "maxBatches"));
  ASSERT_TRUE(report.outcome.backfill);
  EXPECT_EQ(report.outcome.backfill->rows, 30);
  EXPECT_EQ(report.outcome.backfill->batches, 3);
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(BackfillTest, AStopBetweenBatchesLeavesItForTheNextRun) {
  db_.BatchRows(kBatch, {10, 10, 10});
  std::stop_source stop;
  engine::Options options;
  options.stop = stop.get_token();
  engine::Observer observer;
  observer.on_backfill_progress = [&](const plan::Action&, const ledger::BackfillProgress& p) {
    if (p.batches == 2) stop.request_stop();  // a shutdown during the second batch
  };
  const engine::Report stopped = engine::Reconcile(
      Plan(kBatch), [this] { return db_.Connect(); }, options, observer, [] { return "now"; });
  ASSERT_TRUE(stopped.outcome.progressing);
  EXPECT_THAT(stopped.outcome.progressing->message,
              HasSubstr("back-fill shop.0002_fill stopped after 2 batches: shutting down; the "
                        "next run goes on from there"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});

  const engine::Report resumed = Reconcile(Plan(kBatch));
  ASSERT_FALSE(resumed.outcome.progressing) << resumed.outcome.progressing->message;
  EXPECT_THAT(resumed.outcome.notes,
              ::testing::Contains("shop.0002_fill: went on from an earlier run's 20 rows in 2 "
                                  "batches"));
  EXPECT_EQ(Ledger().count(Shop("0002_fill")), 1u);
}

TEST_F(BackfillTest, ABackfillRevertsWithItsBackwardSqlOrIsIrreversible) {
  plan::MigrationPlan plan = Plan(kBatch);
  ReconcileDone(plan);
  Target(plan, "0001");
  plan.policy.revert = plan::RevertPolicy::kAllow;
  const engine::Report irreversible = Reconcile(plan);
  ASSERT_TRUE(irreversible.outcome.stalled);
  EXPECT_EQ(irreversible.outcome.stalled->reason, plan::Reason::kIrreversible);
  plan.migrations[1].backward = "UPDATE shop_item SET c = NULL";  // one plain statement
  ReconcileDone(plan);
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

}  // namespace
}  // namespace tidemark::testing
