#include "engine/reconcile.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/hash.h"
#include "sql/lint.h"
#include "sql/parse.h"

namespace tidemark::engine {
namespace {

using plan::Action;
using plan::ActionKind;
using plan::Problem;
using plan::Step;
using plan::StepId;

// Releases the advisory lock however the reconcile ends.
class LockRelease {
 public:
  explicit LockRelease(ledger::Store* store) : store_(store) {}
  ~LockRelease() {
    if (store_) (void)store_->Unlock();
  }

 private:
  ledger::Store* store_;
};

std::string Quoted(const std::string& statement) {
  std::string text = statement.substr(0, 120);
  std::replace(text.begin(), text.end(), '\n', ' ');
  return "`" + text + (statement.size() > 120 ? "...`" : "`");
}

// Django's rule: the migration's `initial` when it says, else a step with no dependency
// in its own app.
bool IsInitial(const Step& step) {
  if (step.initial) return *step.initial;
  return std::none_of(step.dependencies.begin(), step.dependencies.end(),
                      [&](const StepId& d) { return d.app == step.id.app; });
}

// The ledger rows of a step: its own and, for a squash, those of the steps it replaces.
std::vector<StepId> LedgerRows(const Step& step) {
  std::vector<StepId> rows{step.id};
  rows.insert(rows.end(), step.replaces.begin(), step.replaces.end());
  return rows;
}

// The apps of a plan's steps: its part of a ledger other plans may share.
std::vector<std::string> PlanApps(const plan::MigrationPlan& plan) {
  std::set<std::string> apps;
  for (const Step& step : plan.migrations) {
    for (const StepId& id : LedgerRows(step)) apps.insert(id.app);
  }
  return {apps.begin(), apps.end()};
}

// Tables an initial step creates: schema-qualified when the SQL qualifies them.

std::vector<std::string> CreatedTables(const Step& step) {
  std::vector<std::string> tables;
  auto parsed = sql::Parse(step.forward, /*with_trees=*/true);
  if (!parsed.ok()) return tables;
  for (const auto& statement : *parsed) {
    if (!statement.tree.contains("CreateStmt")) continue;
    const auto& relation = statement.tree["CreateStmt"].value("relation", nlohmann::json());
    const std::string schema = relation.value("schemaname", "");
    const std::string name = relation.value("relname", "");
    tables.push_back(schema.empty() ? name : schema + "." + name);
  }
  return tables;
}

Problem Stalled(std::string reason, std::string message) {
  return Problem{std::move(reason), std::move(message)};
}

class Reconciler {
 public:
  Reconciler(const plan::MigrationPlan& plan, const Options& options, const Observer& observer,
             std::function<std::string()> now)
      : plan_(plan), options_(options), observer_(observer), now_(std::move(now)) {
    for (const Step& step : plan_.migrations) steps_by_id_.emplace(step.id, &step);
  }

  Report Run(const Connector& connect);

 private:
  bool Execute() const { return options_.execute && !DryRun(); }
  bool DryRun() const { return options_.dry_run || plan_.dry_run; }
  ledger::PlanRef Ref() const {
    return {plan_.meta.ns, plan_.meta.name, plan_.meta.uid, plan_.meta.generation};
  }
  const Step* Find(const StepId& id) const {
    auto found = steps_by_id_.find(id);
    return found == steps_by_id_.end() ? nullptr : found->second;
  }
  std::vector<StepId> Records(const Step& step, bool forward) const;

  void ApplyResolutions();
  void ConvertFakeInitial();
  std::optional<Problem> CheckBeforeRunning();
  void ExecuteActions();
  void RecordCompletedSquashes();
  void SetPending(size_t from);

  const plan::MigrationPlan& plan_;
  std::map<StepId, const Step*> steps_by_id_;
  const Options& options_;
  const Observer& observer_;
  std::function<std::string()> now_;

