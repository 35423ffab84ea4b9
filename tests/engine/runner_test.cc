// Python steps under policy.pythonSteps: Run: what the engine hands to the runner, in which
// order, what it checks in the ledger afterwards, what it records, and when post-migrate
// runs. The runner here plays Django: it writes the ledger row as another session would.
#include "engine/runner.h"

#include "tests/engine/engine_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

engine::RunnerOutcome Outcome(bool ok, std::string failure, std::string tail) {
  engine::RunnerOutcome outcome;
  outcome.ok = ok;
  outcome.failure = std::move(failure);
  outcome.output_tail = std::move(tail);
  return outcome;
}

plan::RunnerSpec Command(std::vector<std::string> command) {
  plan::RunnerSpec spec;
  spec.command = std::move(command);
  return spec;
}

// Does what it is told for each task and remembers what it was asked.
class FakeRunner : public engine::StepRunner {
 public:
  explicit FakeRunner(MemoryDatabase& db) : db_(db) {}

  engine::RunnerOutcome Run(const engine::RunnerTask& task, std::stop_token) override {
    asked.push_back(engine::DescribeTask(task));
    engine::RunnerOutcome outcome = result;
    if (outcome.ok && writes_ledger && task.kind == engine::RunnerTask::Kind::kApply) {
      db_.AddLedgerRow(task.step);
    }
    outcome.duration_ms = 42;
    return outcome;
  }

  engine::RunnerOutcome result = Outcome(true, "", "");
  bool writes_ledger = true;
  std::vector<std::string> asked;

 private:
  MemoryDatabase& db_;
};

// shop.0001 (SQL), 0002 (python: a back-fill), 0003 (SQL).
plan::MigrationPlan Backfill() {
  plan::Step backfill = SqlStep("0002", "");
  backfill.python = true;
  plan::MigrationPlan plan =
      Chain({SqlStep("0001", "SELECT 1"), backfill, SqlStep("0003", "SELECT 3")});
  plan.policy.python_steps = plan::PythonStepsPolicy::kRun;
  plan.runner = Command({"python3", "manage.py", "tidemark_step"});
  return plan;
}

// The plan stalled for `reason`, its message holding `text`.
void ExpectStalled(const engine::Report& report, plan::Reason reason, const std::string& text) {
  ASSERT_TRUE(report.outcome.stalled);
  EXPECT_EQ(report.outcome.stalled->reason, reason);
  EXPECT_THAT(report.outcome.stalled->message, HasSubstr(text));
}

class EngineRunnerTest : public EngineTest {
 protected:
  engine::Report Run(const plan::MigrationPlan& plan) {
    engine::Options options;
    options.runner = &runner_;
    return Reconcile(plan, options);
  }
  std::vector<std::string> History(const plan::StepId& id) const {
    std::vector<std::string> rows;
    for (const ledger::HistoryRow& row : db_.HistoryRows()) {
      if (row.step == id) rows.push_back(row.action + (row.by_runner ? " by runner" : ""));
    }
    return rows;
  }

  FakeRunner runner_{db_};
};

TEST_F(EngineRunnerTest, PythonStepsGoToTheRunnerInOrderAndPostMigrateFollows) {
  const engine::Report report = Run(Backfill());
  EXPECT_FALSE(report.outcome.stalled) << report.outcome.stalled->message;
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002", "post-migrate"));
  EXPECT_THAT(Done(report), ElementsAre("apply shop.0001", "apply shop.0002", "apply shop.0003"));
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002"), Shop("0003")}));
  EXPECT_EQ(Runs(Shop("0002")), 0);  // the store never ran it
  EXPECT_THAT(History(Shop("0002")), ElementsAre("apply by runner"));
  EXPECT_THAT(History(Shop("0003")), ElementsAre("apply"));
  EXPECT_EQ(report.done[1].duration_ms, 42);
  EXPECT_TRUE(report.outcome.notes.empty());  // no "recorded without running" note
}

TEST_F(EngineRunnerTest, NothingChangedMeansNoPostMigrateAndPostMigrateCanBeOff) {
  ReconcileDone(Chain({SqlStep("0001", "SELECT 1")}));
  plan::MigrationPlan plan = Backfill();
  plan.runner->post_migrate = false;
  Run(plan);
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002"));
  runner_.asked.clear();
  plan.runner->post_migrate = true;
  Run(plan);
  EXPECT_TRUE(runner_.asked.empty());
}

TEST_F(EngineRunnerTest, ARunnerThatLeavesTheLedgerAloneStallsTheStep) {
  runner_.writes_ledger = false;
  const engine::Report report = Run(Backfill());
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "step shop.0002: the runner exited 0, but the ledger memory/public/"
                "django_migrations has no row for shop.0002: check that spec.runner "
                "uses the same database as spec.database");
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002"));  // no post-migrate
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
  EXPECT_EQ(Runs(Shop("0003")), 0);
  EXPECT_THAT(Pending(report.outcome), ElementsAre("apply shop.0002", "apply shop.0003"));
  EXPECT_THAT(History(Shop("0002")), ElementsAre("failure by runner"));
}

TEST_F(EngineRunnerTest, AFailedRunnerStallsWithItsExitAndOutputAndCountsAttempts) {
  runner_.result = Outcome(false, "exited with code 1", "Traceback\nboom");
  const engine::Report report = Run(Backfill());
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "step shop.0002: the runner (apply shop.0002) exited with code 1; the "
                "last lines of its output:\nTraceback\nboom");
  ASSERT_TRUE(report.outcome.failure);
  EXPECT_EQ(report.outcome.failure->attempts, 1);
  EXPECT_EQ(Run(Backfill()).outcome.failure->attempts, 2);
  runner_.result = Outcome(true, "", "");
  EXPECT_FALSE(Run(Backfill()).outcome.stalled);
  EXPECT_THAT(History(Shop("0002")),
              ElementsAre("failure by runner", "failure by runner", "apply by runner"));
}

TEST_F(EngineRunnerTest, WithoutARunnerNothingRuns) {
  const engine::Report report = Reconcile(Backfill());
  ExpectStalled(report, plan::Reason::kInvalidSpec,
                "step shop.0002 has Python code for spec.runner to run, but there is no "
                "runner here");
  EXPECT_EQ(db_.Calls().run, 0);
}

TEST_F(EngineRunnerTest, ReadingNeedsNoRunner) {
  engine::Options read_only;
  read_only.execute = false;
  const engine::Report report = Reconcile(Backfill(), read_only);
  EXPECT_FALSE(report.outcome.stalled);
  EXPECT_THAT(Pending(report.outcome),
              ElementsAre("apply shop.0001", "apply shop.0002", "apply shop.0003"));
}

TEST_F(EngineRunnerTest, AFailedPostMigrateStallsAfterTheSteps) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1")});
  plan.runner = Command({"manage"});
  runner_.result = Outcome(false, "exited with code 2", "");
  const engine::Report report = Run(plan);
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "the steps were applied, but the runner's post-migrate exited with code "
                "2");
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

}  // namespace
}  // namespace tidemark::testing
