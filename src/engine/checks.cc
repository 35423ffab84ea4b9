// The safety rules (SPEC sections 3 and 5): everything that can refuse a plan, checked
// before its first step runs. Each rule is a function giving the Problem that stalls the
// plan, or nothing; CheckBeforeRunning asks them in order and the first answer wins.
#include <algorithm>

#include "engine/reconciler.h"
#include "plan/approval.h"

namespace tidemark::engine {

using plan::Action;
using plan::ActionKind;
using plan::Problem;
using plan::StepId;

std::optional<Problem> Reconciler::CheckBeforeRunning() {
  if (auto problem = CheckDirty()) return problem;
  if (auto problem = CheckChecksums()) return problem;
  if (auto problem = CheckUnknownApplied()) return problem;
  if (auto problem = CheckStatements()) return problem;
  if (auto problem = CheckReverts()) return problem;
  if (auto problem = CheckPythonSteps()) return problem;
  return CheckLint();
}

// A non-atomic step interrupted while it built an index (the run was killed or lost its
// connection; no error was recorded) can be checked in the catalog: the index is there and
// valid, INVALID (dropped and built again) or absent. Such a step is applied again from the
// statement it reached, under this run's lock, which the interrupted session no longer
// holds. Any other dirty step needs a person.
bool Reconciler::Resumable(const StepId& id, const ledger::DirtyStep& dirty) {
  const plan::Step* step = Find(id);
  if (!dirty.forward || !dirty.error.empty() || step == nullptr || step->atomic) return false;
  const bool applying = std::any_of(actions_.begin(), actions_.end(), [&](const Action& action) {
    return action.step == step && action.kind == ActionKind::kApply;
  });
  const ParsedSql& parsed = parsed_.Get(*step, /*forward=*/true);
  if (!applying || !parsed.ok()) return false;
  return BuildsIndexAt(ConcurrentStatements(*parsed), dirty.statement_index);
}

std::optional<Problem> Reconciler::CheckDirty() {
  for (const auto& [id, dirty] : history_.dirty) {
    if (Resumable(id, dirty)) {
      resume_at_[id] = static_cast<size_t>(dirty.statement_index);
      continue;
    }
    return DirtyProblem(id, dirty);
  }
  return std::nullopt;
}

Problem Reconciler::DirtyProblem(const StepId& id, const ledger::DirtyStep& dirty) {
  return Problem{plan::Reason::kDirtyNonAtomic,
                 "non-atomic step " + id.ToString() + " stopped " +
                     (dirty.forward ? "applying" : "reverting") + " at statement " +
                     std::to_string(dirty.statement_index + 1) + " (started " + dirty.started_at +
                     (dirty.error.empty() ? "" : "; error: " + dirty.error) +
                     "); check the database by hand, then set spec.resolve: [{migration: " +
                     id.ToString() + ", state: applied|unapplied}] or run `tidemark resolve " +
                     id.ToString() + " --state applied|unapplied`"};
}

std::optional<Problem> Reconciler::CheckChecksums() const {
  const plan::Drift& drift = report_.outcome.drift;
  if (plan_.policy.checksum != plan::ChecksumPolicy::kBlock || drift.checksum_mismatches.empty()) {
    return std::nullopt;
  }
  return Problem{plan::Reason::kChecksumMismatch,
                 "step " + drift.checksum_mismatches.front().ToString() +
                     " was applied with different forward SQL than the "
                     "plan has now; restore the SQL it was applied with, or set policy.checksum: "
                     "Warn to accept the change"};
}

std::optional<Problem> Reconciler::CheckUnknownApplied() const {
  const plan::Drift& drift = report_.outcome.drift;
  if (plan_.policy.unknown_applied != plan::UnknownAppliedPolicy::kBlock ||
      drift.unknown_applied.empty()) {
    return std::nullopt;
  }
  return Problem{plan::Reason::kUnknownApplied,
                 "the ledger has rows no step of this plan knows (first: " +
                     drift.unknown_applied.front().ToString() +
                     "); add those steps to the plan, or set policy.unknownApplied: Warn"};
}

// Every step that will run has the SQL for its direction, and it parses; the statements
// are kept for the executor.
std::optional<Problem> Reconciler::CheckStatements() {
  if (options_.fake_all) return std::nullopt;
  for (const Action& action : actions_) {
    if (action.kind == ActionKind::kFake) continue;
    const bool forward = action.kind == ActionKind::kApply;
    if (!forward && !action.step->backward) {
      const std::string& why = action.step->irreversible_reason;
      return Problem{plan::Reason::kIrreversible,
                     "step " + action.step->id.ToString() + " has no backward SQL" +
                         (why.empty() ? "" : " (" + why + ")") +
                         ", so it cannot be reverted; change the target so it stays applied, or "
                         "give it backward SQL"};
    }
    const ParsedSql& parsed = parsed_.Get(*action.step, forward);
    auto statements = StatementTexts(*action.step, forward, parsed);
    if (!statements.ok()) return Problem{plan::Reason::kInvalidSpec, statements.status().message()};
    if (forward && action.step->kind == plan::StepKind::kBackfill) {
      if (auto why = NotABatchStatement(*action.step, *parsed)) {
        return Problem{plan::Reason::kInvalidSpec, *why};
      }
    }
    statements_[action.step] = std::move(statements).value();
    if (!action.step->atomic) concurrent_[action.step] = ConcurrentStatements(*parsed);
  }
  return std::nullopt;
}

std::optional<Problem> Reconciler::CheckReverts() const {
  const size_t reverts = std::count_if(actions_.begin(), actions_.end(), [](const Action& a) {
    return a.kind == ActionKind::kRevert;
  });
  const bool revert_allowed =
      options_.allow_revert || plan_.policy.revert == plan::RevertPolicy::kAllow;
  if (reverts == 0 || revert_allowed) return std::nullopt;
  return Problem{plan::Reason::kRevertDenied,
                 "the plan would revert " + std::to_string(reverts) + " applied step" +
                     (reverts == 1 ? "" : "s") +
                     " (first: " + actions_.front().step->id.ToString() +
                     "); set policy.revert: Allow (CLI: --allow-revert) to permit it, or move "
                     "the target forward"};
}

// Block refuses python steps; Run needs a runner, but only to execute (status and plan
// show what it would run).
std::optional<Problem> Reconciler::CheckPythonSteps() const {
  const plan::PythonStepsPolicy policy = plan_.policy.python_steps;
  if (policy == plan::PythonStepsPolicy::kRecordOnly || options_.fake_all ||
      (policy == plan::PythonStepsPolicy::kRun && (options_.runner != nullptr || !Execute()))) {
    return std::nullopt;
  }
  for (const Action& action : actions_) {
    if (action.kind == ActionKind::kFake || !action.step->python) continue;
    const StepId& id = action.step->id;
    if (policy == plan::PythonStepsPolicy::kRun) {
      return Problem{plan::Reason::kInvalidSpec,
                     "step " + id.ToString() +
                         " has Python code for spec.runner to run, but there is no runner "
                         "here: tidemark run and apply need spec.runner.command, the controller "
                         "needs spec.runner.jobTemplate (spec.runner.command cannot run in a "
                         "cluster: set jobTemplate with the app's image)"};
    }
    return Problem{plan::Reason::kPythonStep,
                   "step " + id.ToString() +
                       " has Python code (RunPython) that SQL cannot carry, so tidemark would "
                       "not run it; run this step with Django (manage.py migrate " +
                       id.app + " " + id.name +
                       "), set policy.pythonSteps: Run with a spec.runner to run it with the "
                       "app's code, or RecordOnly to apply its SQL part and record it without "
                       "the Python code"};
  }
  return std::nullopt;
}

// Lint reports its findings in the outcome with policy.lint Warn, and also refuses the
// plan on an error with Block, unless the SQL accepts that finding (-- tidemark:allow).
std::optional<Problem> Reconciler::CheckLint() {
  if (plan_.policy.lint == plan::LintPolicy::kOff) return std::nullopt;
  std::vector<const plan::Step*> applying;
  for (const Action& action : actions_) {
    if (action.kind == ActionKind::kApply && !options_.fake_all) applying.push_back(action.step);
  }
  sql::LintOptions options;
  options.default_schema = plan_.database.schema;
  report_.outcome.lint = LintForward(applying, parsed_, std::move(options));
  if (plan_.policy.lint != plan::LintPolicy::kBlock) return std::nullopt;
  for (const plan::LintFinding& finding : report_.outcome.lint) {
    if (finding.severity != plan::Severity::kError || !finding.accepted.empty()) continue;
    return Problem{plan::Reason::kLintBlocked, "step " + finding.migration.ToString() + ": " +
                                                   finding.message + " (rule " + finding.rule +
                                                   "); change the SQL, or set policy.lint: Warn"};
  }
  return std::nullopt;
}

// The digest of what would run is always reported (tidemark plan prints it); with
// policy.approval: Required or --approve, a run executes only the actions approved.
bool Reconciler::AwaitsApproval() {
  report_.approval_digest = plan::ApprovalDigest(actions_, options_.fake_all);
  const bool required =
      options_.approve || plan_.policy.approval == plan::ApprovalPolicy::kRequired;
  if (!required || actions_.empty()) return false;
  plan::Approval& approval = report_.outcome.approval.emplace();
  approval.digest = report_.approval_digest;
  approval.approved = options_.approve.value_or(plan_.approved_digest);
  return Execute() && !approval.Approved();
}

// What a run left undone (a failed step, a shutdown) needs an approval of its own: the
// actions left are not those approved.
void Reconciler::ApprovalOfRest(size_t next) {
  std::optional<plan::Approval>& approval = report_.outcome.approval;
  if (!approval) return;
  const std::vector<Action> rest(actions_.begin() + static_cast<std::ptrdiff_t>(next),
                                 actions_.end());
  if (rest.empty()) {
    approval.reset();
  } else {
    approval->digest = plan::ApprovalDigest(rest, options_.fake_all);
  }
}

}  // namespace tidemark::engine
