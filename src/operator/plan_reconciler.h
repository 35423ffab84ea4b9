// The MigrationPlan reconciler: one plan object in, the database moved towards its
// desired state, its status and events written, and when to look again out. Level-based:
// it reads only the object and the caches, never the event that woke it.
//
// Thread-safe for different plans; the work queue guarantees one reconcile per plan at
// a time (the database's advisory lock makes even two controllers safe).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/reconcile.h"
#include "kube/client.h"
#include "metrics/metrics.h"
#include "plan/status.h"
#include "postgres/pg_store.h"
#include "runtime/event_recorder.h"
#include "spec/objects.h"

namespace tidemark::op {

inline const kube::ResourceRef kMigrationPlans{"tidemark.dev", "v1alpha1", "migrationplans", true};

struct ReconcilerOptions {
  std::chrono::milliseconds resync{10 * 60'000};  // look again at a Ready plan after this
  std::chrono::milliseconds lock_wait{5'000};     // wait for a busy ledger this long, then requeue
  // Database sessions kept open between reconciles (postgres::SessionPool): how many in
  // all, and for how long an unused one stays open.
  size_t idle_sessions = 16;
  std::chrono::seconds session_idle{60};
};

// What the work queue should do with the key.
struct ReconcileResult {
  enum class Next { kResync, kRetryWithBackoff };
  Next next = Next::kResync;
  std::string metric_result;  // success | error | requeue (tidemark_reconcile_total)
};

class PlanReconciler {
 public:
  // Everything passed must outlive the reconciler; `events` may be null.
  PlanReconciler(const kube::Client& client, spec::ObjectSource& objects,
                 runtime::EventRecorder* events, metrics::Metrics& metrics,
                 ReconcilerOptions options);

  ReconcileResult Reconcile(const nlohmann::json& object);

 private:
  // Writes the status when it differs from the stored one (merge patch on /status).
  Status PublishStatus(const nlohmann::json& object, const nlohmann::json& status);
  // Writes the conditions of a run under way (`working`: Applying or Reverting).
  void PublishProgress(const std::string& ns, const std::string& name, int64_t generation,
                       const std::vector<plan::Condition>& previous, const plan::Problem& working);
  void RecordEvents(const nlohmann::json& object, const engine::Report& report);

  const kube::Client& client_;
  spec::ObjectSource& objects_;
  runtime::EventRecorder* events_;
  metrics::Metrics& metrics_;
  const ReconcilerOptions options_;
  postgres::SessionPool sessions_;
};

}  // namespace tidemark::op
