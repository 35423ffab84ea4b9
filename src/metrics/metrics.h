// Metrics: every Prometheus metric family tidemark exports (SPEC section 6), in one place.
//
// One Metrics object per process owns a prometheus-cpp registry; the reconciler, the work
// queue, the watchers and leader election record into it, and the probe server
// (http/probe_server.h) serves Serialize() on /metrics. Label values come from closed sets
// (results, actions, drift kinds, watched resources) or from Kubernetes object names
// (namespace, plan), so no secret or SQL text can reach a label. Every label value of a
// closed set is initialised to zero up front, so a rate() sees the first event.
// A value outside its closed set is a programming error: it is logged and dropped rather
// than let loose as a new series.
//
// Thread-safe: every member function may be called from any thread at any time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/action.h"
#include "base/clock.h"
#include "plan/graph.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace tidemark::metrics {

// The closed label sets, in the order they are documented (docs/metrics.md).
inline constexpr ReconcileResult kReconcileResults[] = {
    ReconcileResult::kSuccess, ReconcileResult::kError, ReconcileResult::kRequeue};
inline constexpr plan::ActionKind kStepActions[] = {
    plan::ActionKind::kApply, plan::ActionKind::kRevert, plan::ActionKind::kFake};
inline constexpr std::string_view kDriftKinds[] = {"checksum_mismatch", "unknown_applied"};
inline constexpr std::string_view kWatchedResources[] = {
    "migrationplans", "configmaps",          "secrets", "leases",     "deployments",
    "statefulsets",   "controllerrevisions", "pods",    "replicasets"};

// Every metric family name exported, for documentation checks (dashboards, alerts).
const std::vector<std::string>& FamilyNames();

class Metrics {
 public:
  // `version` is published as tidemark_build_info{version}.
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One reconcile ended with `result` after `seconds`.
  void RecordReconcile(ReconcileResult result, double seconds);
  // One step ran: `action` apply|revert|fake, `result` success|failure.
  void RecordStep(plan::ActionKind action, bool succeeded, double seconds);
  // One python step was run by spec.runner (also counted by RecordStep).
  void RecordRunnerStep(bool succeeded, double seconds);
  // The plan's count of pending actions and whether its Ready condition is True.
  void SetPlanState(std::string_view ns, std::string_view plan, int64_t pending, bool ready);
  // Counts of applied steps whose SQL changed, and of ledger rows the plan does not know.
  void SetDrift(std::string_view ns, std::string_view plan, int64_t checksum_mismatches,
                int64_t unknown_applied);
  // Sessions holding a lock the plan's running step waits for (0 once the step is done).
  void SetBlockingSessions(std::string_view ns, std::string_view plan, int64_t sessions);
  // When the plan's post-deploy steps started waiting for the rollout (PostDeployPending's
  // lastTransitionTime), exported in seconds since the epoch; nullopt: none waits, no series.
  void SetPostDeployPendingSince(std::string_view ns, std::string_view plan,
                                 std::optional<WallTime> since);
  // The plan was deleted (or is no longer watched): removes every series naming it.
  void ForgetPlan(std::string_view ns, std::string_view plan);
  // A back-fill step of the plan ran a batch that changed `rows` rows (the last, which changes
  // none, is no batch): tidemark_backfill_rows_total, tidemark_backfill_batches_total.
  void AddBackfillBatch(std::string_view ns, std::string_view plan, std::string_view migration,
                        int64_t rows);
  // Time spent waiting for the ledger's advisory lock.
  void ObserveLockWait(double seconds);
  // How long a plan's post-deploy steps waited for the app's rollout (spec.rollout), observed
  // when the gate opens.
  void ObservePostDeployWait(double seconds);
  void SetWorkqueueDepth(int64_t depth);
  // A watch of `resource` (migrationplans|configmaps|secrets|leases) had to restart.
  void IncWatchRestart(std::string_view resource);
  void SetLeader(bool leader);

  // Every series in the Prometheus text exposition format 0.0.4.
  std::string Serialize() const;

 private:
  // The values of the gauges that name one plan (tidemark_plan_pending_steps,
  // tidemark_plan_ready, tidemark_drift, ...), exported by Serialize(). Kept here rather than as
  // prometheus-cpp series, which cost about 1.3 KiB per plan (a label map per series).
  struct PlanValues {
    double pending = 0;
    double ready = 0;
    double checksum_mismatches = 0;
    double unknown_applied = 0;
    double blocking_sessions = 0;
    std::optional<double> post_deploy_pending_since;
    struct Backfill {
      double rows = 0;
      double batches = 0;
    };
    std::map<std::string, Backfill, std::less<>> backfills;  // by migration, app.name
  };
  using PlanKey = std::pair<std::string, std::string>;  // namespace, name

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconcile_total_;
  prometheus::Family<prometheus::Histogram>& reconcile_duration_;
  prometheus::Family<prometheus::Counter>& steps_total_;
  prometheus::Family<prometheus::Histogram>& step_duration_;
  prometheus::Family<prometheus::Counter>& runner_steps_total_;
  prometheus::Family<prometheus::Histogram>& runner_step_duration_;
  prometheus::Family<prometheus::Histogram>& lock_wait_;
  prometheus::Family<prometheus::Histogram>& post_deploy_wait_;
  prometheus::Family<prometheus::Gauge>& workqueue_depth_;
  prometheus::Family<prometheus::Counter>& watch_restarts_;
  prometheus::Family<prometheus::Gauge>& leader_;
  prometheus::Family<prometheus::Gauge>& build_info_;

  // Series created once in the constructor and never removed.
  prometheus::Histogram* reconcile_duration_seconds_;
  prometheus::Histogram* step_duration_seconds_;
  prometheus::Histogram* lock_wait_seconds_;
  prometheus::Histogram* post_deploy_wait_seconds_;
  prometheus::Gauge* workqueue_depth_value_;
  prometheus::Gauge* leader_value_;

  mutable std::mutex plans_mutex_;
  std::map<PlanKey, PlanValues> plans_;  // GUARDED_BY(plans_mutex_)
};

}  // namespace tidemark::metrics
