#include "operator/plan_reconciler.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"
#include "kube/merge_patch.h"
#include "operator/job_runner.h"
#include "plan/status.h"
#include "postgres/connection.h"
#include "postgres/pg_store.h"
#include "resource/decode.h"
#include "resource/status_codec.h"

namespace tidemark::op {
namespace {

using nlohmann::json;

// How long a run goes before its plan's status says it is under way.
constexpr std::chrono::seconds kProgressDelay{1};
// How often a back-fill's progress is written to the status, at most.
constexpr std::chrono::seconds kBackfillShown{1};
// An event's note says what happened; the status holds the rest.
constexpr size_t kMaxNote = 1024;

bool IsReady(const plan::PlanStatus& status) {
  const plan::Condition* ready = status.Find("Ready");
  return ready && ready->status == "True";
}

// When post-deploy steps began to wait for the rollout (PostDeployPending turned True), as
// `conditions` say; nullopt when none waits.
std::optional<WallTime> PostDeployPendingSince(const std::vector<plan::Condition>& conditions) {
  for (const plan::Condition& condition : conditions) {
    if (condition.type != "PostDeployPending" || condition.status != "True") continue;
    auto since = ParseRfc3339(condition.last_transition_time);
    if (since.ok()) return *since;
  }
  return std::nullopt;
}

}  // namespace

Status ClusterSink::PatchStatus(const std::string& ns, const std::string& name,
                                const json& status) {
  return client_
      .PatchStatus(kMigrationPlans, ns, name, kube::PatchType::kMerge, {{"status", status}})
      .status();
}

void ClusterSink::RecordEvent(const json& plan, runtime::EventType type, const std::string& reason,
                              const std::string& action, const std::string& note) {
  if (events_) events_->Record(plan, type, reason, action, note);
}

Result<ledger::StorePtr> PooledSessions::Connect(const plan::MigrationPlan& plan) {
  TM_ASSIGN_OR_RETURN(postgres::ConnectionParams params,
                      postgres::ResolveConnection(plan.database, plan.meta.ns, objects_,
                                                  /*allow_local_sources=*/false));
  postgres::ConnectOptions connect_options;
  connect_options.schema = plan.database.schema;
  connect_options.ledger = plan.ledger;
  return pool_.Connect(params, connect_options);
}

struct PlanReconciler::Context {
  std::string ns, name;
  int64_t generation = 0;
  std::vector<plan::Condition> previous;  // the stored status's conditions
  log::Fields fields;                     // plan, generation and a reconcile id
  // Set once a progress status showed a back-fill (status.backfill), which the final status
  // then removes; and when the last one was written. The reconciling thread only.
  mutable bool showed_backfill = false;
  mutable std::chrono::steady_clock::time_point backfill_shown;

