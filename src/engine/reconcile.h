// One reconcile of a MigrationPlan against its database: read the ledger, compute the
// diff, check every safety rule, then apply or revert steps one transaction each under
// the ledger's advisory lock (SPEC sections 2, 3 and 5).
//
// Shared by the CLI (`tidemark apply`, `run`, ...) and the controller. Everything that can
// stop a plan is checked before the first step runs, so a plan is either refused whole or
// executed in order; a step that fails leaves the steps before it applied.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "engine/runner.h"
#include "ledger/store.h"
#include "plan/graph.h"
#include "plan/model.h"
#include "plan/status.h"
#include "sql/lint.h"

namespace tidemark::engine {

// What the caller wants done, beyond what the plan says.
struct Options {
  bool execute = true;        // false: read-only (status, plan, check): no lock, no writes
  bool dry_run = false;       // compute and report, execute nothing (or plan.dry_run)
  bool fake_all = false;      // record every action without running it (Django --fake)
  bool fake_initial = false;  // or plan.fake_initial
  bool allow_revert = false;  // or plan.policy.revert == Allow
  // The one phase to run (`--phase pre|post`); nullopt runs both. Actions of the other
  // phase are held (Outcome::held), not executed.
  std::optional<plan::Phase> phase;
  std::chrono::milliseconds lock_wait{10'000};  // bound on waiting for the advisory lock
  int lock_timeout_attempts = 3;                // tries of a step whose statements hit lock_timeout
  const Clock* clock = &SystemClock();          // waits between tries; not owned
  // Once requested, the run stops before its next step (the step under way finishes, and
  // its retries stop): a draining controller or an interrupted `run --watch`.
  std::stop_token stop;
  // Runs python steps with the app's code under policy.pythonSteps: Run (spec.runner);
  // not owned. Null: such a step stalls the plan (InvalidSpec), nothing run.
  StepRunner* runner = nullptr;
  // `apply --approve DIGEST`: run only when the pending actions have this digest, whatever
  // policy.approval says; nullopt: spec.approvedDigest, when policy.approval is Required.
  std::optional<std::string> approve;
  // Runs under the lock once every rule passed, before the restore point and the first
  // change (`apply --backup`: pg_dump); an error stops the run with nothing changed.
  std::function<Status()> before_first_change;
};

// Progress callbacks; all optional. Called on the reconciling thread.
struct Observer {
  std::function<void(const plan::Action&, size_t index, size_t count)> on_step_start;
  std::function<void(const plan::Action&, const ledger::StepResult&)> on_step_done;
  std::function<void(double seconds)> on_lock_acquired;
  std::function<void(const plan::RestorePoint&)> on_restore_point;  // before the first change
  // While a step waits for a lock, with the sessions that hold it, once per new set of them.
  // Called from the store's watching thread while the reconciling thread waits in the step.
  std::function<void(const plan::Action&, const std::vector<ledger::Blocker>&)> on_step_blocked;
  // After each batch of a back-fill, on the reconciling thread.
  std::function<void(const plan::Action&, const ledger::BackfillProgress&)> on_backfill_progress;
};

// A step as `tidemark status` shows it.
struct StepView {
  const plan::Step* step = nullptr;
  bool applied = false;
};

struct Report {
  plan::Outcome outcome;
  std::vector<StepView> steps;         // display order, when the ledger was read
  std::vector<plan::StepRecord> done;  // actions executed by this reconcile
  std::string approval_digest;         // of the actions it would run (plan/approval.h); "": none
  bool ledger_read = false;
};

using Connector = std::function<Result<ledger::StorePtr>()>;

// Runs one reconcile. `plan` must have passed resource::CompletePlan. `now` gives RFC 3339
// timestamps (a parameter so that tests can fix it).
Report Reconcile(const plan::MigrationPlan& plan, const Connector& connect, const Options& options,
                 const Observer& observer = {}, const std::function<std::string()>& now = nullptr);

// Marks a dirty non-atomic step, or a python step that the history says spec.runner runs
// elsewhere (a claim whose Job is gone), as resolved by a person (CLI `tidemark resolve`):
// `applied` records it in the ledger, otherwise its rows are removed. False when the step
// was neither (nothing done); InvalidArgument when the plan has no such step.
Result<bool> ResolveDirty(const plan::MigrationPlan& plan, const Connector& connect,
                          const plan::StepId& id, bool applied,
                          std::chrono::milliseconds lock_wait);

// The SQL of a step as it would run, statement by statement; the step's parse error
// otherwise (InvalidArgument naming the step, line and column).
Result<std::vector<std::string>> StepStatements(const plan::Step& step, bool forward);

// Lint findings of the given steps' forward SQL, linted in the given order (the plan's), each
// against the schema the ones before it leave.
std::vector<plan::LintFinding> LintSteps(const std::vector<const plan::Step*>& steps,
                                         sql::LintOptions options);

// RFC 3339 UTC time with seconds, e.g. 2026-11-25T08:40:00Z.
std::string NowRfc3339();

}  // namespace tidemark::engine
