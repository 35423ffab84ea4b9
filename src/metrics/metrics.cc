#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <span>

#include "base/log.h"

namespace tidemark::metrics {
namespace {

// A reconcile reads the cluster cache and the ledger, and may run steps: milliseconds to
// many minutes.
const prometheus::Histogram::BucketBoundaries kReconcileBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800};
// DDL takes from a millisecond (a new table) to an hour (an index on a large table).
const prometheus::Histogram::BucketBoundaries kStepBuckets = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600};
// The advisory lock is free at once, or held by another run for as long as its steps take.
const prometheus::Histogram::BucketBoundaries kLockWaitBuckets = {0.001, 0.01, 0.1, 0.5, 1,  5,
                                                                  10,    30,   60,  300, 600};
// A rollout takes seconds to hours (a large app, a slow canary).
const prometheus::Histogram::BucketBoundaries kPostDeployWaitBuckets = {
    1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600};

// The per-plan gauges: not in the registry (see Metrics::PlanValues), hence their help here.
constexpr char kPlanPendingSteps[] = "tidemark_plan_pending_steps";
constexpr char kPlanPendingStepsHelp[] = "Actions (apply, revert, fake) a plan still has to run.";
constexpr char kPlanReady[] = "tidemark_plan_ready";
constexpr char kPlanReadyHelp[] = "1 when the plan's Ready condition is True, else 0.";
constexpr char kDrift[] = "tidemark_drift";
constexpr char kDriftHelp[] =
    "Ledger drift of a plan: applied steps whose SQL changed (checksum_mismatch) and ledger "
    "rows the plan does not know (unknown_applied).";

constexpr char kBlockingSessions[] = "tidemark_step_blocking_sessions";
constexpr char kBlockingSessionsHelp[] =
    "Sessions holding a lock that the plan's running step waits for (pg_blocking_pids).";

constexpr char kPostDeployPendingSince[] = "tidemark_post_deploy_pending_since_seconds";
constexpr char kPostDeployPendingSinceHelp[] =
    "Unix time at which a plan's post-deploy steps started waiting for the app's rollout "
    "(spec.rollout); absent while none waits.";

constexpr char kBackfillRows[] = "tidemark_backfill_rows_total";
constexpr char kBackfillRowsHelp[] =
    "Rows changed by the batches of a plan's back-fill steps (kind: Backfill), by migration.";
constexpr char kBackfillBatches[] = "tidemark_backfill_batches_total";
constexpr char kBackfillBatchesHelp[] =
    "Batches of a plan's back-fill steps that changed rows, each its own transaction, by "
    "migration.";

constexpr char kReconcileTotal[] = "tidemark_reconcile_total";
constexpr char kReconcileDuration[] = "tidemark_reconcile_duration_seconds";
constexpr char kStepsTotal[] = "tidemark_steps_total";
constexpr char kStepDuration[] = "tidemark_step_duration_seconds";
constexpr char kRunnerSteps[] = "tidemark_runner_steps_total";
constexpr char kRunnerStepDuration[] = "tidemark_runner_step_duration_seconds";
constexpr char kLockWait[] = "tidemark_lock_wait_seconds";
constexpr char kPostDeployWait[] = "tidemark_post_deploy_wait_seconds";
constexpr char kWorkqueueDepth[] = "tidemark_workqueue_depth";
constexpr char kWatchRestarts[] = "tidemark_watch_restarts_total";
constexpr char kLeader[] = "tidemark_leader";
constexpr char kBuildInfo[] = "tidemark_build_info";

bool InSet(std::span<const std::string_view> set, std::string_view value) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

// A caller passed a label value outside its closed set: a bug, reported without a new series.
bool CheckLabel(std::span<const std::string_view> set, std::string_view label,
                std::string_view value) {
  if (InSet(set, value)) return true;
  log::Error("metrics: label value outside its set, sample dropped",
             {{"label", std::string(label)}, {"value", std::string(value)}});
  return false;
}

template <typename Builder>
auto& Register(Builder builder, const char* name, const char* help,
               prometheus::Registry& registry) {
  return builder.Name(name).Help(help).Register(registry);
}

}  // namespace

const std::vector<std::string>& FamilyNames() {
  static const std::vector<std::string> names = {
      kReconcileTotal,     kReconcileDuration, kStepsTotal,     kStepDuration, kRunnerSteps,
      kRunnerStepDuration, kPlanPendingSteps,  kPlanReady,      kLockWait,     kDrift,
      kWorkqueueDepth,     kWatchRestarts,     kLeader,         kBuildInfo,    kBlockingSessions,
      kPostDeployWait,     kBackfillRows,      kBackfillBatches};
  return names;
}

