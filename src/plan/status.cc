#include "plan/status.h"

namespace tidemark::plan {
namespace {

std::string Truncate(const std::string& text, size_t limit) {
  return text.size() <= limit ? text : text.substr(0, limit - 3) + "...";
}

// The limit of metav1.Condition.message.
constexpr size_t kMaxConditionMessage = 32768;

Condition Make(const std::string& type, bool status, const std::string& reason,
               const std::string& message) {
  return Condition{
      type, status ? "True" : "False", 0, "", reason, Truncate(message, kMaxConditionMessage)};
}

std::string DescribePending(const Outcome& outcome) {
  const size_t count = outcome.pending.size();
  if (count == 0) return "nothing pending";
  std::string text = std::to_string(count) + (count == 1 ? " step" : " steps") +
                     " pending, next: " + outcome.pending.front().action + " " +
                     outcome.pending.front().migration.ToString();
  return text;
}

std::string DescribeDrift(const Drift& drift) {
  std::string text;
  auto list = [](const std::vector<StepId>& ids) {
    std::string out;
    for (size_t i = 0; i < ids.size() && i < 10; ++i) out += (i ? ", " : "") + ids[i].ToString();
    if (ids.size() > 10) out += ", and " + std::to_string(ids.size() - 10) + " more";
    return out;
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

PlanStatus ComputeStatus(const Outcome& outcome, int64_t generation,
                         const std::vector<Condition>& previous, const std::string& now) {
  PlanStatus status;
  status.observed_generation = generation;
  status.total = outcome.total;
  status.applied = outcome.applied;
  status.to_revert = outcome.to_revert;
  status.pending_count = static_cast<int64_t>(outcome.pending.size());
  for (size_t i = 0; i < outcome.pending.size() && i < kMaxPendingListed; ++i) {
    status.pending.push_back(outcome.pending[i]);
  }
  status.last_applied = outcome.last_applied;
  status.failure = outcome.failure;
  status.lint = outcome.lint;
  status.drift = outcome.drift;

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
  } else if (outcome.idle_reason == "Suspended" || !outcome.pending.empty()) {
    const std::string reason = outcome.idle_reason.value_or("Pending");
    const std::string message =
        DescribePending(outcome) + (reason == "DryRun"      ? "; dryRun is set, nothing executed"
                                    : reason == "Suspended" ? "; suspend is set, nothing touched"
                                                            : "");
    status.conditions = {Make("Ready", false, reason, message),
                         Make("Reconciling", false, reason, message),
                         Make("Stalled", false, reason, "")};
  } else {
    std::string message = "the database ledger matches the desired state (" +
                          std::to_string(outcome.applied) + " steps applied)";
    for (const std::string& note : outcome.notes) message += "; " + note;
    status.conditions = {Make("Ready", true, "UpToDate", message),
                         Make("Reconciling", false, "UpToDate", ""),
                         Make("Stalled", false, "UpToDate", "")};
  }
  if (outcome.drift.empty()) {
    status.conditions.push_back(Make("Drifted", false, "NoDrift", ""));
  } else {
    const char* reason =
        outcome.drift.checksum_mismatches.empty() ? "UnknownApplied" : "ChecksumMismatch";
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

nlohmann::ordered_json StatusToJson(const PlanStatus& status) {
  nlohmann::ordered_json out;
  out["observedGeneration"] = status.observed_generation;
  out["conditions"] = nlohmann::ordered_json::array();
  for (const Condition& c : status.conditions) {
    out["conditions"].push_back({{"type", c.type},
                                 {"status", c.status},
                                 {"observedGeneration", c.observed_generation},
                                 {"lastTransitionTime", c.last_transition_time},
                                 {"reason", c.reason},
                                 {"message", c.message}});
  }
  out["summary"] = {{"total", status.total},
                    {"applied", status.applied},
                    {"pending", status.pending_count},
                    {"toRevert", status.to_revert}};
  out["pending"] = nlohmann::ordered_json::array();
  for (const PendingAction& p : status.pending) {
    out["pending"].push_back({{"action", p.action}, {"migration", p.migration.ToString()}});
  }
  if (status.last_applied) {
    const StepRecord& r = *status.last_applied;
    out["lastApplied"] = {{"migration", r.migration.ToString()},
                          {"action", r.action},
                          {"at", r.at},
                          {"durationMs", r.duration_ms}};
  }
  if (status.failure) {
    const StepFailure& f = *status.failure;
    nlohmann::ordered_json failure = {{"migration", f.migration.ToString()}};
    if (f.statement_index >= 0) {
      failure["statement"] = {{"index", f.statement_index}, {"text", Truncate(f.statement, 200)}};
    }
    failure["sqlState"] = f.sql_state;
    failure["message"] = f.message;
    failure["at"] = f.at;
    failure["attempts"] = f.attempts;
    out["failure"] = failure;
  }
  out["lint"] = nlohmann::ordered_json::array();
  for (const LintFinding& l : status.lint) {
    out["lint"].push_back({{"migration", l.migration.ToString()},
                           {"rule", l.rule},
                           {"severity", l.severity},
                           {"message", l.message}});
  }
  nlohmann::ordered_json drift = {{"checksumMismatches", nlohmann::ordered_json::array()},
                                  {"unknownApplied", nlohmann::ordered_json::array()}};
  for (const StepId& id : status.drift.checksum_mismatches) {
    drift["checksumMismatches"].push_back(id.ToString());
  }
  for (const StepId& id : status.drift.unknown_applied) {
    drift["unknownApplied"].push_back(id.ToString());
  }
  out["drift"] = drift;
  return out;
}

std::vector<Condition> ConditionsFromJson(const nlohmann::ordered_json& status) {
  std::vector<Condition> conditions;
  if (!status.is_object() || !status.contains("conditions") || !status["conditions"].is_array()) {
    return conditions;
  }
  for (const auto& c : status["conditions"]) {
    if (!c.is_object()) continue;
    Condition condition;
    condition.type = c.value("type", "");
    condition.status = c.value("status", "");
    condition.reason = c.value("reason", "");
    condition.message = c.value("message", "");
    condition.last_transition_time = c.value("lastTransitionTime", "");
    condition.observed_generation = c.value("observedGeneration", int64_t{0});
    conditions.push_back(condition);
  }
  return conditions;
}

}  // namespace tidemark::plan
