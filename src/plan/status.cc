#include "plan/status.h"

#include <algorithm>

#include "base/redact.h"
#include "base/text.h"

namespace tidemark::plan {
namespace {

Condition Make(const std::string& type, bool status, Reason reason, const std::string& message) {
  return Condition{type, status ? "True" : "False", 0,
                   "",   ReasonName(reason),        Truncate(message, kMaxMessage)};
}

std::string DescribePending(const Outcome& outcome) {
  const size_t count = outcome.pending.size();
  if (count == 0) return "nothing pending";
  std::string text = std::to_string(count) + (count == 1 ? " step" : " steps") +
                     " pending, next: " + RecordedActionName(outcome.pending.front().action) + " " +
                     outcome.pending.front().migration.ToString();
  return text;
}

std::string DescribeHeld(const Outcome& outcome) {
  const size_t count = outcome.held.size();
  std::string text =
      std::to_string(count) + " post-deploy " + (count == 1 ? "step waits" : "steps wait") +
      " for the app's rollout, next: " + RecordedActionName(outcome.held.front().action) + " " +
      outcome.held.front().migration.ToString();
  if (!outcome.held_for.empty()) text += "; waiting for " + outcome.held_for;
  return text;
}

std::string DescribeDrift(const Drift& drift) {
  std::string text;
  auto list = [](const std::vector<StepId>& ids) {
    std::vector<std::string> names;
    for (const StepId& id : ids) names.push_back(id.ToString());
    return ListSome(names, 10);
  };
  if (!drift.checksum_mismatches.empty()) {
    text += "applied steps whose SQL changed since they ran: " + list(drift.checksum_mismatches);
  }
  if (!drift.unknown_applied.empty()) {
    text += std::string(text.empty() ? "" : "; ") +
            "ledger rows that no step of the plan knows: " + list(drift.unknown_applied);
  }
  return text;
}

}  // namespace

const Condition* PlanStatus::Find(const std::string& type) const {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

const char* SeverityName(Severity severity) {
  return severity == Severity::kError ? "error" : "warning";
}

void RedactOutcome(const std::vector<std::string>& secrets, Outcome* outcome) {
  const auto redact = [&secrets](std::string& text) {
    text = RedactValues(std::move(text), secrets);
  };
  for (std::optional<Problem>* problem : {&outcome->stalled, &outcome->progressing}) {
    if (*problem) redact((*problem)->message);
  }
  if (outcome->failure) {
    redact(outcome->failure->statement);
    redact(outcome->failure->message);
  }
  for (LintFinding& finding : outcome->lint) redact(finding.message);
  for (std::string& note : outcome->notes) redact(note);
}

Problem UnexpectedError(const std::string& what) {
  return Problem{Reason::kInternalError,
                 "tidemark met an unexpected error: " + what +
                     " (a bug: please report it with the log); the next reconcile tries again"};
}

PlanStatus ComputeStatus(const Outcome& outcome, int64_t generation,
                         const std::vector<Condition>& previous, const std::string& now) {
  PlanStatus status;
  status.observed_generation = generation;
  status.total = outcome.total;
  status.applied = outcome.applied;
  status.to_revert = outcome.to_revert;
  status.pending_count = static_cast<int64_t>(outcome.pending.size());
  const auto first = [](const auto& list, size_t count) {
    return std::decay_t<decltype(list)>(list.begin(), list.begin() + std::min(list.size(), count));
  };
  status.pending = first(outcome.pending, kMaxPendingListed);
  status.approval = outcome.approval;
  status.last_applied = outcome.last_applied;
  status.restore_point = outcome.restore_point;
  status.backfill = outcome.backfill;
  status.failure = outcome.failure;
  if (status.failure) {
    status.failure->statement = Truncate(status.failure->statement, kMaxFailureStatement);
    status.failure->message = Truncate(status.failure->message, kMaxFailureMessage);
  }
  status.lint = first(outcome.lint, kMaxLintListed);
  for (LintFinding& finding : status.lint) {
    finding.message = Truncate(finding.message, kMaxFailureMessage);
  }
  status.drift.checksum_mismatches = first(outcome.drift.checksum_mismatches, kMaxDriftListed);
  status.drift.unknown_applied = first(outcome.drift.unknown_applied, kMaxDriftListed);

  if (outcome.stalled) {
    const Problem& p = *outcome.stalled;
    status.conditions = {Make("Ready", false, p.reason, p.message),
                         Make("Reconciling", false, p.reason, "stopped: progress needs a person"),
                         Make("Stalled", true, p.reason, p.message)};
  } else if (outcome.progressing) {
    const Problem& p = *outcome.progressing;
    status.conditions = {Make("Ready", false, p.reason, p.message),
                         Make("Reconciling", true, p.reason, p.message),
                         Make("Stalled", false, p.reason, "")};
  } else if (outcome.idle_reason == Reason::kSuspended || !outcome.pending.empty()) {
    const Reason reason = outcome.idle_reason.value_or(Reason::kPending);
    std::string message = DescribePending(outcome);
    if (reason == Reason::kDryRun) message += "; dryRun is set, nothing executed";
    if (reason == Reason::kSuspended) message += "; suspend is set, nothing touched";
    if (reason == Reason::kWaitingForApproval && outcome.approval) {
      message += "; " + DescribeApproval(*outcome.approval);
    }
    status.conditions = {Make("Ready", false, reason, message),
                         Make("Reconciling", false, reason, message),
                         Make("Stalled", false, reason, "")};
  } else if (!outcome.held.empty()) {
    // Ready for kstatus, so that the app (the next sync wave, a dependsOn) can roll out:
    // the post-deploy steps wait for exactly that.
    const std::string held = DescribeHeld(outcome);
    status.conditions = {Make("Ready", true, Reason::kWaitingForRollout,
                              "the pre-deploy steps are applied (" +
                                  std::to_string(outcome.applied) + " steps applied); " + held),
                         Make("Reconciling", false, Reason::kWaitingForRollout, ""),
                         Make("Stalled", false, Reason::kWaitingForRollout, ""),
                         Make("PostDeployPending", true, Reason::kWaitingForRollout, held)};
  } else {
    std::string message = "the database ledger matches the desired state (" +
                          std::to_string(outcome.applied) + " steps applied)";
    for (const std::string& note : outcome.notes) message += "; " + note;
    status.conditions = {Make("Ready", true, Reason::kUpToDate, message),
                         Make("Reconciling", false, Reason::kUpToDate, ""),
                         Make("Stalled", false, Reason::kUpToDate, "")};
  }
  if (outcome.drift.empty()) {
    status.conditions.push_back(Make("Drifted", false, Reason::kNoDrift, ""));
  } else {
    const Reason reason = outcome.drift.checksum_mismatches.empty() ? Reason::kUnknownApplied
                                                                    : Reason::kChecksumMismatch;
    status.conditions.push_back(Make("Drifted", true, reason, DescribeDrift(outcome.drift)));
  }

  for (Condition& condition : status.conditions) {
    condition.observed_generation = generation;
    condition.last_transition_time = now;
    for (const Condition& old : previous) {
      if (old.type == condition.type && old.status == condition.status &&
          !old.last_transition_time.empty()) {
        condition.last_transition_time = old.last_transition_time;
      }
    }
  }
  return status;
}

}  // namespace tidemark::plan
