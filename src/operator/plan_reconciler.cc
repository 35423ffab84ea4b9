#include "operator/plan_reconciler.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "plan/status.h"
#include "postgres/connection.h"
#include "postgres/pg_store.h"
#include "spec/decode.h"

namespace tidemark::op {
namespace {

using nlohmann::json;

// How long a run goes before its plan's status says it is under way.
constexpr std::chrono::seconds kProgressDelay{1};

std::string Truncate(std::string text, size_t limit) {
  if (text.size() > limit) text = text.substr(0, limit - 3) + "...";
  return text;
}

// The object as the plan decoder reads it, without the status: the controller's own output,
// and most of the object once written.
YAML::Node PlanDocument(const json& object) {
  YAML::Node document(YAML::NodeType::Map);
  for (const auto& [key, value] : object.items()) {
    if (key != "status") document.force_insert(key, spec::FromJson(value));
  }
  return document;
}

bool IsReady(const plan::PlanStatus& status) {
  const plan::Condition* ready = status.Find("Ready");
  return ready && ready->status == "True";
}

}  // namespace

PlanReconciler::PlanReconciler(const kube::Client& client, spec::ObjectSource& objects,
                               runtime::EventRecorder* events, metrics::Metrics& metrics,
                               ReconcilerOptions options)
    : client_(client),
      objects_(objects),
      events_(events),
      metrics_(metrics),
      options_(options),
      sessions_(options.session_idle, options.idle_sessions) {}

ReconcileResult PlanReconciler::Reconcile(const json& object) {
  const auto started = std::chrono::steady_clock::now();
  const json metadata = object.value("metadata", json::object());
  const std::string ns = metadata.value("namespace", "default");
  const std::string name = metadata.value("name", "");
  const int64_t generation = metadata.value("generation", int64_t{0});
  const auto previous =
      plan::ConditionsFromJson(nlohmann::ordered_json(object.value("status", json::object())));
  // Every log line of this reconcile carries the plan, its generation and a reconcile id.
  static std::atomic<uint64_t> reconciles{0};
  const log::Fields fields = {{"plan", ns + "/" + name},
                              {"generation", std::to_string(generation)},
                              {"reconcile", std::to_string(++reconciles)}};
  const auto with = [&fields](log::Fields extra) {
    log::Fields all = fields;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };

  engine::Report report;
  auto decoded = spec::DecodePlan(PlanDocument(object), "MigrationPlan " + ns + "/" + name);
  if (!decoded.ok()) {
    report.outcome.stalled = plan::Problem{"InvalidSpec", decoded.status().message()};
  } else {
    plan::MigrationPlan plan = std::move(decoded).value();
    if (Status completed = spec::CompletePlan(&plan, objects_); !completed.ok()) {
      report.outcome.stalled = plan::Problem{"InvalidSpec", completed.message()};
    } else {
      engine::Options options;
      options.lock_wait = options_.lock_wait;
      engine::Observer observer;
      observer.on_lock_acquired = [this](double seconds) { metrics_.ObserveLockWait(seconds); };
      std::jthread progress;  // publishes Reconciling/Applying if the run lasts
      observer.on_step_start = [&](const plan::Action& action, size_t index, size_t count) {
        log::Info("step started",
                  with({{"step", action.step->id.ToString()},
                        {"action", plan::ActionName(action.kind)},
                        {"index", std::to_string(index + 1) + "/" + std::to_string(count)}}));
        if (index != 0) return;
        // Say that work is under way (Reconciling/Applying until the final status) once the
        // run has lasted kProgressDelay: a short run goes straight to its final status, one
        // write instead of two, and never builds this one.
        const bool reverting = action.kind == plan::ActionKind::kRevert;
        plan::Problem working{
            reverting ? "Reverting" : "Applying",
            std::to_string(count) + " steps to run, starting with " + action.step->id.ToString()};
        progress = std::jthread([this, &ns, &name, &previous, generation,
                                 working = std::move(working)](std::stop_token stop) {
          std::mutex mutex;
          std::condition_variable_any finished;
          std::unique_lock lock(mutex);
          finished.wait_for(lock, stop, kProgressDelay, [] { return false; });
          if (stop.stop_requested()) return;
          PublishProgress(ns, name, generation, previous, working);
        });
      };
      observer.on_step_done = [&](const plan::Action& action, const ledger::StepResult& result) {
        metrics_.RecordStep(plan::ActionName(action.kind), result.ok ? "success" : "failure",
                            result.duration_ms / 1000.0);
        log::Write(result.ok ? log::Level::kInfo : log::Level::kWarn,
                   result.ok ? "step done" : "step failed",
                   with({{"step", action.step->id.ToString()},
                         {"durationMs", std::to_string(static_cast<int64_t>(result.duration_ms))},
                         {"error", result.error.message}}));
      };
      const engine::Connector connect = [&]() -> Result<ledger::StorePtr> {
        TM_ASSIGN_OR_RETURN(postgres::ConnectionParams params,
                            postgres::ResolveConnection(plan.database, ns, objects_,
                                                        /*allow_local_sources=*/false));
        postgres::ConnectOptions connect_options;
        connect_options.schema = plan.database.schema;
        connect_options.ledger = plan.ledger;
        return sessions_.Connect(params, connect_options);
      };
      report = engine::Reconcile(plan, connect, options, observer);
      // The progress status is cancelled, or written, before the final one.
      progress = std::jthread();
    }
  }

  const plan::PlanStatus status =
      plan::ComputeStatus(report.outcome, generation, previous, engine::NowRfc3339());
  const Status published = PublishStatus(object, json(plan::StatusToJson(status)));
  RecordEvents(object, report);

  const bool ready = IsReady(status);
  metrics_.SetPlanState(ns, name, status.pending_count, ready);
  metrics_.SetDrift(ns, name, static_cast<int64_t>(status.drift.checksum_mismatches.size()),
                    static_cast<int64_t>(status.drift.unknown_applied.size()));
  ReconcileResult result;
  const bool idle = report.outcome.idle_reason.has_value() && !report.outcome.stalled &&
                    !report.outcome.progressing;
  if (!published.ok()) {
    result = {ReconcileResult::Next::kRetryWithBackoff, "error"};
    log::Warn("status not written", with({{"error", published.message()}}));
  } else if (ready || idle) {
    result = {ReconcileResult::Next::kResync, "success"};
  } else {
    result = {ReconcileResult::Next::kRetryWithBackoff, "requeue"};
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.RecordReconcile(result.metric_result, seconds);
  const plan::Condition* headline = status.Find(ready                    ? "Ready"
                                                : report.outcome.stalled ? "Stalled"
                                                                         : "Reconciling");
  log::Info("reconciled", with({{"result", result.metric_result},
                                {"reason", headline ? headline->reason : ""},
                                {"applied", std::to_string(report.done.size())},
                                {"seconds", std::to_string(seconds)}}));
  return result;
}

Status PlanReconciler::PublishStatus(const json& object, const json& status) {
  if (object.contains("status") && object["status"] == status) return Status::Ok();
  const json metadata = object.value("metadata", json::object());
  auto patched = client_.PatchStatus(kMigrationPlans, metadata.value("namespace", "default"),
                                     metadata.value("name", ""), kube::PatchType::kMerge,
                                     {{"status", status}});
  return patched.status();
}

void PlanReconciler::PublishProgress(const std::string& ns, const std::string& name,
                                     int64_t generation,
                                     const std::vector<plan::Condition>& previous,
                                     const plan::Problem& working) {
  plan::Outcome outcome;
  outcome.progressing = working;
  const plan::PlanStatus status =
      plan::ComputeStatus(outcome, generation, previous, engine::NowRfc3339());
  json conditions = json(plan::StatusToJson(status))["conditions"];
  // The run has not read the ledger yet: Drifted stays as it was.
  for (auto& condition : conditions) {
    for (const plan::Condition& old : previous) {
      if (condition["type"] == "Drifted" && old.type == "Drifted") {
        condition["status"] = old.status;
        condition["reason"] = old.reason;
        condition["message"] = old.message;
        condition["lastTransitionTime"] = old.last_transition_time;
      }
    }
  }
  (void)client_.PatchStatus(kMigrationPlans, ns, name, kube::PatchType::kMerge,
                            {{"status", {{"conditions", conditions}}}});
}

void PlanReconciler::RecordEvents(const json& object, const engine::Report& report) {
  if (events_ == nullptr) return;
  const plan::Outcome& out = report.outcome;
  constexpr size_t kMaxNote = 1024;
  if (!report.done.empty()) {
    // One event for the run: what it did, and whether that brought the plan to its target.
    bool reverted = false;
    int64_t total_ms = 0;
    std::string steps;
    for (const plan::StepRecord& record : report.done) {
      reverted |= record.action == "revert";
      total_ms += record.duration_ms;
      steps += (steps.empty() ? "" : ", ") + record.migration.ToString();
    }
    const bool up_to_date = !out.stalled && !out.progressing && out.pending.empty();
    events_->Record(
        object, runtime::EventType::kNormal, reverted ? "Reverted" : "Applied", "Migrate",
        Truncate(std::to_string(report.done.size()) + " steps in " + std::to_string(total_ms) +
                     " ms" + (up_to_date ? ", the ledger now matches the plan: " : ": ") + steps,
                 kMaxNote));
  }
  if (out.stalled) {
    events_->Record(object, runtime::EventType::kWarning, out.stalled->reason, "Reconcile",
                    Truncate(out.stalled->message, kMaxNote));
  } else if (out.progressing) {
    const bool warning = out.progressing->reason != "WaitingForLock";
    events_->Record(object, warning ? runtime::EventType::kWarning : runtime::EventType::kNormal,
                    out.progressing->reason, "Reconcile",
                    Truncate(out.progressing->message, kMaxNote));
  }
}

}  // namespace tidemark::op
