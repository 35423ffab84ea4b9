// Python steps under policy.pythonSteps: Run: what the engine hands to the runner, in which
// order, what it checks in the ledger afterwards, what it records, and when post-migrate
// runs. The runner here plays Django: it writes the ledger row as another session would.
#include "engine/runner.h"

#include "ledger/history.h"
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
    if (!outcome.running.empty()) return outcome;  // a Job runs it: it writes nothing now
    if (outcome.ok && writes_ledger && task.kind == engine::RunnerTask::Kind::kApply) {
      db_.AddLedgerRow(task.step);
    }
    if (outcome.ok && task.then_post_migrate && folded_post_migrate_fails) {
      outcome = Outcome(false, "exited with code 4", "CommandError: post_migrate failed after it");
      outcome.exit_code = engine::kPostMigrateFailedExitCode;
      if (killed_in_post_migrate) {  // by the timeout, so no exit code
        outcome = Outcome(false, "timed out after 1h (spec.runner.timeout) and was killed", "");
      }
    }
    outcome.duration_ms = 42;
    return outcome;
  }
  bool FoldsPostMigrate() const override { return folds; }

  // Tasks that finished between reconciles (as Jobs do), until marked recorded; with
  // `forget_marks`, the marks are lost (a controller that stopped before it wrote them).
  std::vector<engine::FinishedTask> Unrecorded() override { return finished; }
  std::optional<engine::RunningTask> Running() override { return running; }
  engine::RunState Find(const std::string& run_id) override {
    return known.count(run_id) ? known[run_id] : engine::RunState::kUnknown;
  }
  void MarkRecorded(const engine::FinishedTask& done) override {
    if (forget_marks) return;
    std::erase_if(finished, [&](const engine::FinishedTask& f) { return f.id == done.id; });
  }

  engine::RunnerOutcome result = Outcome(true, "", "");
  bool writes_ledger = true;
  bool folds = false;  // as a child process runner does
  bool folded_post_migrate_fails = false;
  bool killed_in_post_migrate = false;  // with folded_post_migrate_fails
  std::vector<std::string> asked;
  std::vector<engine::FinishedTask> finished;
  bool forget_marks = false;
  std::optional<engine::RunningTask> running;
  std::map<std::string, engine::RunState> known;

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

// shop.0001 (SQL), 0002 (python, the run's last step).
plan::MigrationPlan PythonLast() {
  plan::MigrationPlan plan = Backfill();
  plan.migrations.pop_back();
  return plan;
}

TEST_F(EngineRunnerTest, TheRunsLastStepCarriesThePostMigrateWhenTheRunnerCan) {
  runner_.folds = true;
  const engine::Report report = Run(PythonLast());
  EXPECT_FALSE(report.outcome.stalled) << report.outcome.stalled->message;
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002 then post-migrate"));
  EXPECT_EQ(engine::RunnerArguments({engine::RunnerTask::Kind::kApply, Shop("0002"), true}),
            (std::vector<std::string>{"apply", "shop", "0002", "--post-migrate"}));
  EXPECT_THAT(History(Shop("0002")), ElementsAre("apply by runner"));
  EXPECT_THAT(History(ledger::kPostMigrateRow), ElementsAre("apply by runner"));
}

TEST_F(EngineRunnerTest, ARunnerKilledAfterItsStepOwesThePostMigrate) {
  runner_.folds = true;
  runner_.folded_post_migrate_fails = true;
  runner_.killed_in_post_migrate = true;
  const engine::Report report = Run(PythonLast());
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "the steps were applied, but the runner's post-migrate timed out after 1h");
  EXPECT_THAT(History(Shop("0002")), ElementsAre("apply by runner"));
  EXPECT_THAT(History(ledger::kPostMigrateRow), ElementsAre("failure by runner"));
}

TEST_F(EngineRunnerTest, AFailedStepThatWouldHaveCarriedThePostMigrateIsAFailedStep) {
  runner_.folds = true;
  runner_.result = Outcome(false, "exited with code 1", "Traceback: ZeroDivisionError");
  const engine::Report report = Run(PythonLast());
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "the runner (apply shop.0002) exited with code 1");
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
  EXPECT_TRUE(History(ledger::kPostMigrateRow).empty());
}

TEST_F(EngineRunnerTest, APostMigrateFollowsTheSqlStepsAfterTheLastPythonStep) {
  runner_.folds = true;
  Run(Backfill());
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002", "post-migrate"));
}

TEST_F(EngineRunnerTest, ARunnerThatCannotCarryThePostMigrateRunsItApart) {  // Jobs
  Run(PythonLast());
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002", "post-migrate"));
}