  log::Fields With(log::Fields extra) const {
    log::Fields all = fields;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  }
};

PlanReconciler::PlanReconciler(PlanSink& sink, resource::ObjectSource& objects,
                               SessionSource& sessions, RolloutSource& rollouts, PlanIndex& index,
                               metrics::Metrics& metrics, ReconcilerOptions options,
                               JobControl* jobs)
    : sink_(sink),
      objects_(objects),
      sessions_(sessions),
      rollouts_(rollouts),
      index_(index),
      metrics_(metrics),
      options_(options),
      jobs_(jobs) {}

void PlanReconciler::Deleted(const std::string& key) {
  const size_t slash = key.find('/');
  metrics_.ForgetPlan(key.substr(0, slash), key.substr(slash + 1));
  index_.Forget(key);
}

Action PlanReconciler::Reconcile(const json& object, std::stop_token stop) {
  const auto started = std::chrono::steady_clock::now();
  const json metadata = object.value("metadata", json::object());
  Context context;
  context.ns = metadata.value("namespace", "default");
  context.name = metadata.value("name", "");
  context.generation = metadata.value("generation", int64_t{0});
  context.previous =
      resource::ConditionsFromJson(nlohmann::ordered_json(object.value("status", json::object())));
  // Every log line of this reconcile carries the plan, its generation and a reconcile id.
  static std::atomic<uint64_t> reconciles{0};
  context.fields = {{"plan", context.ns + "/" + context.name},
                    {"generation", std::to_string(context.generation)},
                    {"reconcile", std::to_string(++reconciles)}};

  std::optional<GateVerdict> gate;
  const engine::Report report = Run(object, context, std::move(stop), &gate);
  const plan::PlanStatus status = plan::ComputeStatus(report.outcome, context.generation,
                                                      context.previous, engine::NowRfc3339());
  // The stored status as this run's progress statuses left it: with a back-fill's counts.
  json with_backfill;
  if (context.showed_backfill) {
    with_backfill = object;
    with_backfill["status"]["backfill"] = json::object();
  }
  const Status published = PublishStatus(context.showed_backfill ? with_backfill : object,
                                         json(resource::StatusToJson(status)));
  if (gate && gate->open) RecordGateOpened(object, context, report);
  RecordEvents(object, report);
  if (published.code() == StatusCode::kNotFound) {
    // Deleted while this reconcile ran: what it did is in the ledger and the events; the
    // plan's series, forgotten at its deletion, are not set again.
    log::Info("plan deleted during its reconcile; status not written",
              context.With({{"applied", std::to_string(report.done.size())}}));
    metrics_.ForgetPlan(context.ns, context.name);
    return Action::AwaitChange();
  }
  if (!published.ok()) {
    log::Warn("status not written", context.With({{"error", published.message()}}));
  }

  const bool ready = IsReady(status);
  metrics_.SetPlanState(context.ns, context.name, status.pending_count, ready);
  metrics_.SetPostDeployPendingSince(context.ns, context.name,
                                     PostDeployPendingSince(status.conditions));
  metrics_.SetDrift(context.ns, context.name,
                    static_cast<int64_t>(status.drift.checksum_mismatches.size()),
                    static_cast<int64_t>(status.drift.unknown_applied.size()));
  const Action action =
      plan::NextAction(report.outcome, published.ok(), options_.requeue,
                       plan::MovedOn(report.done.size(), published.ok(), context.previous, status));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const plan::Condition* headline = status.Find(ready                    ? "Ready"
                                                : report.outcome.stalled ? "Stalled"
                                                                         : "Reconciling");
  // Not ready, the line says why (the condition's message, as the status has it: a refused
  // login names where and as whom), so that the logs alone tell what to fix.
  log::Info("reconciled", context.With({{"result", ReconcileResultName(action.result())},
                                        {"next", action.ToString()},
                                        {"reason", headline ? headline->reason : ""},
                                        {"message", headline && !ready ? headline->message : ""},
                                        {"applied", std::to_string(report.done.size())},
                                        {"seconds", std::to_string(seconds)}}));
  return action;
}

Action PlanReconciler::Threw(const json& object, const std::string& what) {
  const json metadata = object.value("metadata", json::object());
  plan::Outcome outcome;
  outcome.stalled = plan::UnexpectedError(what);
  const std::vector<plan::Condition> previous =
      resource::ConditionsFromJson(nlohmann::ordered_json(object.value("status", json::object())));
  const plan::PlanStatus status = plan::ComputeStatus(
      outcome, metadata.value("generation", int64_t{0}), previous, engine::NowRfc3339());
  const json conditions = json(resource::StatusToJson(status))["conditions"];
  if (Status written = sink_.PatchStatus(metadata.value("namespace", "default"),
                                         metadata.value("name", ""), {{"conditions", conditions}});
      !written.ok() && written.code() != StatusCode::kNotFound) {
    log::Warn("status not written", {{"error", written.message()}});
  }
  sink_.RecordEvent(object, runtime::EventType::kWarning, "InternalError", "Reconcile",
                    Truncate(outcome.stalled->message, kMaxNote));
  return Action::Error();
}

// Decodes the plan, completes it with its ConfigMaps and runs the engine on it.
engine::Report PlanReconciler::Run(const json& object, const Context& context, std::stop_token stop,
                                   std::optional<GateVerdict>* gate) {
  engine::Report report;
  auto decoded = resource::DecodePlan(object, "MigrationPlan " + context.ns + "/" + context.name);
  if (!decoded.ok()) {
    report.outcome.stalled = plan::Problem{plan::Reason::kInvalidSpec, decoded.status().message()};
    return report;
  }
  plan::MigrationPlan plan = std::move(decoded).value();
  index_.Record(plan);  // before completing it: a ConfigMap it lacks is one it names
  if (Status completed = resource::CompletePlan(&plan, objects_); !completed.ok()) {
    report.outcome.stalled = plan::Problem{plan::Reason::kInvalidSpec, completed.message()};
    return report;
  }
  engine::Options options;
  options.lock_wait = options_.lock_wait;
  options.stop = std::move(stop);
  std::optional<JobRunner> runner;  // python steps as Jobs, never as a process here
  if (jobs_ && plan.runner && !plan.runner->job_template_json.empty()) {
    options.runner = &runner.emplace(*jobs_, objects_, sink_, object, plan);
  }
  // Pre-deploy steps never wait; post-deploy ones are held until the app has rolled out.
  if (plan.rollout) *gate = rollouts_.Judge(plan.meta.ns, plan.rollout->workloads);
  if (*gate && !(*gate)->open) options.phase = plan::Phase::kPreDeploy;
  std::jthread progress;  // publishes Reconciling/Applying if the run lasts
  const engine::Observer observer = ObserveRun(context, progress);
  report = engine::Reconcile(
      plan, [&]() { return sessions_.Connect(plan); }, options, observer);
  // The progress status is cancelled, or written, before the final one.
  progress = std::jthread();
  if (*gate && !report.outcome.held.empty()) report.outcome.held_for = (*gate)->waiting;
  return report;
}

// Step logs and metrics, and the progress status once a run lasts kProgressDelay: a short
// run goes straight to its final status, one write instead of two, and never builds this.
engine::Observer PlanReconciler::ObserveRun(const Context& context, std::jthread& progress) {
  engine::Observer observer;
  observer.on_lock_acquired = [this](double seconds) { metrics_.ObserveLockWait(seconds); };
  observer.on_restore_point = [&context](const plan::RestorePoint& point) {
    log::Info("restore point", context.With({{"at", point.at}, {"walLsn", point.wal_lsn}}));
  };
  observer.on_step_start = [this, &context, &progress](const plan::Action& action, size_t index,
                                                       size_t count) {
    log::Info("step started",
              context.With({{"step", action.step->id.ToString()},
                            {"action", plan::ActionName(action.kind)},
                            {"index", std::to_string(index + 1) + "/" + std::to_string(count)}}));
    if (index != 0) return;
    const bool reverting = action.kind == plan::ActionKind::kRevert;
    plan::Problem working{
        reverting ? plan::Reason::kReverting : plan::Reason::kApplying,
        std::to_string(count) + " steps to run, starting with " + action.step->id.ToString()};
    progress = std::jthread([this, &context, working = std::move(working)](std::stop_token stop) {
      if (!SystemClock().SleepFor(kProgressDelay, stop)) return;
      PublishProgress(context, working);
    });
  };
  observer.on_step_blocked = [this, &context](const plan::Action& action,
                                              const std::vector<ledger::Blocker>& blockers) {
    const std::string held_by = ledger::DescribeBlockers(blockers);
    log::Warn("step waits for a lock",
              context.With({{"step", action.step->id.ToString()}, {"heldBy", held_by}}));
    metrics_.SetBlockingSessions(context.ns, context.name, static_cast<int64_t>(blockers.size()));
    PublishProgress(context, {action.kind == plan::ActionKind::kRevert ? plan::Reason::kReverting
                                                                       : plan::Reason::kApplying,
                              action.step->id.ToString() + " waits for a lock held by " + held_by});
  };
  // Metrics per batch; the status at most once per kBackfillShown, the first batch at once.
  observer.on_backfill_progress = [this, &context](const plan::Action& action,
                                                   const ledger::BackfillProgress& counts) {
    metrics_.AddBackfillBatch(context.ns, context.name, action.step->id.ToString(),
                              counts.batch_rows);
    const auto now = std::chrono::steady_clock::now();
    if (context.showed_backfill && now - context.backfill_shown < kBackfillShown) return;
    context.showed_backfill = true;
    context.backfill_shown = now;
    PublishProgress(context,
                    {plan::Reason::kApplying, "back-fill " + action.step->id.ToString() + ": " +
                                                  ledger::RowsInBatches(counts)},
                    ledger::StatusOf(action.step->id, counts));
  };
  observer.on_step_done = [this, &context](const plan::Action& action,
                                           const ledger::StepResult& result) {
    metrics_.SetBlockingSessions(context.ns, context.name, 0);
    metrics_.RecordStep(action.kind, result.ok, result.duration_ms / 1000.0);
    if (result.by_runner) metrics_.RecordRunnerStep(result.ok, result.duration_ms / 1000.0);
    log::Write(
        result.ok ? log::Level::kInfo : log::Level::kWarn, result.ok ? "step done" : "step failed",
        context.With({{"step", action.step->id.ToString()},
                      {"durationMs", std::to_string(static_cast<int64_t>(result.duration_ms))},
                      {"error", result.error.message}}));
  };
  return observer;
}

Status PlanReconciler::PublishStatus(const json& object, const json& status) {
  const json current = object.value("status", json::object());
  json desired = status;
  for (const char* field : resource::kLastRunFields) {
    if (!desired.contains(field) && current.contains(field)) desired[field] = current[field];
  }
  if (current == desired) return Status::Ok();
  const json metadata = object.value("metadata", json::object());
  // Fields this status no longer has (a failure once fixed) are removed, not left stale.
  return sink_.PatchStatus(metadata.value("namespace", "default"), metadata.value("name", ""),
                           kube::MergePatchReplacing(current, desired));
}

void PlanReconciler::PublishProgress(const Context& context, const plan::Problem& working,
                                     const std::optional<plan::BackfillStatus>& backfill) {
  const std::vector<plan::Condition>& previous = context.previous;
  plan::Outcome outcome;
  outcome.progressing = working;
  outcome.backfill = backfill;
  const plan::PlanStatus status =
      plan::ComputeStatus(outcome, context.generation, previous, engine::NowRfc3339());
  const json written = json(resource::StatusToJson(status));
  json conditions = written["conditions"];
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
  json patch = {{"conditions", conditions}};
  if (backfill) patch["backfill"] = written["backfill"];
  // A plan deleted meanwhile is told at the end of the reconcile, once.
  if (Status patched = sink_.PatchStatus(context.ns, context.name, patch);
      !patched.ok() && patched.code() != StatusCode::kNotFound) {
    log::Warn("progress status not written", context.With({{"error", patched.message()}}));
  }
}

void PlanReconciler::RecordGateOpened(const json& object, const Context& context,
                                      const engine::Report& report) {
  const std::optional<WallTime> since = PostDeployPendingSince(context.previous);
  if (!since || !report.outcome.held.empty()) return;  // never held, or still held
  const double waited =
      std::max(0.0, std::chrono::duration<double>(SystemClock().WallNow() - *since).count());
  metrics_.ObservePostDeployWait(waited);
  sink_.RecordEvent(object, runtime::EventType::kNormal, "RolloutComplete", "Migrate",
                    "the app's workloads have rolled out after " +
                        std::to_string(static_cast<int64_t>(waited)) +
                        " s of waiting: the post-deploy steps are released");
  log::Info("post-deploy steps released",
            context.With({{"waitedSeconds", std::to_string(waited)}}));
}

void PlanReconciler::RecordEvents(const json& object, const engine::Report& report) {
  const plan::Outcome& out = report.outcome;
  if (!report.done.empty()) {
    // One event for the run: what it did, and whether that brought the plan to its target.
    bool reverted = false;
    int64_t total_ms = 0;
    std::string steps;
    for (const plan::StepRecord& record : report.done) {
      reverted |= record.action == plan::RecordedAction::kRevert;
      total_ms += record.duration_ms;
      steps += (steps.empty() ? "" : ", ") + record.migration.ToString();
    }
    const bool up_to_date = !out.stalled && !out.progressing && out.pending.empty();
    sink_.RecordEvent(
        object, runtime::EventType::kNormal, reverted ? "Reverted" : "Applied", "Migrate",
        Truncate(std::to_string(report.done.size()) + " steps in " + std::to_string(total_ms) +
                     " ms" + (up_to_date ? ", the ledger now matches the plan: " : ": ") + steps,
                 kMaxNote));
  }
  if (out.stalled) {
    sink_.RecordEvent(object, runtime::EventType::kWarning, plan::ReasonName(out.stalled->reason),
                      "Reconcile", Truncate(out.stalled->message, kMaxNote));
  } else if (out.progressing) {
    // Waiting on a lock or on a runner Job is normal; the other transient reasons are not.
    const bool warning = out.progressing->reason != plan::Reason::kWaitingForLock &&
                         out.progressing->reason != plan::Reason::kRunnerRunning;
    sink_.RecordEvent(object, warning ? runtime::EventType::kWarning : runtime::EventType::kNormal,
                      plan::ReasonName(out.progressing->reason), "Reconcile",
                      Truncate(out.progressing->message, kMaxNote));
  }
}

}  // namespace tidemark::op