Metrics::Metrics(std::string version)
    : registry_(std::make_shared<prometheus::Registry>()),
      reconcile_total_(Register(prometheus::BuildCounter(), kReconcileTotal,
                                "Reconciles of MigrationPlans, by result.", *registry_)),
      reconcile_duration_(Register(prometheus::BuildHistogram(), kReconcileDuration,
                                   "Time one reconcile of a MigrationPlan took.", *registry_)),
      steps_total_(Register(prometheus::BuildCounter(), kStepsTotal,
                            "Migration steps run, by action and result.", *registry_)),
      step_duration_(Register(prometheus::BuildHistogram(), kStepDuration,
                              "Time one migration step took, including its ledger write.",
                              *registry_)),
      runner_steps_total_(Register(prometheus::BuildCounter(), kRunnerSteps,
                                   "Python steps run by spec.runner (the app's own code), by "
                                   "result.",
                                   *registry_)),
      runner_step_duration_(Register(prometheus::BuildHistogram(), kRunnerStepDuration,
                                     "Time spec.runner took for one python step, by result.",
                                     *registry_)),
      lock_wait_(Register(prometheus::BuildHistogram(), kLockWait,
                          "Time spent waiting for a ledger's advisory lock.", *registry_)),
      post_deploy_wait_(Register(prometheus::BuildHistogram(), kPostDeployWait,
                                 "Time a plan's post-deploy steps waited for the app's rollout "
                                 "(spec.rollout), observed when they are released.",
                                 *registry_)),
      workqueue_depth_(Register(prometheus::BuildGauge(), kWorkqueueDepth,
                                "Plans waiting in the work queue.", *registry_)),
      watch_restarts_(Register(prometheus::BuildCounter(), kWatchRestarts,
                               "Watches of the API server that had to be restarted.", *registry_)),
      leader_(Register(prometheus::BuildGauge(), kLeader,
                       "1 while this replica holds the leader lease, else 0.", *registry_)),
      build_info_(Register(prometheus::BuildGauge(), kBuildInfo,
                           "Always 1; the version label names the running build.", *registry_)),
      reconcile_duration_seconds_(&reconcile_duration_.Add({}, kReconcileBuckets)),
      step_duration_seconds_(&step_duration_.Add({}, kStepBuckets)),
      lock_wait_seconds_(&lock_wait_.Add({}, kLockWaitBuckets)),
      post_deploy_wait_seconds_(&post_deploy_wait_.Add({}, kPostDeployWaitBuckets)),
      workqueue_depth_value_(&workqueue_depth_.Add({})),
      leader_value_(&leader_.Add({})) {
  for (ReconcileResult result : kReconcileResults) {
    reconcile_total_.Add({{"result", ReconcileResultName(result)}});
  }
  for (const char* result : {"success", "failure"}) {
    runner_steps_total_.Add({{"result", result}});
    runner_step_duration_.Add({{"result", result}}, kStepBuckets);
  }
  for (plan::ActionKind action : kStepActions) {
    for (const char* result : {"success", "failure"}) {
      steps_total_.Add({{"action", plan::ActionName(action)}, {"result", result}});
    }
  }
  for (std::string_view resource : kWatchedResources) {
    watch_restarts_.Add({{"resource", std::string(resource)}});
  }
  build_info_.Add({{"version", std::move(version)}}).Set(1);
}

Metrics::~Metrics() = default;

void Metrics::RecordReconcile(ReconcileResult result, double seconds) {
  reconcile_total_.Add({{"result", ReconcileResultName(result)}}).Increment();
  reconcile_duration_seconds_->Observe(seconds);
}

void Metrics::RecordStep(plan::ActionKind action, bool succeeded, double seconds) {
  steps_total_
      .Add({{"action", plan::ActionName(action)}, {"result", succeeded ? "success" : "failure"}})
      .Increment();
  step_duration_seconds_->Observe(seconds);
}

void Metrics::RecordRunnerStep(bool succeeded, double seconds) {
  const char* result = succeeded ? "success" : "failure";
  runner_steps_total_.Add({{"result", result}}).Increment();
  runner_step_duration_.Add({{"result", result}}, kStepBuckets).Observe(seconds);
}

void Metrics::SetPlanState(std::string_view ns, std::string_view plan, int64_t pending,
                           bool ready) {
  std::lock_guard lock(plans_mutex_);
  PlanValues& values = plans_[PlanKey(ns, plan)];
  values.pending = static_cast<double>(pending);
  values.ready = ready ? 1 : 0;
}

void Metrics::SetDrift(std::string_view ns, std::string_view plan, int64_t checksum_mismatches,
                       int64_t unknown_applied) {
  std::lock_guard lock(plans_mutex_);
  PlanValues& values = plans_[PlanKey(ns, plan)];
  values.checksum_mismatches = static_cast<double>(checksum_mismatches);
  values.unknown_applied = static_cast<double>(unknown_applied);
}

void Metrics::SetBlockingSessions(std::string_view ns, std::string_view plan, int64_t sessions) {
  std::lock_guard lock(plans_mutex_);
  plans_[PlanKey(ns, plan)].blocking_sessions = static_cast<double>(sessions);
}