TEST_F(EngineRunnerTest, ACarriedPostMigrateThatFailsKeepsTheStepAndRunsAgain) {
  runner_.folds = true;
  runner_.folded_post_migrate_fails = true;
  const engine::Report report = Run(PythonLast());
  ExpectStalled(report, plan::Reason::kRunnerFailed,
                "the steps were applied, but the runner's post-migrate exited with code 4");
  EXPECT_THAT(report.outcome.stalled->message, HasSubstr("post_migrate failed after it"));
  EXPECT_EQ(Ledger(), (std::set<plan::StepId>{Shop("0001"), Shop("0002")}));
  EXPECT_THAT(History(Shop("0002")), ElementsAre("apply by runner"));
  EXPECT_THAT(History(ledger::kPostMigrateRow), ElementsAre("failure by runner"));
  // Owed: the next run, with nothing pending, runs post-migrate alone.
  runner_.folded_post_migrate_fails = false;
  const engine::Report again = Run(PythonLast());
  EXPECT_FALSE(again.outcome.stalled) << again.outcome.stalled->message;
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002 then post-migrate", "post-migrate"));
  EXPECT_THAT(History(ledger::kPostMigrateRow),
              ElementsAre("failure by runner", "apply by runner"));
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
  EXPECT_THAT(report.outcome.stalled->message, HasSubstr("tidemark runs it again on its next run"));
  EXPECT_EQ(Ledger(), std::set<plan::StepId>{Shop("0001")});
}

TEST_F(EngineRunnerTest, AFailedPostMigrateRunsAgainUntilItSucceeds) {
  plan::MigrationPlan plan = Chain({SqlStep("0001", "SELECT 1")});
  plan.runner = Command({"manage"});
  runner_.result = Outcome(false, "exited with code 2", "");
  Run(plan);
  // Nothing is pending now, but the post-migrate is owed: it runs again, and says so.
  engine::Report again = Run(plan);
  ExpectStalled(again, plan::Reason::kRunnerFailed, "post-migrate exited with code 2");
  EXPECT_THAT(again.outcome.notes,
              ElementsAre("post-migrate runs again: the last one failed after its steps were "
                          "applied (1 failure)"));
  runner_.result = Outcome(true, "", "");
  again = Run(plan);
  EXPECT_FALSE(again.outcome.stalled) << again.outcome.stalled->message;
  EXPECT_THAT(again.outcome.notes, ElementsAre(HasSubstr("(2 failures)")));
  EXPECT_THAT(runner_.asked, ElementsAre("post-migrate", "post-migrate", "post-migrate"));
  // Done: the next run owes nothing.
  EXPECT_TRUE(Run(plan).outcome.notes.empty());
  EXPECT_EQ(runner_.asked.size(), 3u);
  EXPECT_THAT(History(ledger::kPostMigrateRow),
              ElementsAre("failure by runner", "failure by runner", "apply by runner"));
}

// shop.0002 handed to a Job ("Job default/j1 (uid 1)"), which runs on.
engine::RunnerOutcome RunsAsJob() {
  engine::RunnerOutcome outcome;
  outcome.running = "Job j1 runs apply shop.0002";
  outcome.run_id = "Job default/j1 (uid 1)";
  return outcome;
}

TEST_F(EngineRunnerTest, AStepRunningElsewhereIsClaimedAndOtherRunsWaitForIt) {
  plan::MigrationPlan plan = Backfill();
  plan.runner->post_migrate = false;
  runner_.result = RunsAsJob();
  engine::Report report = Run(plan);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kRunnerRunning);
  EXPECT_THAT(History(Shop("0002")), ElementsAre("runner-start by runner"));

  // A `tidemark apply` by hand (its own runner) on the same ledger starts nothing.
  FakeRunner by_hand(db_);
  engine::Options options;
  options.runner = &by_hand;
  report = Reconcile(plan, options);
  ASSERT_TRUE(report.outcome.progressing);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kWaitingForLock);
  EXPECT_THAT(report.outcome.progressing->message,
              HasSubstr("step shop.0002 is being applied by spec.runner of plan default/orders "
                        "elsewhere: Job default/j1 (uid 1), since "));
  EXPECT_THAT(report.outcome.progressing->message, HasSubstr("tidemark resolve shop.0002"));
  EXPECT_TRUE(by_hand.asked.empty());
  EXPECT_EQ(Runs(Shop("0003")), 0);

  // The controller: its Job runs on; no second claim.
  runner_.known["Job default/j1 (uid 1)"] = engine::RunState::kHeld;
  runner_.running = engine::RunningTask{
      "Job j1 is running", engine::RunnerTask{engine::RunnerTask::Kind::kApply, Shop("0002")},
      "Job default/j1 (uid 1)"};
  report = Run(plan);
  EXPECT_EQ(report.outcome.progressing->reason, plan::Reason::kRunnerRunning);
  // It finishes: recorded, the claim ends, and the rest runs; so may the run by hand.
  runner_.running.reset();
  db_.AddLedgerRow(Shop("0002"));
  engine::RunnerOutcome applied = Outcome(true, "", "");
  applied.run_id = "Job default/j1 (uid 1)";
  runner_.finished = {{{engine::RunnerTask::Kind::kApply, Shop("0002")}, applied, "j1"}};
  report = Run(plan);
  EXPECT_FALSE(report.outcome.progressing) << report.outcome.progressing->message;
  EXPECT_THAT(History(Shop("0002")), ElementsAre("runner-start by runner", "apply by runner"));
  EXPECT_EQ(Runs(Shop("0003")), 1);
  EXPECT_FALSE(Reconcile(plan, options).outcome.progressing);
}

