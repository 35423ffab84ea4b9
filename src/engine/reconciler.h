// The engine's inside: the Reconciler that carries out one engine::Reconcile, and the
// small pieces its files share. Not for use outside src/engine (reconcile.h is the
// interface).
//
// reconcile.cc holds the orchestration (connect, lock, read, diff), checks.cc the safety
// rules checked before the first step, execute.cc the step executor, step_sql.cc the SQL
// of steps parsed once per run. A Reconciler lives for one reconcile, on one thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "engine/reconcile.h"
#include "sql/parse.h"

namespace tidemark::engine {

using ParsedSql = Result<std::vector<sql::Statement>>;

// Each step's SQL parsed once per reconcile, on first use, with parse trees when
// `with_trees` (lint and fake-initial read them); statements, lint findings and created
// tables all come from the one parse.
class ParsedSteps {
 public:
  explicit ParsedSteps(bool with_trees) : with_trees_(with_trees) {}
  // The parse of `step`'s forward or backward SQL (a missing backward SQL is empty).
  // `step` must outlive this.
  const ParsedSql& Get(const plan::Step& step, bool forward);

 private:
  bool with_trees_;
  std::map<std::pair<const plan::Step*, bool>, ParsedSql> parsed_;
};

// The statements of a step's parsed SQL, or its parse error worded for the user
// (InvalidArgument naming the step, its origin and the direction).
Result<std::vector<std::string>> StatementTexts(const plan::Step& step, bool forward,
                                                const ParsedSql& parsed);

// Why a back-fill's forward SQL (parsed with trees) is not one batch statement, for the
// InvalidSpec message; nothing when it is one.
std::optional<std::string> NotABatchStatement(const plan::Step& step,
                                              const std::vector<sql::Statement>& parsed);

// The statements of a non-atomic step's SQL (parsed with trees) that run CONCURRENTLY.
std::vector<ledger::ConcurrentStatement> ConcurrentStatements(
    const std::vector<sql::Statement>& parsed);

// Whether statement `index` of a non-atomic step is an index build with a name (which the
// catalog can tell done, INVALID or absent after an interruption).
bool BuildsIndexAt(const std::vector<ledger::ConcurrentStatement>& concurrent, int index);

// Releases the advisory lock however the reconcile ends.
class LockRelease {
 public:
  explicit LockRelease(ledger::Store* store) : store_(store) {}
  // A failed unlock is logged: the lock goes with the session, which a failing one loses.
  ~LockRelease() {
    if (store_ == nullptr) return;
    if (Status unlocked = store_->Unlock(); !unlocked.ok()) {
      log::Warn("ledger lock not released",
                {{"ledger", store_->Describe()}, {"error", unlocked.message()}});
    }
  }
  LockRelease(const LockRelease&) = delete;
  LockRelease& operator=(const LockRelease&) = delete;

 private:
  ledger::Store* store_;
};

// Lint findings of the steps' forward SQL, in order; `parsed` must parse with trees. A step
// whose SQL does not parse has none (the statement check reports it).
std::vector<plan::LintFinding> LintForward(const std::vector<const plan::Step*>& steps,
                                           ParsedSteps& parsed, sql::LintOptions options);

// The ledger rows of a step: its own and, for a squash, those of the steps it replaces.
std::vector<plan::StepId> LedgerRows(const plan::Step& step);

// The apps of a plan's steps: its part of a ledger other plans may share.
std::vector<std::string> PlanApps(const plan::MigrationPlan& plan);

class Reconciler {
 public:
  Reconciler(const plan::MigrationPlan& plan, const Options& options, const Observer& observer,
             std::function<std::string()> now);

  // The report, with the store's secrets (ledger::Store::Secrets) masked in all it says.
  Report Run(const Connector& connect);

 private:
  Report RunPhases(const Connector& connect);
  // `result` with the store's secrets masked, before anyone logs or shows it.
  ledger::StepResult Redacted(ledger::StepResult result) const;

  bool Execute() const { return options_.execute && !DryRun(); }
  bool DryRun() const { return options_.dry_run || plan_.dry_run; }
  bool FakeInitial() const { return options_.fake_initial || plan_.fake_initial; }
  ledger::PlanRef Ref() const {
    return {plan_.meta.ns, plan_.meta.name, plan_.meta.uid, plan_.meta.generation};
  }
  const plan::Step* Find(const plan::StepId& id) const;
  std::vector<plan::StepId> Records(const plan::Step& step, bool forward) const;

