#include "resource/status_codec.h"

namespace tidemark::resource {

using plan::Condition;
using plan::LintFinding;
using plan::PendingAction;
using plan::PlanStatus;
using plan::StepFailure;
using plan::StepId;
using plan::StepRecord;

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
    out["pending"].push_back(
        {{"action", plan::RecordedActionName(p.action)}, {"migration", p.migration.ToString()}});
  }
  if (status.approval) {
    out["approval"] = {{"digest", status.approval->digest},
                       {"approved", status.approval->Approved()}};
  }
  if (status.last_applied) {
    const StepRecord& r = *status.last_applied;
    out["lastApplied"] = {{"migration", r.migration.ToString()},
                          {"action", plan::RecordedActionName(r.action)},
                          {"at", r.at},
                          {"durationMs", r.duration_ms}};
  }
  if (status.restore_point) {
    out["lastRun"] = {
        {"restorePoint",
         {{"at", status.restore_point->at}, {"walLsn", status.restore_point->wal_lsn}}}};
  }
  if (status.backfill) {
    out["backfill"] = {{"migration", status.backfill->migration.ToString()},
                       {"rows", status.backfill->rows},
                       {"batches", status.backfill->batches},
                       {"rowsPerSecond", static_cast<int64_t>(status.backfill->rows_per_second)}};
  }
  if (status.failure) {
    const StepFailure& f = *status.failure;
    nlohmann::ordered_json failure = {{"migration", f.migration.ToString()}};
    if (f.statement_index >= 0) {
      failure["statement"] = {{"index", f.statement_index}, {"text", f.statement}};
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
                           {"severity", plan::SeverityName(l.severity)},
                           {"message", l.message},
                           {"accepted", l.accepted}});
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

}  // namespace tidemark::resource
