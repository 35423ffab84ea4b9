// Python steps under policy.pythonSteps: Run: handed to spec.runner (the app's own code,
// engine/runner.h) while this reconcile keeps the ledger's lock. The runner writes the
// step's ledger rows itself (Django's executor does, in the step's transaction); the engine
// then reads the ledger to check that it did, and writes the history row.
#include "base/log.h"
#include "engine/reconciler.h"

namespace tidemark::engine {

using plan::Action;
using plan::ActionKind;
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

ledger::StepResult Reconciler::RunByRunner(const Action& action, const ledger::StepRun& run) {
  const RunnerTask task{
      action.kind == ActionKind::kRevert ? RunnerTask::Kind::kRevert : RunnerTask::Kind::kApply,
      action.step->id};
  const RunnerOutcome outcome = options_.runner->Run(task, options_.stop);
  ledger::StepResult result;
  result.by_runner = true;
  result.duration_ms = outcome.duration_ms;
  if (outcome.ok) {
    result.error.message = CheckLedgerAfterRunner(action);
  } else {
    result.error.message =
        "the runner (" + DescribeTask(task) + ") " + outcome.failure +
        (outcome.output_tail.empty() ? ""
                                     : "; the last lines of its output:\n" + outcome.output_tail);
  }
  result.ok = result.error.message.empty();
  if (Status recorded = store_->RecordRunnerStep(run, result); !recorded.ok()) {
    log::Warn("runner step not recorded in the history",
              {{"step", run.id.ToString()}, {"error", recorded.message()}});
  }
  return result;
}

// After a run that changed the ledger: `post-migrate` once, so that what Django's
// post_migrate handlers create (content types, permissions, groups) follows the steps.
void Reconciler::PostMigrate() {
  if (report_.done.empty() || !plan_.runner || !plan_.runner->post_migrate ||
      options_.runner == nullptr || report_.outcome.failure || report_.outcome.progressing) {
    return;
  }
  const RunnerOutcome outcome =
      options_.runner->Run({RunnerTask::Kind::kPostMigrate, {}}, options_.stop);
  if (outcome.ok) return;
  report_.outcome.stalled = plan::Problem{
      plan::Reason::kRunnerFailed,
      "the steps were applied, but the runner's post-migrate " + outcome.failure +
          (outcome.output_tail.empty() ? "" : " (last output: " + outcome.output_tail + ")") +
          "; content types and permissions of new models may be missing until `manage.py "
          "tidemark_step post-migrate` (or `manage.py migrate`) runs once"};
}

}  // namespace tidemark::engine
