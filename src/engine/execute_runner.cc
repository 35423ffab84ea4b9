// Python steps under policy.pythonSteps: Run: handed to spec.runner (the app's own code,
// engine/runner.h) while this reconcile keeps the ledger's lock. The runner writes the
// step's ledger rows itself (Django's executor does, in the step's transaction); the engine
// then reads the ledger to check that it did, and writes the history row.
#include "base/hash.h"
#include "base/log.h"
#include "engine/reconciler.h"
#include "ledger/history.h"

namespace tidemark::engine {

using plan::Action;
using plan::ActionKind;
using plan::Step;
using plan::StepId;

bool Reconciler::ByRunner(const Action& action) const {
  return action.step->python && action.kind != ActionKind::kFake && !options_.fake_all &&
         plan_.policy.python_steps == plan::PythonStepsPolicy::kRun;
}

// Empty when the ledger now says what the runner was asked to do; otherwise what is wrong
// and what to check.
std::string Reconciler::CheckLedgerAfterRunner(const Action& action) {
  const plan::Step& step = *action.step;
  const bool forward = action.kind != ActionKind::kRevert;
  auto read = store_->Read(PlanApps(plan_));
  if (!read.ok()) return "cannot read the ledger after the runner: " + read.status().message();
  ledger_ = std::move(read->applied);
  // A squash's own row stays behind when Django 3.2 unapplies it; its replaced rows go.
  const StepId& row = forward || step.replaces.empty() ? step.id : step.replaces.front();
  if ((ledger_.count(row) > 0) == forward) return "";
  return std::string("the runner exited 0, but the ledger ") + store_->Describe() +
         (forward ? " has no row for " : " still has the row of ") + row.ToString() +
         ": check that spec.runner uses the same database as spec.database (its settings or "
         "DATABASE_URL) and that its command is `manage.py tidemark_step`";
}

RunnerTask Reconciler::TaskOf(const Action& action) {
  return {action.kind == ActionKind::kRevert ? RunnerTask::Kind::kRevert : RunnerTask::Kind::kApply,
          action.step->id};
}

std::optional<ledger::StepResult> Reconciler::RunByRunner(const Action& action,
                                                          const ledger::StepRun& run, bool last) {
  RunnerTask task = TaskOf(action);
  task.then_post_migrate = last && PostMigrateWanted() && options_.runner->FoldsPostMigrate();
  const RunnerOutcome outcome = options_.runner->Run(task, options_.stop);
  if (!outcome.running.empty()) {
    ClaimStep(task, outcome.run_id);
    report_.outcome.progressing = plan::Problem{
        plan::Reason::kRunnerRunning, outcome.running + "; the plan goes on when it finishes"};
    return std::nullopt;
  }
  if (!task.then_post_migrate) return RunnerResult(action, run, outcome);
  // The step was done and its post-migrate failed after it (its exit code says so, or the
  // runner was killed or timed out once the ledger had the step): the step is checked as
  // done, and the post-migrate is owed.
  const bool post_migrate_failed = outcome.exit_code == kPostMigrateFailedExitCode ||
                                   (!outcome.ok && CheckLedgerAfterRunner(action).empty());
  RunnerOutcome step = outcome;
  if (post_migrate_failed) {
    step.ok = true;
    step.failure.clear();
  }
  const ledger::StepResult result = RunnerResult(action, run, step);
  if (result.ok && (outcome.ok || post_migrate_failed)) {
    post_migrated_ = true;
    RunnerOutcome post_migrate = outcome;
    post_migrate.duration_ms = 0;  // counted in the step's row
    if (RecordPostMigrate(post_migrate)) history_.failures.erase(ledger::kPostMigrateRow);
  }
  return result;
}

ledger::StepResult Reconciler::RunnerResult(const Action& action, const ledger::StepRun& run,
                                            const RunnerOutcome& outcome) {
  const RunnerTask task = TaskOf(action);
  ledger::StepResult result;
  result.by_runner = true;
  result.duration_ms = outcome.duration_ms;
  result.runner_run_id = outcome.run_id;
  if (outcome.ok) {
    result.error.message = CheckLedgerAfterRunner(action);
  } else {
    result.error.message =
        "the runner (" + DescribeTask(task) + ") " + outcome.failure +
        (outcome.output_tail.empty() ? ""
                                     : "; the last lines of its output:\n" + outcome.output_tail);
  }
  result.ok = result.error.message.empty();
  history_.claims.erase(action.step->id);  // the outcome's row ends the runner's claim
  if (outcome.recorded) return result;     // its history row is written already
  // The store masks the database's password in the row, whatever the runner printed.
  if (Status recorded = store_->RecordRunnerStep(run, result); !recorded.ok()) {
    log::Warn("runner step not recorded in the history",
              {{"step", run.id.ToString()}, {"error", recorded.message()}});
  }
  return result;
}

// Tasks the runner finished between reconciles (Jobs), checked against the ledger just read
// and recorded once, as if this reconcile had run them. False when one failed: the plan
// stalls on it.
bool Reconciler::RecordFinishedRunnerTasks() {
  if (options_.runner == nullptr) return true;
  for (const FinishedTask& finished : options_.runner->Unrecorded()) {
    const RunnerTask& task = finished.task;
    const Step* step = task.kind == RunnerTask::Kind::kPostMigrate ? nullptr : Find(task.step);
    if (task.kind == RunnerTask::Kind::kPostMigrate) {
      const bool ok = RecordPostMigrate(finished.outcome);
      options_.runner->MarkRecorded(finished);
      if (!ok) return false;
      continue;
    }
    if (step == nullptr) {
      // A step the plan no longer has: nothing of the ledger to check.
      options_.runner->MarkRecorded(finished);
      continue;
    }
    const Action action{
        task.kind == RunnerTask::Kind::kRevert ? ActionKind::kRevert : ActionKind::kApply, step};
    const ledger::StepRun run = RunnerStepRun(step->id, task.kind != RunnerTask::Kind::kRevert);
    const ledger::StepResult result = RunnerResult(action, run, finished.outcome);
    options_.runner->MarkRecorded(finished);
    if (observer_.on_step_done) observer_.on_step_done(action, result);
    if (!result.ok) {
      RecordFailure(action, run, result, 1, 0);
      return false;
    }
    RecordSuccess(action, run, result);
  }
  return true;
}

// The history's run of a step that the runner ran elsewhere (`id` may be a step the plan no
// longer has).
ledger::StepRun Reconciler::RunnerStepRun(const StepId& id, bool forward) const {
  ledger::StepRun run;
  run.id = id;
  run.direction = forward ? ledger::Direction::kForward : ledger::Direction::kBackward;
  if (const Step* step = Find(id)) {
    run.atomic = step->atomic;
    run.records = Records(*step, forward);
    run.checksum = Sha256Hex(step->forward);
  }
  run.plan = Ref();
  return run;
}

// A step that runs elsewhere as `run_id` (a Job) is claimed in the history, once, so that
// other tidemark runs on the ledger (a `tidemark apply` by hand, another plan) wait for it.
void Reconciler::ClaimStep(const RunnerTask& task, const std::string& run_id) {
  if (task.kind == RunnerTask::Kind::kPostMigrate || run_id.empty()) return;
  const auto claimed = history_.claims.find(task.step);
  if (claimed != history_.claims.end() && claimed->second.run_id == run_id) return;
  const bool forward = task.kind != RunnerTask::Kind::kRevert;
  if (Status written = store_->RecordRunnerClaim(RunnerStepRun(task.step, forward), run_id, true);
      !written.ok()) {
    log::Warn("runner step not claimed in the history",
              {{"step", task.step.ToString()}, {"run", run_id}, {"error", written.message()}});
    return;
  }
  history_.claims[task.step] = {forward, run_id, plan_.Key(), now_()};
}

// The steps that the history says the runner runs elsewhere: this plan's own (its runner
// holds them, or they are gone and their claims end here), or else a run of another process
// that this one waits for. False when it must wait.
bool Reconciler::CheckRunnerClaims() {
  for (auto claim = history_.claims.begin(); claim != history_.claims.end();) {
    const auto& [id, held] = *claim;
    const RunState state = options_.runner != nullptr && held.plan == plan_.Key()
                               ? options_.runner->Find(held.run_id)
                               : RunState::kUnknown;
    if (state == RunState::kHeld) {
      ++claim;
      continue;
    }
    if (state == RunState::kGone) {
      if (Status ended =
              store_->RecordRunnerClaim(RunnerStepRun(id, held.forward), held.run_id, false);
          !ended.ok()) {
        log::Warn("runner claim not ended in the history",
                  {{"step", id.ToString()}, {"run", held.run_id}, {"error", ended.message()}});
      }
      report_.outcome.notes.push_back(held.run_id + ", which ran " + id.ToString() +
                                      ", is gone without an outcome; the step runs again if "
                                      "it is still pending");
      claim = history_.claims.erase(claim);
      continue;
    }
    report_.outcome.progressing = plan::Problem{
        plan::Reason::kWaitingForLock,
        "step " + id.ToString() + " is being " + (held.forward ? "applied" : "reverted") +
            " by spec.runner of plan " + held.plan + " elsewhere: " + held.run_id + ", since " +
            held.since +
            "; no step starts on this ledger until its outcome is recorded, will "
            "retry. If that run is gone for good, check the ledger and run `tidemark resolve " +
            id.ToString() + " --state applied|unapplied`"};
    return false;
  }
  return true;
}

plan::Problem Reconciler::PostMigrateFailed(const RunnerOutcome& outcome) {
  return plan::Problem{
      plan::Reason::kRunnerFailed,
      "the steps were applied, but the runner's post-migrate " + outcome.failure +
          (outcome.output_tail.empty() ? "" : " (last output: " + outcome.output_tail + ")") +
          "; content types and permissions of new models may be missing until it runs once. "
          "tidemark runs it again on its next run (the controller: after a change of the plan, "
          "or once the failed Job is deleted); `manage.py tidemark_step post-migrate` does the "
          "same"};
}

// Writes the history row of a finished post-migrate (once per run, as for steps), and
// stalls the plan when it failed; false then.
bool Reconciler::RecordPostMigrate(const RunnerOutcome& outcome) {
  if (!outcome.recorded) {
    ledger::StepRun run;
    run.id = ledger::kPostMigrateRow;
    run.plan = Ref();
    ledger::StepResult result;
    result.ok = outcome.ok;
    result.by_runner = true;
    result.duration_ms = outcome.duration_ms;
    result.runner_run_id = outcome.run_id;
    if (!outcome.ok) result.error.message = PostMigrateFailed(outcome).message;
    if (Status recorded = store_->RecordRunnerStep(run, result); !recorded.ok()) {
      log::Warn("post-migrate not recorded in the history", {{"error", recorded.message()}});
    }
  }
  if (outcome.ok) return true;
  report_.outcome.stalled = PostMigrateFailed(outcome);
  return false;
}

bool Reconciler::PostMigrateWanted() const {
  return plan_.runner && plan_.runner->post_migrate && options_.runner != nullptr;
}

// After a run that changed the ledger (unless its last step carried it), or while the
// history says that the last post-migrate failed: `post-migrate` once, so that what
// Django's post_migrate handlers create (content types, permissions, groups) follows the
// steps.
void Reconciler::PostMigrate() {
  const auto failed = history_.failures.find(ledger::kPostMigrateRow);
  const bool owed = failed != history_.failures.end();
  if (post_migrated_ || (report_.done.empty() && !owed) || !PostMigrateWanted() ||
      report_.outcome.failure || report_.outcome.progressing) {
    return;
  }
  const std::string again =
      owed && report_.done.empty()
          ? "post-migrate runs again: the last one failed after its steps were applied (" +
                std::to_string(failed->second) + (failed->second == 1 ? " failure" : " failures") +
                ")"
          : "";
  if (!again.empty()) report_.outcome.notes.push_back(again);
  const RunnerOutcome outcome =
      options_.runner->Run({RunnerTask::Kind::kPostMigrate, {}}, options_.stop);
  if (!outcome.running.empty()) {
    report_.outcome.progressing = plan::Problem{
        plan::Reason::kRunnerRunning, outcome.running + "; the plan is ready when it finishes" +
                                          (again.empty() ? "" : " (" + again + ")")};
    return;
  }
  if (RecordPostMigrate(outcome)) history_.failures.erase(ledger::kPostMigrateRow);
}

}  // namespace tidemark::engine
