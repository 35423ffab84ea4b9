// spec.runner as a child process, for `tidemark run` and `apply` (engine/runner.h).
//
// Each task runs `runner.command` with the task's words appended (`apply APP NAME`, ...),
// in `runner.workingDir`, with tidemark's environment plus `runner.env`, in a process group
// of its own. It is killed (SIGTERM, then SIGKILL after a grace period) when it outlives
// `runner.timeout` or the reconcile is asked to stop. Its standard output and error are
// captured together; the last lines are kept, redacted of the env values that came from
// sources (Secrets, env, files) and of connection-string passwords.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/runner.h"
#include "plan/model.h"
#include "resource/objects.h"

namespace tidemark::cli {

// A program run to its end as a child process: in a process group of its own, standard
// input /dev/null, output and error captured together (the last 64 KiB kept). It is ended
// (SIGTERM, then SIGKILL after ProcessRunner::kGrace) at its timeout or a stop request.
struct ChildSpec {
  std::vector<std::string> argv;                         // argv[0] looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added to tidemark's environment
  std::string working_dir;                               // empty: tidemark's own
  std::chrono::milliseconds timeout{0};                  // 0: none
};

struct ChildResult {
  enum class End { kSucceeded, kFailed, kNotStarted, kTimedOut, kStopped };
  End end = End::kNotStarted;
  std::string failure;  // kFailed: "exited with code 1", ...; kNotStarted: the system's reason
  int exit_code = -1;   // kSucceeded, kFailed: the code it exited with; -1: killed by a signal
  std::string output;
};

ChildResult RunChild(const ChildSpec& spec, std::stop_token stop);

class ProcessRunner : public engine::StepRunner {
 public:
  // The runner of `plan` (which must have runner.command), its env resolved from `objects`
  // (Secrets in the plan files) and the local environment and files.
  static Result<std::unique_ptr<ProcessRunner>> Make(const plan::MigrationPlan& plan,
                                                     resource::ObjectSource& objects);

  engine::RunnerOutcome Run(const engine::RunnerTask& task, std::stop_token stop) override;
  bool FoldsPostMigrate() const override { return true; }

  // How long a runner asked to end (SIGTERM) has before it is killed.
  static constexpr std::chrono::seconds kGrace{5};
  // At most this many lines of output, each cut to kMaxLineBytes, are kept.
  static constexpr size_t kTailLines = 20;
  static constexpr size_t kMaxLineBytes = 300;

 private:
  ProcessRunner() = default;

  std::vector<std::string> command_;
  std::string working_dir_;
  std::vector<std::pair<std::string, std::string>> env_;
  std::vector<std::string> secrets_;  // env values from sources: never shown
  std::chrono::milliseconds timeout_{0};
};

}  // namespace tidemark::cli
