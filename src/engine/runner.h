// The seam through which the engine hands a python step to the application's own code
// (policy.pythonSteps: Run and spec.runner, SPEC section 5).
//
// The engine keeps its advisory lock and runs SQL steps itself; for a python step it asks a
// StepRunner to run `apply APP NAME` or `revert APP NAME` with the app's code (Django's
// `manage.py tidemark_step`), then checks the ledger itself. Implementations: a child
// process for `tidemark run` and `apply` (cli/process_runner.h), which runs a task to its end;
// a Job per task in a cluster (operator/job_runner.h), which does not: the reconcile ends
// while the Job runs, and a later one (woken by the Job's change) records its outcome. A
// StepRunner is used by one reconcile at a time, on its thread.
#pragma once

#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "plan/model.h"

namespace tidemark::engine {

// What the runner is asked to do.
struct RunnerTask {
  enum class Kind { kApply, kRevert, kPostMigrate };
  Kind kind = Kind::kApply;
  plan::StepId step;  // kApply, kRevert
  // kApply, kRevert: post-migrate follows the step in the same process, as it follows
  // `migrate` (the run's last step, with a runner that FoldsPostMigrate).
  bool then_post_migrate = false;
};

// The words appended to the runner's command: `apply APP NAME`, `revert APP NAME` (each then
// `--post-migrate` when asked) or `post-migrate` (the protocol of manage.py tidemark_step,
// docs/django.md).
std::vector<std::string> RunnerArguments(const RunnerTask& task);

// The runner's exit code for a step it did whose post-migrate then failed
// (RunnerTask::then_post_migrate).
inline constexpr int kPostMigrateFailedExitCode = 4;

// "apply shop.0003_backfill", for messages.
std::string DescribeTask(const RunnerTask& task);

struct RunnerOutcome {
  bool ok = false;          // exited 0
  std::string failure;      // when !ok: "exited with code 1", "timed out after 1h and was killed"
  std::string output_tail;  // its last lines of output: bounded, valid UTF-8, secrets redacted
  double duration_ms = 0;
  int exit_code = -1;  // when its process exited by itself; -1 when killed, not started, elsewhere
  // The task runs elsewhere and has not finished (a Job): `running` says what runs, for the
  // status; the engine ends this reconcile there, having claimed the step in the history
  // (ledger::Store::RecordRunnerClaim) as `run_id`, so that other runs start nothing meanwhile.
  std::string running;
  // An earlier reconcile recorded this outcome already (its history row is written).
  bool recorded = false;
  // The runner's lasting id of this run (a Job's name and uid), for runs that a reconcile other
  // than the one that started them may record: the history keeps one row per id however often it is
  // recorded (ledger::Store::RecordRunnerStep). "": each Run is a run of its own.
  std::string run_id;
};

// A task that runs elsewhere now (a Job).
struct RunningTask {
  std::string what;                // for the status: "Job ... (apply shop.0003) is running"
  std::optional<RunnerTask> task;  // which, when the runner can tell
  std::string run_id;              // RunnerOutcome::run_id of that run, or ""
};

// What a runner knows of a run that the history says its plan started elsewhere (a
// runner-start row, ledger::History::claims).
enum class RunState {
  kUnknown,  // not the runner's to tell: another process's, or it cannot see now
  kHeld,     // it runs, or it finished and its outcome is not recorded yet
  kGone,     // no outcome will come: it was deleted
};

// A task that finished while no reconcile waited for it, with its outcome.
struct FinishedTask {
  RunnerTask task;
  RunnerOutcome outcome;
  std::string id;  // the runner's name for it (a Job's), for MarkRecorded
};

// The last `lines` lines of a runner's `output`, each made printable (base::Printable: at
// most `line_bytes` bytes, invalid UTF-8 replaced by U+FFFD), every occurrence of a `secrets` value
// and every connection-string password replaced by ***: what status, events and the CLI may show of
// it.
std::string OutputTail(const std::string& output, const std::vector<std::string>& secrets,
                       size_t lines, size_t line_bytes);

class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // Runs the task to its end. A stop request ends the runner early (it is killed): the
  // outcome is then a failure.
  virtual RunnerOutcome Run(const RunnerTask& task, std::stop_token stop) = 0;

  // Whether the run's last step may carry its post-migrate (RunnerTask::then_post_migrate):
  // one process instead of two, as `migrate` runs. A Job runner keeps one task per Job.
  virtual bool FoldsPostMigrate() const { return false; }

  // For runners whose tasks outlive a reconcile (a Job); the defaults suit one that runs
  // each task to its end.
  // What of this plan still runs, if anything: no other step may start meanwhile.
  virtual std::optional<RunningTask> Running() { return std::nullopt; }
  // What it knows of the run `run_id` of this plan's.
  virtual RunState Find(const std::string& run_id) {
    (void)run_id;
    return RunState::kUnknown;
  }
  // Tasks that finished and whose outcome the engine has not recorded yet, oldest first.
  virtual std::vector<FinishedTask> Unrecorded() { return {}; }
  // The engine recorded `finished` (its history row, its status): it is not returned again.
  virtual void MarkRecorded(const FinishedTask& finished) { (void)finished; }
};

}  // namespace tidemark::engine