void Metrics::SetPostDeployPendingSince(std::string_view ns, std::string_view plan,
                                        std::optional<WallTime> since) {
  std::optional<double> seconds;
  if (since) seconds = std::chrono::duration<double>(since->time_since_epoch()).count();
  std::lock_guard lock(plans_mutex_);
  plans_[PlanKey(ns, plan)].post_deploy_pending_since = seconds;
}

void Metrics::AddBackfillBatch(std::string_view ns, std::string_view plan,
                               std::string_view migration, int64_t rows) {
  if (rows <= 0) return;
  std::lock_guard lock(plans_mutex_);
  auto& backfills = plans_[PlanKey(ns, plan)].backfills;
  auto found = backfills.find(migration);
  if (found == backfills.end())
    found = backfills.emplace(std::string(migration), PlanValues::Backfill{}).first;
  found->second.rows += static_cast<double>(rows);
  found->second.batches += 1;
}

void Metrics::ForgetPlan(std::string_view ns, std::string_view plan) {
  std::lock_guard lock(plans_mutex_);
  plans_.erase(PlanKey(ns, plan));
}

void Metrics::ObserveLockWait(double seconds) { lock_wait_seconds_->Observe(seconds); }

void Metrics::ObservePostDeployWait(double seconds) { post_deploy_wait_seconds_->Observe(seconds); }

void Metrics::SetWorkqueueDepth(int64_t depth) {
  workqueue_depth_value_->Set(static_cast<double>(depth));
}

void Metrics::IncWatchRestart(std::string_view resource) {
  if (!CheckLabel(kWatchedResources, "resource", resource)) return;
  watch_restarts_.Add({{"resource", std::string(resource)}}).Increment();
}

void Metrics::SetLeader(bool leader) { leader_value_->Set(leader ? 1 : 0); }

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::lock_guard lock(plans_mutex_);
  if (!plans_.empty()) {  // as prometheus-cpp, no family without a series
    using Labels = std::vector<prometheus::ClientMetric::Label>;
    const auto gauge = [](const char* name, const char* help) {
      return prometheus::MetricFamily{name, help, prometheus::MetricType::Gauge, {}};
    };
    const auto sample = [](Labels labels, double value) {
      prometheus::ClientMetric metric;
      metric.label = std::move(labels);  // by name, as prometheus-cpp orders them
      metric.gauge.value = value;
      return metric;
    };
    const auto counter = [](Labels labels, double value) {
      prometheus::ClientMetric metric;
      metric.label = std::move(labels);
      metric.counter.value = value;
      return metric;
    };
    prometheus::MetricFamily rows{
        kBackfillRows, kBackfillRowsHelp, prometheus::MetricType::Counter, {}};
    prometheus::MetricFamily batches{
        kBackfillBatches, kBackfillBatchesHelp, prometheus::MetricType::Counter, {}};
    prometheus::MetricFamily pending = gauge(kPlanPendingSteps, kPlanPendingStepsHelp);
    prometheus::MetricFamily ready = gauge(kPlanReady, kPlanReadyHelp);
    prometheus::MetricFamily drift = gauge(kDrift, kDriftHelp);
    prometheus::MetricFamily blocking = gauge(kBlockingSessions, kBlockingSessionsHelp);
    prometheus::MetricFamily held = gauge(kPostDeployPendingSince, kPostDeployPendingSinceHelp);
    const std::string checksum_kind(kDriftKinds[0]), unknown_kind(kDriftKinds[1]);
    for (const auto& [key, values] : plans_) {
      const auto& [ns, plan] = key;
      pending.metric.push_back(sample({{"namespace", ns}, {"plan", plan}}, values.pending));
      ready.metric.push_back(sample({{"namespace", ns}, {"plan", plan}}, values.ready));
      drift.metric.push_back(sample({{"kind", checksum_kind}, {"namespace", ns}, {"plan", plan}},
                                    values.checksum_mismatches));
      drift.metric.push_back(sample({{"kind", unknown_kind}, {"namespace", ns}, {"plan", plan}},
                                    values.unknown_applied));
      blocking.metric.push_back(
          sample({{"namespace", ns}, {"plan", plan}}, values.blocking_sessions));
      if (values.post_deploy_pending_since) {
        held.metric.push_back(
            sample({{"namespace", ns}, {"plan", plan}}, *values.post_deploy_pending_since));
      }
      for (const auto& [migration, backfill] : values.backfills) {
        const Labels labels{{"migration", migration}, {"namespace", ns}, {"plan", plan}};
        rows.metric.push_back(counter(labels, backfill.rows));
        batches.metric.push_back(counter(labels, backfill.batches));
      }
    }
    for (prometheus::MetricFamily* family : {&pending, &ready, &drift, &blocking}) {
      families.push_back(std::move(*family));
    }
    // As prometheus-cpp, no family without a series.
    for (prometheus::MetricFamily* family : {&held, &rows, &batches}) {
      if (!family->metric.empty()) families.push_back(std::move(*family));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tidemark::metrics
