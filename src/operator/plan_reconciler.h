// The MigrationPlan reconciler: one plan object in, the database moved towards its
// desired state, its status and events written, and the next Action out. Level-based:
// it reads only the object and the caches, never the event that woke it.
//
// It is built from interfaces so that tests can run it against fakes without a server:
// PlanSink (status and event writes to the cluster), SessionSource (database sessions) and
// resource::ObjectSource (the ConfigMaps and Secrets a plan names) and RolloutSource (whether
// the workloads of spec.rollout have rolled out). Each decode records what the
// plan names in the PlanIndex the controller's watches read. controller.cc wires the
// real ones: ClusterSink over the API client and event recorder, PooledSessions over
// postgres::SessionPool.
//
// Thread-safe for different plans; the work queue guarantees one reconcile per plan at
// a time (the database's advisory lock makes even two controllers safe).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/action.h"
#include "engine/reconcile.h"
#include "kube/client.h"
#include "metrics/metrics.h"
#include "operator/plan_index.h"
#include "operator/rollout_gate.h"
#include "plan/next_action.h"
#include "plan/status.h"
#include "postgres/pg_store.h"
#include "resource/objects.h"
#include "runtime/controller.h"
#include "runtime/event_recorder.h"

namespace tidemark::op {

inline const kube::ResourceRef kMigrationPlans{"tidemark.dev", "v1alpha1", "migrationplans", true};

struct ReconcilerOptions {
  plan::RequeuePolicy requeue;                 // resync period, lock retry
  std::chrono::milliseconds lock_wait{5'000};  // wait for a busy ledger this long, then requeue
  // Database sessions kept open between reconciles (postgres::SessionPool): how many in
  // all, and for how long an unused one stays open.
  size_t idle_sessions = 16;
  std::chrono::seconds session_idle{60};
};

// What the reconciler writes to the cluster. Thread-safe.
class PlanSink {
 public:
  virtual ~PlanSink() = default;
  // Merge-patches the plan's status subresource with `status` (the whole or a part).
  virtual Status PatchStatus(const std::string& ns, const std::string& name,
                             const nlohmann::json& status) = 0;
  // Records an event about `plan`; best effort, never blocks on the API server.
  virtual void RecordEvent(const nlohmann::json& plan, runtime::EventType type,
                           const std::string& reason, const std::string& action,
                           const std::string& note) = 0;
};

// Where a plan's database sessions come from. Thread-safe.
class SessionSource {
 public:
  virtual ~SessionSource() = default;
  // A session on the plan's ledger (its connection resolved from the plan's fields and
  // Secrets); NotFound for a missing Secret, InvalidArgument for a bad field.
  virtual Result<ledger::StorePtr> Connect(const plan::MigrationPlan& plan) = 0;
};

// The real sink: status patches through the API client, events through the recorder
// (which may be null: no events).
class ClusterSink : public PlanSink {
 public:
  ClusterSink(const kube::Client& client, runtime::EventRecorder* events)
      : client_(client), events_(events) {}
  Status PatchStatus(const std::string& ns, const std::string& name,
                     const nlohmann::json& status) override;
  void RecordEvent(const nlohmann::json& plan, runtime::EventType type, const std::string& reason,
                   const std::string& action, const std::string& note) override;

 private:
  const kube::Client& client_;
  runtime::EventRecorder* events_;
};

// The real sessions: connection fields from the plan and the cluster's Secrets (never the
// controller's own environment or files), sessions kept between reconciles.
class PooledSessions : public SessionSource {
 public:
  PooledSessions(resource::ObjectSource& objects, const ReconcilerOptions& options)
      : objects_(objects), pool_(options.session_idle, options.idle_sessions) {}
  Result<ledger::StorePtr> Connect(const plan::MigrationPlan& plan) override;

 private:
  resource::ObjectSource& objects_;
  postgres::SessionPool pool_;
};

class JobControl;  // operator/job_runner.h

class PlanReconciler : public runtime::Reconciler {
 public:
  // Everything passed must outlive the reconciler. `jobs` runs python steps as Jobs
  // (spec.runner.jobTemplate); null: such steps stall the plan (InvalidSpec).
  PlanReconciler(PlanSink& sink, resource::ObjectSource& objects, SessionSource& sessions,
                 RolloutSource& rollouts, PlanIndex& index, metrics::Metrics& metrics,
                 ReconcilerOptions options, JobControl* jobs = nullptr);

  Action Reconcile(const nlohmann::json& object, std::stop_token stop) override;
  // A deleted plan: the database is left as it is; its metric series and index entry go.
  void Deleted(const std::string& key) override;
  // Stalled/InternalError in the status and a Warning event; retried with back-off.
  Action Threw(const nlohmann::json& object, const std::string& what) override;

 private:
  struct Context;  // one reconcile's plan identity and log fields

  // `gate` gets the verdict of the plan's spec.rollout, when it has one.
  engine::Report Run(const nlohmann::json& object, const Context& context, std::stop_token stop,
                     std::optional<GateVerdict>* gate);
  engine::Observer ObserveRun(const Context& context, std::jthread& progress);
  // Writes the status when it differs from the stored one (merge patch on /status).
  Status PublishStatus(const nlohmann::json& object, const nlohmann::json& status);
  // Writes the conditions of a run under way (`working`: Applying or Reverting).
  // With a back-fill's counts under way, status.backfill too.
  void PublishProgress(const Context& context, const plan::Problem& working,
                       const std::optional<plan::BackfillStatus>& backfill = std::nullopt);
  void RecordEvents(const nlohmann::json& object, const engine::Report& report);
  // The gate of spec.rollout opened since the last status: an event, and the wait observed.
  void RecordGateOpened(const nlohmann::json& object, const Context& context,
                        const engine::Report& report);

  PlanSink& sink_;
  resource::ObjectSource& objects_;
  SessionSource& sessions_;
  RolloutSource& rollouts_;
  PlanIndex& index_;
  metrics::Metrics& metrics_;
  const ReconcilerOptions options_;
  JobControl* jobs_;
};

}  // namespace tidemark::op
