// The seam through which the engine hands a python step to the application's own code
// (policy.pythonSteps: Run and spec.runner, SPEC section 5).
//
// The engine keeps its advisory lock and runs SQL steps itself; for a python step it asks a
// StepRunner to run `apply APP NAME` or `revert APP NAME` with the app's code (Django's
// `manage.py tidemark_step`), then checks the ledger itself. Implementations: a child
// process for `tidemark run` and `apply` (cli/process_runner.h). A StepRunner is used by one
// reconcile at a time, on its thread.
#pragma once

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
};

// The words appended to the runner's command: `apply APP NAME`, `revert APP NAME` or
// `post-migrate` (the protocol of manage.py tidemark_step, docs/django.md).
std::vector<std::string> RunnerArguments(const RunnerTask& task);

// "apply shop.0003_backfill", for messages.
std::string DescribeTask(const RunnerTask& task);

struct RunnerOutcome {
  bool ok = false;          // exited 0
  std::string failure;      // when !ok: "exited with code 1", "timed out after 1h and was killed"
  std::string output_tail;  // its last lines of output: bounded, valid UTF-8, secrets redacted
  double duration_ms = 0;
};

class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // Runs the task to its end. A stop request ends the runner early (it is killed): the
  // outcome is then a failure.
  virtual RunnerOutcome Run(const RunnerTask& task, std::stop_token stop) = 0;
};

}  // namespace tidemark::engine
