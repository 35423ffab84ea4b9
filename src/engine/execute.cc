// The step executor: each action runs through ledger::Store::Run, a step that meets lock
// timeouts is retried with back-off, and the outcome says what was done and, when a step
// failed, what went wrong and what happens next.
#include <algorithm>
#include <random>

#include "base/backoff.h"
#include "base/hash.h"
#include "base/text.h"
#include "engine/reconciler.h"

namespace tidemark::engine {
namespace {

using plan::Action;
using plan::ActionKind;
using plan::Problem;
using plan::Step;
using plan::StepId;

std::string Quoted(const std::string& statement) {
  std::string text = Truncate(statement, 120);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return "`" + text + "`";
}

bool Forward(const Action& action) { return action.kind != ActionKind::kRevert; }

}  // namespace

void Reconciler::SetPending(size_t from) {
  plan::Outcome& out = report_.outcome;
  out.pending.clear();
  out.to_revert = 0;
  for (size_t i = from; i < actions_.size(); ++i) {
    out.pending.push_back(PendingOf(actions_[i]));
    if (actions_[i].kind == ActionKind::kRevert) ++out.to_revert;
  }
}

plan::PendingAction Reconciler::PendingOf(const Action& action) const {
  return {plan::Recorded(action.kind != ActionKind::kRevert,
                         action.kind == ActionKind::kFake || options_.fake_all),
          action.step->id};
}

// Django's check_replacements: a squash whose replaced steps are all applied is recorded
// too, so that the squash stays applied once its `replaces` list is removed.
void Reconciler::RecordCompletedSquashes() {
  for (const Step& step : plan_.migrations) {
    if (step.replaces.empty() || ledger_.count(step.id)) continue;
    const bool complete = std::all_of(step.replaces.begin(), step.replaces.end(),
                                      [&](const StepId& id) { return ledger_.count(id) > 0; });
    if (!complete) continue;
    ledger::StepRun run;
    run.id = step.id;
    run.fake = true;
    run.records = {step.id};
    run.checksum = Sha256Hex(step.forward);
    run.plan = Ref();
    if (store_->Run(run).ok) ledger_.insert(step.id);
  }
}

ledger::StepRun Reconciler::StepRunOf(const Action& action) const {
  const Step& step = *action.step;
  const bool forward = Forward(action);
  ledger::StepRun run;
  run.id = step.id;
  run.direction = forward ? ledger::Direction::kForward : ledger::Direction::kBackward;
  run.atomic = step.atomic;
  run.fake = action.kind == ActionKind::kFake || options_.fake_all;
  if (!run.fake) {
    run.statements = statements_.at(&step);
    if (auto concurrent = concurrent_.find(&step); concurrent != concurrent_.end()) {
      run.concurrent = concurrent->second;
    }
  }
  run.records = Records(step, forward);
  run.checksum = Sha256Hex(step.forward);
  run.lock_timeout = plan_.policy.lock_timeout;
  run.statement_timeout = plan_.policy.statement_timeout;
  run.concurrent_lock_timeout = plan_.policy.concurrent_lock_timeout;
  if (auto resume = resume_at_.find(step.id); resume != resume_at_.end() && forward && !run.fake) {
    run.resume_at = resume->second;
  }
  run.plan = Ref();
  run.restore_point = restore_point_;
  if (step.kind == plan::StepKind::kBackfill && forward && !run.fake) {
    ledger::BackfillRun& backfill = run.backfill.emplace();
    backfill.batch_delay = step.backfill.batch_delay;
    backfill.max_batches = step.backfill.max_batches;
    backfill.pause = [this](Millis delay) {
      return options_.clock->SleepFor(delay, options_.stop);
    };
    if (observer_.on_backfill_progress) {
      backfill.on_progress = [this, action](const ledger::BackfillProgress& progress) {
        observer_.on_backfill_progress(action, progress);
      };
    }
  }
  if (observer_.on_step_blocked) {
    run.on_blocked = [this, action](const std::vector<ledger::Blocker>& blockers) {
      observer_.on_step_blocked(action, blockers);
    };
  }
  return run;
}

// Runs the step, again after a back-off while its statements hit lock_timeout (each try
// rolled back), up to options.lock_timeout_attempts tries or a stop request.
ledger::StepResult Reconciler::RunWithRetries(const ledger::StepRun& run, int* attempts) {
  thread_local std::mt19937 random(std::random_device{}());  // seeded once: a read of /dev/urandom
  ledger::StepResult result;
  std::vector<std::string> notes;  // of every try
  *attempts = 0;
  while (true) {
    ++*attempts;
    const int64_t batches_before = result.backfill ? result.backfill->batches : 0;
    result = store_->Run(run);
    notes.insert(notes.end(), result.notes.begin(), result.notes.end());
    result.notes = notes;
    // A back-fill that got on before a batch met lock_timeout keeps its batches: the tries
    // are counted from its last progress.
    if (result.backfill && result.backfill->batches > batches_before) *attempts = 1;
    if (result.ok || !result.error.lock_timeout || result.error.dirty ||
        *attempts >= options_.lock_timeout_attempts) {
      return result;
    }
    const double jitter = std::uniform_real_distribution<double>(0, 1)(random);
    const Millis delay =
        BackoffDelay(BackoffPolicy::Reconcile(), static_cast<uint32_t>(*attempts), jitter);
    if (!options_.clock->SleepFor(delay, options_.stop)) return result;
  }
}

void Reconciler::RecordSuccess(const Action& action, const ledger::StepRun& run,
                               const ledger::StepResult& result) {
  const Step& step = *action.step;
  const bool forward = Forward(action);
  report_.done.push_back({step.id, plan::Recorded(forward, run.fake), now_(),
                          static_cast<int64_t>(result.duration_ms + 0.5)});
  report_.outcome.applied += forward ? 1 : -1;
  for (const StepId& id : run.records) {
    if (forward) {
      ledger_.insert(id);
    } else {
      ledger_.erase(id);
    }
  }
  auto view = std::find_if(report_.steps.begin(), report_.steps.end(),
                           [&](const StepView& shown) { return shown.step->id == step.id; });
  if (view != report_.steps.end()) view->applied = forward;
  if (step.python && !run.fake && !result.by_runner) record_only_.push_back(step.id.ToString());
}

// A failed step: the failure for the status, and whether the plan stalls (fix something)
// or is still progressing (the next reconcile retries).
void Reconciler::RecordFailure(const Action& action, const ledger::StepRun& run,
                               const ledger::StepResult& result, int attempts, size_t index) {
  const ledger::StepError& error = result.error;
  plan::Outcome& out = report_.outcome;
  const Step& step = *action.step;
  const bool forward = Forward(action);
  std::string kept;  // a back-fill's batches done, which stay done
  if (result.backfill) {
    out.backfill = ledger::StatusOf(step.id, *result.backfill);
    kept = " (" + ledger::RowsInBatches(*result.backfill) +
           " done so far stay done; the next run goes on from there)";
  }
  if (error.stopped && !error.not_converging) {  // a shutdown between batches: no failure
    SetPending(index);
    out.progressing =
        Problem{plan::Reason::kApplying, "back-fill " + step.id.ToString() + " " + error.message};
    return;
  }
  plan::StepFailure failure;
  failure.migration = step.id;
  failure.statement_index = error.statement_index;
  failure.statement = Truncate(error.statement, plan::kMaxFailureStatement);
  failure.sql_state = error.sql_state;
  failure.message = error.message;
  failure.at = now_();
  failure.attempts = history_.failures[step.id] + 1;
  out.failure = failure;
  SetPending(index);
  const std::string where = error.statement_index >= 0
                                ? " at statement " + std::to_string(error.statement_index + 1) +
                                      " " + Quoted(error.statement)
                                : "";
  const std::string sql_state = error.sql_state.empty() ? "" : error.sql_state + " ";
  if (ByRunner(action)) {
    out.stalled = Problem{plan::Reason::kRunnerFailed,
                          "step " + step.id.ToString() + ": " + error.message +
                              ". tidemark recorded no ledger row for it; fix the cause, then the "
                              "plan retries on its next change (or the next tidemark apply/run)"};
  } else if (error.not_converging) {
    out.stalled =
        Problem{plan::Reason::kMigrationFailed,
                "back-fill " + step.id.ToString() + " stopped unrecorded: " + error.message +
                    ". Fix its statement so that it skips the rows it has done, or "
                    "raise maxBatches"};
  } else if (error.dirty && error.connection_lost &&
             BuildsIndexAt(run.concurrent, error.statement_index)) {
    out.progressing = Problem{plan::Reason::kDatabaseUnavailable,
                              "lost the database connection while running " + step.id.ToString() +
                                  where + " (" + error.message +
                                  "); the next run checks that index build and goes on from it; "
                                  "will retry"};
  } else if (error.dirty) {
    out.stalled =
        Problem{plan::Reason::kDirtyNonAtomic,
                "non-atomic step " + step.id.ToString() + " stopped" + where + ": " + sql_state +
                    error.message +
                    "; its earlier statements stay done. Check the database, then set "
                    "spec.resolve: [{migration: " +
                    step.id.ToString() + ", state: applied|unapplied}] or run `tidemark resolve " +
                    step.id.ToString() + " --state applied|unapplied`"};
  } else if (error.connection_lost) {
    out.progressing = Problem{plan::Reason::kDatabaseUnavailable,
                              "lost the database connection while running " + step.id.ToString() +
                                  " (rolled back: " + error.message + "); will retry"};
  } else if (error.lock_timeout) {
    const bool concurrent =
        std::any_of(run.concurrent.begin(), run.concurrent.end(),
                    [&](const ledger::ConcurrentStatement& statement) {
                      return static_cast<int>(statement.statement_index) == error.statement_index;
                    });
    const std::string budget =
        concurrent ? "concurrentLockTimeout " +
                         std::to_string(plan_.policy.concurrent_lock_timeout.count())
                   : "lockTimeout " + std::to_string(plan_.policy.lock_timeout.count());
    out.progressing = Problem{
        forward ? plan::Reason::kApplying : plan::Reason::kReverting,
        "step " + step.id.ToString() + where + " could not take its locks within " + budget +
            "ms (" + std::to_string(attempts) + " attempts; " +
            (run.backfill ? "each batch that met it rolled back"
             : run.atomic ? "rolled back each time"
                          : "nothing of it stays done") +
            ")" + kept +
            (error.blockers.empty() ? ""
                                    : "; blocked by " + ledger::DescribeBlockers(error.blockers)) +
            "; will retry"};
  } else {
    out.stalled = Problem{
        plan::Reason::kMigrationFailed,
        "step " + step.id.ToString() + " failed" + where + ": " + sql_state + error.message +
            (run.backfill ? ". Its failing batch was rolled back" + kept
                          : ". The step was rolled back") +
            " and earlier steps stay applied; fix the step's SQL or the database, and the plan "
            "retries"};
  }
}

// The backup asked for, then the restore point (SPEC 1, lastRun.restorePoint): both before
// the first change, and false, with nothing changed, when either cannot be had.
bool Reconciler::BeforeFirstChange() {
  if (actions_.empty()) return true;
  plan::Outcome& out = report_.outcome;
  if (options_.before_first_change) {
    if (Status backed_up = options_.before_first_change(); !backed_up.ok()) {
      out.stalled = Problem{plan::Reason::kBackupFailed,
                            "the backup before the first change failed, so nothing was changed: " +
                                backed_up.message()};
      return false;
    }
  }
  auto marked = store_->MarkRestorePoint();
  if (!marked.ok()) {
    SetDatabaseProblem(marked.status(),
                       "cannot record the restore point before the first change "
                       "(nothing was changed): ");
    return false;
  }
  restore_point_ = *marked;
  out.restore_point = *marked;
  if (observer_.on_restore_point) observer_.on_restore_point(*marked);
  return true;
}

void Reconciler::ExecuteActions() {
  plan::Outcome& out = report_.outcome;
  size_t next = actions_.size();  // the first action not done
  if (const std::optional<RunningTask> running =
          options_.runner ? options_.runner->Running() : std::nullopt) {
    // Claimed already, unless the process that started it stopped before it could.
    if (running->task) ClaimStep(*running->task, running->run_id);
    out.progressing = Problem{plan::Reason::kRunnerRunning,
                              running->what + "; no other step starts until it finishes"};
    return;
  }
  for (size_t i = 0; i < actions_.size(); ++i) {
    const Action& action = actions_[i];
    if (options_.stop.stop_requested()) {
      SetPending(i);
      out.progressing =
          Problem{Forward(action) ? plan::Reason::kApplying : plan::Reason::kReverting,
                  "stopped before " + action.step->id.ToString() + " (" +
                      std::to_string(actions_.size() - i) +
                      " steps left): shutting down; the next run goes on from here"};
      next = i;
      break;
    }
    const ledger::StepRun run = StepRunOf(action);
    if (run.resume_at) {
      out.notes.push_back(action.step->id.ToString() +
                          ": an earlier run was interrupted at statement " +
                          std::to_string(*run.resume_at + 1) + "; going on from there");
    }
    if (observer_.on_step_start) observer_.on_step_start(action, i, actions_.size());
    int attempts = 1;
    const std::optional<ledger::StepResult> ran =
        ByRunner(action) ? RunByRunner(action, run, i + 1 == actions_.size())
                         : RunWithRetries(run, &attempts);
    if (!ran) {  // a Job runs the step: a later reconcile records it
      SetPending(i);
      next = i;
      break;
    }
    const ledger::StepResult result = Redacted(*ran);
    if (observer_.on_step_done) observer_.on_step_done(action, result);
    for (const std::string& note : result.notes) {
      log::Info("step note", {{"step", action.step->id.ToString()}, {"note", note}});
      out.notes.push_back(action.step->id.ToString() + ": " + note);
    }
    if (!result.ok) {
      RecordFailure(action, run, result, attempts, i);
      next = i;
      break;
    }
    RecordSuccess(action, run, result);
  }
  if (!out.failure && !out.progressing) {
    SetPending(actions_.size());
    RecordCompletedSquashes();
    PostMigrate();
  }
  ApprovalOfRest(next);
  if (!report_.done.empty()) out.last_applied = report_.done.back();
  if (!record_only_.empty()) {
    std::string note;
    for (const auto& id : record_only_) note += (note.empty() ? "" : ", ") + id;
    out.notes.push_back(
        "recorded without running their Python code "
        "(pythonSteps: RecordOnly): " +
        note);
  }
}

}  // namespace tidemark::engine
