// The orchestration of one reconcile: connect, lock, read the ledger, resolve what a
// person resolved, compute the diff and the drift, then the safety rules (checks.cc) and
// the step executor (execute.cc).
#include "engine/reconcile.h"

#include <algorithm>

#include "base/clock.h"
#include "base/hash.h"
#include "base/redact.h"
#include "engine/reconciler.h"
#include "ledger/history.h"
#include "sql/tables.h"

namespace tidemark::engine {
namespace {

using plan::Action;
using plan::ActionKind;
using plan::Problem;
using plan::Step;
using plan::StepId;

// Django's rule: the migration's `initial` when it says, else a step with no dependency
// in its own app.
bool IsInitial(const Step& step) {
  if (step.initial) return *step.initial;
  return std::none_of(step.dependencies.begin(), step.dependencies.end(),
                      [&](const StepId& d) { return d.app == step.id.app; });
}

// The reason a failed connect or ledger read gives: the Status says whether waiting can
// help (the database is down) or the input must change (a missing Secret, a bad spec).
plan::Reason DatabaseFailureReason(const Status& status) {
  if (status.code() == StatusCode::kNotFound) return plan::Reason::kSecretNotFound;
  if (status.IsRetryable()) return plan::Reason::kDatabaseUnavailable;
  return plan::Reason::kInvalidSpec;
}

}  // namespace

std::vector<std::string> PlanApps(const plan::MigrationPlan& plan) {
  std::set<std::string> apps;
  for (const Step& step : plan.migrations) {
    for (const StepId& id : LedgerRows(step)) apps.insert(id.app);
  }
  return {apps.begin(), apps.end()};
}

std::vector<StepId> LedgerRows(const Step& step) {
  std::vector<StepId> rows{step.id};
  rows.insert(rows.end(), step.replaces.begin(), step.replaces.end());
  return rows;
}

Reconciler::Reconciler(const plan::MigrationPlan& plan, const Options& options,
                       const Observer& observer, std::function<std::string()> now)
    : plan_(plan),
      options_(options),
      observer_(observer),
      now_(std::move(now)),
      parsed_(/*with_trees=*/FakeInitial() || plan.policy.lint != plan::LintPolicy::kOff) {
  for (const Step& step : plan_.migrations) steps_by_id_.emplace(step.id, &step);
}

const Step* Reconciler::Find(const StepId& id) const {
  auto found = steps_by_id_.find(id);
  return found == steps_by_id_.end() ? nullptr : found->second;
}

std::vector<StepId> Reconciler::Records(const Step& step, bool forward) const {
  std::vector<StepId> records;
  // Forward inserts the rows that are missing; backward deletes those present.
  for (const StepId& id : LedgerRows(step)) {
    if (forward != (ledger_.count(id) > 0)) records.push_back(id);
  }
  return records;
}

// A database failure before the first step: retried when waiting can help, else the plan
// stalls with `stall_context` before the database's message.
void Reconciler::SetDatabaseProblem(const Status& status, const std::string& stall_context) {
  const plan::Reason reason = DatabaseFailureReason(status);
  if (reason == plan::Reason::kDatabaseUnavailable) {
    report_.outcome.progressing = Problem{reason, status.message() + "; will retry"};
  } else {
    report_.outcome.stalled = Problem{reason, stall_context + status.message()};
  }
}

bool Reconciler::ConnectStore(const Connector& connect) {
  auto connected = connect();
  if (!connected.ok()) {
    SetDatabaseProblem(connected.status(), "");
    return false;
  }
  store_ = std::move(connected).value();
  return true;
}

// Takes the advisory lock (released when the reconcile ends) and creates the ledger
// tables when they are missing.
bool Reconciler::LockLedger() {
  plan::Outcome& out = report_.outcome;
  auto waited = store_->Lock(options_.lock_wait);
  if (!waited.ok()) {
    if (waited.status().code() == StatusCode::kUnsupported) {
      out.stalled = Problem{plan::Reason::kTransactionPooler, waited.status().message()};
    } else if (waited.status().code() == StatusCode::kDeadlineExceeded) {
      out.progressing =
          Problem{plan::Reason::kWaitingForLock, waited.status().message() +
                                                     "; another tidemark run is migrating this "
                                                     "ledger, will retry"};
    } else {
      out.progressing = Problem{plan::Reason::kDatabaseUnavailable, waited.status().message()};
    }
    return false;
  }
  release_.emplace(store_.get());
  if (observer_.on_lock_acquired) observer_.on_lock_acquired(*waited);
  if (Status ensured = store_->EnsureTables(); !ensured.ok()) {
    out.stalled =
        Problem{plan::Reason::kInvalidSpec, "cannot create the ledger tables in " +
                                                store_->Describe() + ": " + ensured.message()};
    return false;
  }
  return true;
}

// Reads the ledger and its history (with spec.runner's post-migrate rows), then records the
// resolutions of dirty steps.
bool Reconciler::ReadLedger(const std::vector<std::string>& apps) {
  std::vector<std::string> history_apps = apps;
  if (plan_.runner) history_apps.push_back(ledger::kPostMigrateRow.app);
  auto read = store_->Read(history_apps);
  if (!read.ok()) {
    SetDatabaseProblem(read.status(), "cannot read the ledger " + store_->Describe() + ": ");
    return false;
  }
  ledger_ = std::move(read->applied);
  history_ = std::move(read->history);
  if (Execute() && !plan_.resolve.empty()) {
    ApplyResolutions();
    if (auto reread = store_->Read(apps); reread.ok()) ledger_ = std::move(reread->applied);
  }
  return true;
}

void Reconciler::ApplyResolutions() {
  for (const plan::Resolution& resolution : plan_.resolve) {
    auto dirty = history_.dirty.find(resolution.migration);
    const Step* step = Find(resolution.migration);
    if (dirty == history_.dirty.end() || step == nullptr) continue;  // nothing to resolve
    const bool applied = resolution.state == plan::ResolvedState::kApplied;
    if (store_->Resolve(step->id, LedgerRows(*step), applied, Ref()).ok()) {
      history_.dirty.erase(dirty);
    }
  }
}

void Reconciler::RecordDrift(const plan::Diff& diff) {
  plan::Drift& drift = report_.outcome.drift;
  drift.unknown_applied = diff.unknown_applied;
  if (plan_.policy.checksum == plan::ChecksumPolicy::kIgnore) return;
  for (const StepId& id : diff.applied) {
    auto recorded = history_.checksums.find(id);
    const Step* step = Find(id);
    if (recorded != history_.checksums.end() && step &&
        recorded->second != Sha256Hex(step->forward)) {
      drift.checksum_mismatches.push_back(id);
    }
  }
}

// Computes the diff into the report's steps and the actions to run; false when the plan's
// graph or targets refuse it.
bool Reconciler::ComputeActions() {
  plan::Outcome& out = report_.outcome;
  std::vector<StepId> fake = plan_.fake;
  plan::DiffOrProblem computed = plan::ComputeDiff(plan_.migrations, plan_.targets, ledger_, fake);
  if (auto* problem = std::get_if<Problem>(&computed)) {
    out.stalled = *problem;
    return false;
  }
  plan::Diff& diff = std::get<plan::Diff>(computed);
  report_.ledger_read = true;
  for (const Step* step : diff.nodes)
    report_.steps.push_back({step, diff.applied.count(step->id) > 0});
  out.total = static_cast<int64_t>(diff.nodes.size());
  out.applied = static_cast<int64_t>(diff.applied.size());
  RecordDrift(diff);
  actions_ = diff.actions;
  if (options_.fake_all) {
    for (Action& action : actions_) {
      if (action.kind == ActionKind::kApply) action.kind = ActionKind::kFake;
    }
  }
  ConvertFakeInitial();
  return SelectPhase();
}

// Keeps the actions of the selected phase and holds the others. One phase alone must not
// run ahead of the other: post-deploy steps wait until no pre-deploy action is left, and
// pre-deploy steps are not reverted while post-deploy steps (their dependents, perhaps)
// still wait for theirs.
bool Reconciler::SelectPhase() {
  if (!options_.phase) return true;
  plan::Outcome& out = report_.outcome;
  const plan::Phase selected = *options_.phase;
  std::vector<Action> kept;
  std::optional<Action> first;  // the first held action that must come first
  for (const Action& action : actions_) {
    if (action.step->phase == selected) {
      kept.push_back(action);
      continue;
    }
    out.held.push_back(PendingOf(action));
    const bool must_come_first =
        selected == plan::Phase::kPostDeploy || action.kind == ActionKind::kRevert;
    if (must_come_first && !first) first = action;
  }
  actions_ = std::move(kept);
  if (!first) return true;
  const bool post = selected == plan::Phase::kPostDeploy;
  out.stalled = Problem{plan::Reason::kPhaseOrder,
                        std::string("--phase ") + (post ? "post" : "pre") + ": " +
                            plan::RecordedActionName(PendingOf(*first).action) + " " +
                            (post ? "pre" : "post") + "-deploy step " + first->step->id.ToString() +
                            " first: run `tidemark apply --phase " + (post ? "pre" : "post") +
                            "` before, or --phase all"};
  return false;
}

void Reconciler::ConvertFakeInitial() {
  if (!FakeInitial()) return;
  for (Action& action : actions_) {
    if (action.kind != ActionKind::kApply || !IsInitial(*action.step)) continue;
    const ParsedSql& parsed = parsed_.Get(*action.step, /*forward=*/true);
    if (!parsed.ok()) continue;  // reported as InvalidSpec by the statement check
    const std::vector<std::string> tables = sql::CreatedTables(*parsed);
    if (tables.empty()) continue;
    auto existing = store_->ExistingTables(tables);
    // Django fakes an initial migration only when every table it creates exists.
    if (existing.ok() && existing->size() == tables.size()) action.kind = ActionKind::kFake;
  }
}

Report Reconciler::Run(const Connector& connect) {
  Report report = RunPhases(connect);
  if (store_) plan::RedactOutcome(store_->Secrets(), &report.outcome);
  return report;
}

ledger::StepResult Reconciler::Redacted(ledger::StepResult result) const {
  const std::vector<std::string> secrets = store_->Secrets();
  result.error.statement = RedactValues(std::move(result.error.statement), secrets);
  result.error.message = RedactValues(std::move(result.error.message), secrets);
  for (std::string& note : result.notes) note = RedactValues(std::move(note), secrets);
  return result;
}

Report Reconciler::RunPhases(const Connector& connect) {
  plan::Outcome& out = report_.outcome;
  if (plan_.suspend) {
    out.idle_reason = plan::Reason::kSuspended;
    return report_;
  }
  if (!ConnectStore(connect)) return report_;
  if (Execute() && !LockLedger()) return report_;
  if (!ReadLedger(PlanApps(plan_)) || !ComputeActions()) return report_;
  SetPending(0);
  if (Execute() && (!RecordFinishedRunnerTasks() || !CheckRunnerClaims())) return report_;
  if (auto problem = CheckBeforeRunning()) {
    out.stalled = *problem;
    return report_;
  }
  if (AwaitsApproval()) {
    out.idle_reason = plan::Reason::kWaitingForApproval;
    return report_;
  }
  if (!Execute()) {
    if (DryRun() && !out.pending.empty()) out.idle_reason = plan::Reason::kDryRun;
    return report_;
  }
  if (BeforeFirstChange()) ExecuteActions();
  return report_;
}

Result<bool> ResolveDirty(const plan::MigrationPlan& plan, const Connector& connect,
                          const StepId& id, bool applied, std::chrono::milliseconds lock_wait) {
  const Step* step = nullptr;
  for (const Step& candidate : plan.migrations) {
    if (candidate.id == id) step = &candidate;
  }
  if (step == nullptr) {
    return Status::InvalidArgument("no step " + id.ToString() + " in plan " + plan.Key());
  }
  TM_ASSIGN_OR_RETURN(ledger::StorePtr store, connect());
  TM_ASSIGN_OR_RETURN(double waited, store->Lock(lock_wait));
  (void)waited;
  LockRelease release(store.get());
  TM_ASSIGN_OR_RETURN(ledger::Recorded recorded, store->Read(PlanApps(plan)));
  // A dirty step, or one that the history says spec.runner runs elsewhere (a Job that is
  // gone, of a plan that is gone too).
  if (!recorded.history.dirty.count(id) && !recorded.history.claims.count(id)) return false;
  TM_RETURN_IF_ERROR(
      store->Resolve(id, LedgerRows(*step), applied,
                     {plan.meta.ns, plan.meta.name, plan.meta.uid, plan.meta.generation}));
  return true;
}

std::string NowRfc3339() { return FormatRfc3339(SystemClock().WallNow()); }

Report Reconcile(const plan::MigrationPlan& plan, const Connector& connect, const Options& options,
                 const Observer& observer, const std::function<std::string()>& now) {
  Reconciler reconciler(plan, options, observer,
                        now ? now : std::function<std::string()>(NowRfc3339));
  return reconciler.Run(connect);
}

}  // namespace tidemark::engine