  // reconcile.cc: the phases before the safety rules; false when the run ends there.
  bool ConnectStore(const Connector& connect);
  bool LockLedger();
  bool ReadLedger(const std::vector<std::string>& apps);
  bool ComputeActions();
  void RecordDrift(const plan::Diff& diff);
  void SetDatabaseProblem(const Status& status, const std::string& stall_context);
  void ApplyResolutions();
  void ConvertFakeInitial();
  bool SelectPhase();

  // checks.cc: the safety rules, in the order they are checked.
  std::optional<plan::Problem> CheckBeforeRunning();
  std::optional<plan::Problem> CheckDirty();
  bool Resumable(const plan::StepId& id, const ledger::DirtyStep& dirty);
  static plan::Problem DirtyProblem(const plan::StepId& id, const ledger::DirtyStep& dirty);
  std::optional<plan::Problem> CheckChecksums() const;
  std::optional<plan::Problem> CheckUnknownApplied() const;
  std::optional<plan::Problem> CheckStatements();
  std::optional<plan::Problem> CheckReverts() const;
  std::optional<plan::Problem> CheckPythonSteps() const;
  std::optional<plan::Problem> CheckLint();
  // After the rules: the actions' digest, and whether they wait for a person's approval.
  bool AwaitsApproval();
  // After a run: the approval the status shows is that of the actions from `next` on.
  void ApprovalOfRest(size_t next);

  // execute.cc: the step executor.
  bool BeforeFirstChange();
  void ExecuteActions();
  ledger::StepRun StepRunOf(const plan::Action& action) const;
  ledger::StepResult RunWithRetries(const ledger::StepRun& run, int* attempts);
  // execute_runner.cc: python steps handed to spec.runner, and its post-migrate.
  bool ByRunner(const plan::Action& action) const;
  static RunnerTask TaskOf(const plan::Action& action);
  // Nullopt while the runner's task still runs (a Job): the outcome is then progressing.
  // `last`: the run's last action, which may carry the run's post-migrate.
  std::optional<ledger::StepResult> RunByRunner(const plan::Action& action,
                                                const ledger::StepRun& run, bool last);
  ledger::StepResult RunnerResult(const plan::Action& action, const ledger::StepRun& run,
                                  const RunnerOutcome& outcome);
  std::string CheckLedgerAfterRunner(const plan::Action& action);
  bool RecordFinishedRunnerTasks();
  ledger::StepRun RunnerStepRun(const plan::StepId& id, bool forward) const;
  void ClaimStep(const RunnerTask& task, const std::string& run_id);
  bool CheckRunnerClaims();
  static plan::Problem PostMigrateFailed(const RunnerOutcome& outcome);
  bool RecordPostMigrate(const RunnerOutcome& outcome);
  bool PostMigrateWanted() const;
  void PostMigrate();
  void RecordSuccess(const plan::Action& action, const ledger::StepRun& run,
                     const ledger::StepResult& result);
  void RecordFailure(const plan::Action& action, const ledger::StepRun& run,
                     const ledger::StepResult& result, int attempts, size_t index);
  void RecordCompletedSquashes();
  void SetPending(size_t from);
  plan::PendingAction PendingOf(const plan::Action& action) const;

  const plan::MigrationPlan& plan_;
  std::map<plan::StepId, const plan::Step*> steps_by_id_;
  const Options& options_;
  const Observer& observer_;
  std::function<std::string()> now_;

  Report report_;
  ledger::StorePtr store_;
  std::optional<LockRelease> release_;  // after store_: unlocks before the store closes
  std::set<plan::StepId> ledger_;
  ledger::History history_;
  std::vector<plan::Action> actions_;
  ParsedSteps parsed_;
  std::map<const plan::Step*, std::vector<std::string>> statements_;  // checked before running
  std::map<const plan::Step*, std::vector<ledger::ConcurrentStatement>> concurrent_;  // non-atomic
  std::map<plan::StepId, size_t> resume_at_;         // interrupted index builds, where they go on
  std::vector<std::string> record_only_;             // Python steps whose SQL part ran
  std::optional<plan::RestorePoint> restore_point_;  // of this run, once marked
  bool post_migrated_ = false;  // this run's post-migrate ran with its last step
};

}  // namespace tidemark::engine