  Report report_;
  ledger::StorePtr store_;
  std::set<StepId> ledger_;
  ledger::History history_;
  std::vector<Action> actions_;
  std::map<const Step*, std::vector<std::string>> statements_;  // parsed before running
};

std::vector<StepId> Reconciler::Records(const Step& step, bool forward) const {
  std::vector<StepId> records;
  // Forward inserts the rows that are missing; backward deletes those present.
  for (const StepId& id : LedgerRows(step)) {
    if (forward != (ledger_.count(id) > 0)) records.push_back(id);
  }
  return records;
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

void Reconciler::ConvertFakeInitial() {
  if (!(options_.fake_initial || plan_.fake_initial)) return;
  for (Action& action : actions_) {
    if (action.kind != ActionKind::kApply || !IsInitial(*action.step)) continue;
    const std::vector<std::string> tables = CreatedTables(*action.step);
    if (tables.empty()) continue;
    auto existing = store_->ExistingTables(tables);
    // Django fakes an initial migration only when every table it creates exists.
    if (existing.ok() && existing->size() == tables.size()) action.kind = ActionKind::kFake;
  }
}

std::optional<Problem> Reconciler::CheckBeforeRunning() {
  const plan::Outcome& out = report_.outcome;
  if (!history_.dirty.empty()) {
    const auto& [id, dirty] = *history_.dirty.begin();
    return Stalled("DirtyNonAtomic",
                   "non-atomic step " + id.ToString() + " stopped " +
                       (dirty.forward ? "applying" : "reverting") + " at statement " +
                       std::to_string(dirty.statement_index + 1) + " (started " + dirty.started_at +
                       (dirty.error.empty() ? "" : "; error: " + dirty.error) +
                       "); check the database by hand, then set spec.resolve: [{migration: " +
                       id.ToString() + ", state: applied|unapplied}] or run `tidemark resolve " +
                       id.ToString() + " --state applied|unapplied`");
  }
  if (plan_.policy.checksum == plan::ChecksumPolicy::kBlock &&
      !out.drift.checksum_mismatches.empty()) {
    const StepId& id = out.drift.checksum_mismatches.front();
    return Stalled("ChecksumMismatch",
                   "step " + id.ToString() +
                       " was applied with different forward SQL than the "
                       "plan has now; restore the SQL it was applied with, or set policy.checksum: "
                       "Warn to accept the change");
  }
  if (plan_.policy.unknown_applied == plan::UnknownAppliedPolicy::kBlock &&
      !out.drift.unknown_applied.empty()) {
    return Stalled("UnknownApplied",
                   "the ledger has rows no step of this plan knows (first: " +
                       out.drift.unknown_applied.front().ToString() +
                       "); add those steps to the plan, or set policy.unknownApplied: Warn");
  }
  const bool fake_all = options_.fake_all;
  for (const Action& action : actions_) {
    if (action.kind == ActionKind::kFake || fake_all) continue;
    const bool forward = action.kind == ActionKind::kApply;
    if (!forward && !action.step->backward) {
      return Stalled("Irreversible",
                     "step " + action.step->id.ToString() +
                         " has no backward SQL, so it cannot be reverted; change the target so "
                         "it stays applied, or give it backward SQL");
    }
    auto statements = StepStatements(*action.step, forward);
    if (!statements.ok()) return Stalled("InvalidSpec", statements.status().message());
    statements_[action.step] = std::move(statements).value();
  }
  const size_t reverts = std::count_if(actions_.begin(), actions_.end(), [](const Action& a) {
    return a.kind == ActionKind::kRevert;
  });
  const bool revert_allowed =
      options_.allow_revert || plan_.policy.revert == plan::RevertPolicy::kAllow;
  if (reverts > 0 && !revert_allowed) {
    return Stalled("RevertDenied",
                   "the plan would revert " + std::to_string(reverts) + " applied step" +
                       (reverts == 1 ? "" : "s") +
                       " (first: " + actions_.front().step->id.ToString() +
                       "); set policy.revert: Allow (CLI: --allow-revert) to permit it, or move "
                       "the target forward");
  }
  if (plan_.policy.python_steps == plan::PythonStepsPolicy::kBlock && !fake_all) {
    for (const Action& action : actions_) {
      if (action.kind == ActionKind::kFake || !action.step->python) continue;
      return Stalled("PythonStep",
                     "step " + action.step->id.ToString() +
                         " has Python code (RunPython) that SQL cannot carry, so tidemark would "
                         "not run it; run this step with Django (manage.py migrate " +
                         action.step->id.app + " " + action.step->id.name +
                         "), or set policy.pythonSteps: RecordOnly to apply its SQL part and "
                         "record it without the Python code");
    }
  }
  if (plan_.policy.lint != plan::LintPolicy::kOff) {
    std::vector<const Step*> applying;
    for (const Action& action : actions_) {
      if (action.kind == ActionKind::kApply && !fake_all) applying.push_back(action.step);
    }
    report_.outcome.lint = LintSteps(applying);
    if (plan_.policy.lint == plan::LintPolicy::kBlock) {
      for (const plan::LintFinding& finding : report_.outcome.lint) {
        if (finding.severity != "error") continue;
        return Stalled("LintBlocked", "step " + finding.migration.ToString() + ": " +
                                          finding.message + " (rule " + finding.rule +
                                          "); change the SQL, or set policy.lint: Warn");
      }
    }
  }
  return std::nullopt;
}

void Reconciler::SetPending(size_t from) {
  plan::Outcome& out = report_.outcome;
  out.pending.clear();
  out.to_revert = 0;
  for (size_t i = from; i < actions_.size(); ++i) {
    std::string name = plan::ActionName(actions_[i].kind);
    if (options_.fake_all) name = actions_[i].kind == ActionKind::kRevert ? "fake-revert" : "fake";
    out.pending.push_back({name, actions_[i].step->id});
    if (actions_[i].kind == ActionKind::kRevert) ++out.to_revert;
  }
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

void Reconciler::ExecuteActions() {
  plan::Outcome& out = report_.outcome;
  std::map<StepId, size_t> view_index;
  for (size_t i = 0; i < report_.steps.size(); ++i) view_index[report_.steps[i].step->id] = i;
  thread_local std::mt19937 random(std::random_device{}());  // seeded once: a read of /dev/urandom
  std::vector<std::string> record_only;

  for (size_t i = 0; i < actions_.size(); ++i) {
    const Action& action = actions_[i];
    const Step& step = *action.step;
    const bool forward = action.kind != ActionKind::kRevert;
    if (options_.stop.stop_requested()) {
      SetPending(i);
      out.progressing = Problem{forward ? "Applying" : "Reverting",
                                "stopped before " + step.id.ToString() + " (" +
                                    std::to_string(actions_.size() - i) +
                                    " steps left): shutting down; the next run goes on from here"};
      break;
    }
    ledger::StepRun run;
    run.id = step.id;
    run.direction = forward ? ledger::Direction::kForward : ledger::Direction::kBackward;
    run.atomic = step.atomic;
    run.fake = action.kind == ActionKind::kFake || options_.fake_all;
    if (!run.fake) run.statements = statements_[&step];
    run.records = Records(step, forward);
    run.checksum = Sha256Hex(step.forward);
    run.lock_timeout = plan_.policy.lock_timeout;
    run.statement_timeout = plan_.policy.statement_timeout;
    run.plan = Ref();

    if (observer_.on_step_start) observer_.on_step_start(action, i, actions_.size());
    ledger::StepResult result;
    int attempt = 0;
    while (true) {
      ++attempt;
      result = store_->Run(run);
      if (result.ok || !result.error.lock_timeout || result.error.dirty ||
          attempt >= options_.lock_timeout_attempts) {
        break;
      }
      const double jitter = std::uniform_real_distribution<double>(0, 1)(random);
      const Millis delay =
          BackoffDelay(BackoffPolicy::Reconcile(), static_cast<uint32_t>(attempt), jitter);
      if (!options_.clock->SleepFor(delay, options_.stop)) break;
    }
    if (observer_.on_step_done) observer_.on_step_done(action, result);

    if (result.ok) {
      const std::string name =
          run.fake ? (forward ? "fake" : "fake-revert") : plan::ActionName(action.kind);
      report_.done.push_back(
          {step.id, name, now_(), static_cast<int64_t>(result.duration_ms + 0.5)});
      out.applied += forward ? 1 : -1;
      for (const StepId& id : run.records) {
        if (forward) {
          ledger_.insert(id);
        } else {
          ledger_.erase(id);
        }
      }
      if (auto view = view_index.find(step.id); view != view_index.end()) {
        report_.steps[view->second].applied = forward;
      }
      if (step.python && !run.fake) record_only.push_back(step.id.ToString());
      continue;
    }

    const ledger::StepError& error = result.error;
    plan::StepFailure failure;
    failure.migration = step.id;
    failure.statement_index = error.statement_index;
    failure.statement = error.statement.substr(0, 200);
    failure.sql_state = error.sql_state;
    failure.message = error.message;
    failure.at = now_();
    failure.attempts = history_.failures[step.id] + 1;
    out.failure = failure;
    SetPending(i);
    const std::string where = error.statement_index >= 0
                                  ? " at statement " + std::to_string(error.statement_index + 1) +
                                        " " + Quoted(error.statement)
                                  : "";
    const std::string sql_state = error.sql_state.empty() ? "" : error.sql_state + " ";
    if (error.dirty) {
      out.stalled = Stalled("DirtyNonAtomic",
                            "non-atomic step " + step.id.ToString() + " stopped" + where + ": " +
                                sql_state + error.message +
                                "; its earlier statements stay done. Check the database, then set "
                                "spec.resolve: [{migration: " +
                                step.id.ToString() +
                                ", state: applied|unapplied}] or run `tidemark resolve " +
                                step.id.ToString() + " --state applied|unapplied`");
    } else if (error.connection_lost) {
      out.progressing = Problem{"DatabaseUnavailable",
                                "lost the database connection while running " + step.id.ToString() +
                                    " (rolled back: " + error.message + "); will retry"};
    } else if (error.lock_timeout) {
      out.progressing = Problem{
          forward ? "Applying" : "Reverting",
          "step " + step.id.ToString() + where + " could not take its locks within lockTimeout " +
              std::to_string(plan_.policy.lock_timeout.count()) + "ms (" + std::to_string(attempt) +
              " attempts; rolled back each time); will retry"};
    } else {
      out.stalled = Stalled(
          "MigrationFailed",
          "step " + step.id.ToString() + " failed" + where + ": " + sql_state + error.message +
              ". The step was rolled back and earlier steps stay applied; fix the step's SQL or "
              "the database, and the plan retries");
    }
    break;
  }
  if (!out.failure && !out.progressing) {
    SetPending(actions_.size());
    RecordCompletedSquashes();
  }
  if (!report_.done.empty()) out.last_applied = report_.done.back();
  if (!record_only.empty()) {
    std::string note;
    for (const auto& id : record_only) note += (note.empty() ? "" : ", ") + id;
    report_.outcome.notes.push_back(
        "recorded without running their Python code "
        "(pythonSteps: RecordOnly): " +
        note);
  }
}

Report Reconciler::Run(const Connector& connect) {
  plan::Outcome& out = report_.outcome;
  if (plan_.suspend) {
    out.idle_reason = "Suspended";
    return report_;
  }
  auto connected = connect();
  if (!connected.ok()) {
    const Status& status = connected.status();
    if (status.code() == StatusCode::kNotFound) {
      out.stalled = Stalled("SecretNotFound", status.message());
    } else if (status.code() == StatusCode::kFailedPrecondition ||
               status.code() == StatusCode::kInvalidArgument) {
      out.stalled = Stalled("InvalidSpec", status.message());
    } else {
      out.progressing = Problem{"DatabaseUnavailable", status.message() + "; will retry"};
    }
    return report_;
  }
  store_ = std::move(connected).value();

  std::optional<LockRelease> release;
  if (Execute()) {
    auto waited = store_->Lock(options_.lock_wait);
    if (!waited.ok()) {
      if (waited.status().code() == StatusCode::kDeadlineExceeded) {
        out.progressing = Problem{"WaitingForLock", waited.status().message() +
                                                        "; another tidemark run is migrating this "
                                                        "ledger, will retry"};
      } else {
        out.progressing = Problem{"DatabaseUnavailable", waited.status().message()};
      }
      return report_;
    }
    release.emplace(store_.get());
    if (observer_.on_lock_acquired) observer_.on_lock_acquired(*waited);
    if (Status ensured = store_->EnsureTables(); !ensured.ok()) {
      out.stalled = Stalled("InvalidSpec", "cannot create the ledger tables in " +
                                               store_->Describe() + ": " + ensured.message());
      return report_;
    }
  }
  const std::vector<std::string> apps = PlanApps(plan_);
  auto read = store_->Read(apps);
  if (!read.ok()) {
    const Status& status = read.status();
    if (status.IsRetryable()) {
      out.progressing = Problem{"DatabaseUnavailable", status.message() + "; will retry"};
    } else {
      out.stalled = Stalled(
          "InvalidSpec", "cannot read the ledger " + store_->Describe() + ": " + status.message());
    }
    return report_;
  }
  ledger_ = std::move(read->applied);
  history_ = std::move(read->history);
  if (Execute() && !plan_.resolve.empty()) {
    ApplyResolutions();
    if (auto reread = store_->Read(apps); reread.ok()) ledger_ = std::move(reread->applied);
  }

  std::vector<StepId> fake = plan_.fake;
  plan::DiffOrProblem computed = plan::ComputeDiff(plan_.migrations, plan_.targets, ledger_, fake);
  if (auto* problem = std::get_if<Problem>(&computed)) {
    out.stalled = *problem;
    return report_;
  }
  plan::Diff& diff = std::get<plan::Diff>(computed);
  report_.ledger_read = true;
  for (const Step* step : diff.nodes)
    report_.steps.push_back({step, diff.applied.count(step->id) > 0});
  out.total = static_cast<int64_t>(diff.nodes.size());
  out.applied = static_cast<int64_t>(diff.applied.size());
  out.drift.unknown_applied = diff.unknown_applied;
  if (plan_.policy.checksum != plan::ChecksumPolicy::kIgnore) {
    for (const StepId& id : diff.applied) {
      auto recorded = history_.checksums.find(id);
      const Step* step = Find(id);
      if (recorded != history_.checksums.end() && step &&
          recorded->second != Sha256Hex(step->forward)) {
        out.drift.checksum_mismatches.push_back(id);
      }
    }
  }
  actions_ = diff.actions;
  if (options_.fake_all) {
    for (Action& action : actions_) {
      if (action.kind == ActionKind::kApply) action.kind = ActionKind::kFake;
    }
  }
  ConvertFakeInitial();
  SetPending(0);
  if (auto problem = CheckBeforeRunning()) {
    out.stalled = *problem;
    return report_;
  }
  if (!Execute()) {
    if (DryRun() && !out.pending.empty()) out.idle_reason = "DryRun";
    return report_;
  }
  ExecuteActions();
  return report_;
}

}  // namespace

Result<std::vector<std::string>> StepStatements(const Step& step, bool forward) {
  const std::string& script = forward ? step.forward : step.backward.value_or("");
  auto parsed = sql::Parse(script, /*with_trees=*/false);
  if (!parsed.ok()) {
    return Status::InvalidArgument("step " + step.id.ToString() + " (" + step.origin + ") " +
                                   (forward ? "forward" : "backward") + " SQL does not parse, " +
                                   parsed.status().message() + "; fix the SQL");
  }
  std::vector<std::string> statements;
  for (auto& statement : *parsed) statements.push_back(std::move(statement.text));
  return statements;
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
  if (!recorded.history.dirty.count(id)) return false;
  TM_RETURN_IF_ERROR(
      store->Resolve(id, LedgerRows(*step), applied,
                     {plan.meta.ns, plan.meta.name, plan.meta.uid, plan.meta.generation}));
  return true;
}

std::vector<plan::LintFinding> LintSteps(const std::vector<const Step*>& steps) {
  std::vector<plan::LintFinding> findings;
  for (const Step* step : steps) {
    auto parsed = sql::Parse(step->forward, /*with_trees=*/true);
    if (!parsed.ok()) continue;  // reported as InvalidSpec by the statement check
    for (auto& finding : sql::LintStep(*step, *parsed)) findings.push_back(std::move(finding));
  }
  return findings;
}

std::string NowRfc3339() { return FormatRfc3339(SystemClock().WallNow()); }

Report Reconcile(const plan::MigrationPlan& plan, const Connector& connect, const Options& options,
                 const Observer& observer, const std::function<std::string()>& now) {
  Reconciler reconciler(plan, options, observer,
                        now ? now : std::function<std::string()>(NowRfc3339));
  return reconciler.Run(connect);
}

}  // namespace tidemark::engine