TEST_F(EngineRunnerTest, AClaimWhoseJobIsGoneEndsAndTheStepRunsAgain) {
  plan::MigrationPlan plan = Backfill();
  plan.runner->post_migrate = false;
  runner_.result = RunsAsJob();
  Run(plan);
  // The Job was deleted before it finished: its runner says so, and the step gets a new one.
  runner_.known["Job default/j1 (uid 1)"] = engine::RunState::kGone;
  runner_.result.run_id = "Job default/j1 (uid 2)";
  const engine::Report report = Run(plan);
  EXPECT_THAT(report.outcome.notes,
              ElementsAre("Job default/j1 (uid 1), which ran shop.0002, is gone without an "
                          "outcome; the step runs again if it is still pending"));
  EXPECT_THAT(runner_.asked, ElementsAre("apply shop.0002", "apply shop.0002"));
  EXPECT_THAT(History(Shop("0002")), ElementsAre("runner-start by runner", "runner-lost by runner",
                                                 "runner-start by runner"));
}

TEST_F(EngineRunnerTest, AClaimOfAPlanThatIsGoneIsResolvedByHand) {
  plan::MigrationPlan plan = Backfill();
  plan.runner->post_migrate = false;
  runner_.result = RunsAsJob();
  Run(plan);
  auto resolved = engine::ResolveDirty(
      plan, [this] { return db_.Connect(); }, Shop("0002"),
      /*applied=*/false, std::chrono::seconds(1));
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_TRUE(*resolved);
  FakeRunner by_hand(db_);
  engine::Options options;
  options.runner = &by_hand;
  EXPECT_FALSE(Reconcile(plan, options).outcome.progressing);
  EXPECT_THAT(by_hand.asked, ElementsAre("apply shop.0002"));
}

TEST_F(EngineRunnerTest, AFinishedTaskFoundAgainAfterACrashIsRecordedOnce) {
  // A Job applied shop.0002 (its Django wrote the ledger row) while no reconcile waited.
  ReconcileDone(Chain({SqlStep("0001", "SELECT 1")}));
  db_.AddLedgerRow(Shop("0002"));
  engine::RunnerOutcome applied = Outcome(true, "", "");
  applied.run_id = "uid-of-job-1";
  runner_.finished = {{{engine::RunnerTask::Kind::kApply, Shop("0002")}, applied, "job-1"}};
  runner_.forget_marks = true;
  plan::MigrationPlan plan = Backfill();
  plan.runner->post_migrate = false;
  EXPECT_FALSE(Run(plan).outcome.stalled);
  EXPECT_FALSE(Run(plan).outcome.stalled);  // it finds the Job unmarked again
  EXPECT_THAT(History(Shop("0002")), ElementsAre("apply by runner"));
  EXPECT_TRUE(runner_.asked.empty());  // nothing ran twice either

  // A failed Job likewise counts as one attempt, and another Job of the step is another.
  engine::RunnerOutcome failed = Outcome(false, "ran as Job job-2, which failed", "boom");
  failed.run_id = "uid-of-job-2";
  runner_.finished = {{{engine::RunnerTask::Kind::kRevert, Shop("0002")}, failed, "job-2"}};
  Run(plan);
  Run(plan);
  failed.run_id = "uid-of-job-3";
  runner_.finished = {{{engine::RunnerTask::Kind::kRevert, Shop("0002")}, failed, "job-3"}};
  Run(plan);
  EXPECT_THAT(History(Shop("0002")),
              ElementsAre("apply by runner", "failure by runner", "failure by runner"));
}

}  // namespace
}  // namespace tidemark::testing
