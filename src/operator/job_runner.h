// spec.runner.jobTemplate in a cluster: each runner task (engine/runner.h) is one batch/v1
// Job, and the controller never runs a process itself.
//
// Run() never waits for a Job. It creates the task's Job, or finds the one made before: the
// name is deterministic (plan, step, direction, generation), so a restarted controller
// adopts its Job instead of making a second. The Job is owned by the plan (controller
// reference: deleting the plan deletes its Jobs through the garbage collector), labelled
// app.kubernetes.io/managed-by=tidemark and tidemark.dev/{plan,step,direction}, with
// backoffLimit 0, ttlSecondsAfterFinished and activeDeadlineSeconds (spec.runner.timeout)
// unless the template sets them, and the task's words appended to its first container's
// args. While it runs, the reconcile ends; the Job's watch brings the plan back.
//
// A finished Job is read from the controller's Job cache: Complete is success (its duration
// from startTime to completionTime), Failed a failure carrying the failed pod's log tail
// (bounded, valid UTF-8, every value its containers get from Secrets redacted:
// SecretValuesOf). Once the
// engine recorded a Job's outcome, the Job is annotated tidemark.dev/recorded, so that no
// reconcile records it twice. Events: JobCreated, JobSucceeded, JobFailed.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "engine/runner.h"
#include "kube/client.h"
#include "operator/plan_reconciler.h"
#include "plan/model.h"
#include "resource/objects.h"
#include "runtime/kind_cache.h"

namespace tidemark::op {

// What every JobRunner shares: the client, the Job cache, and the Jobs recorded lately
// (the cache may not show the annotation yet). Thread-safe.
class JobControl {
 public:
  JobControl(const kube::Client& client, const runtime::KindCache& jobs)
      : client_(client), jobs_(jobs) {}

  // The plan that controls the Job under `job_key` ("ns/plan"), if any: the Job watch's
  // key mapper.
  std::vector<std::string> PlansOwning(const std::string& job_key) const;

  const kube::Client& client() const { return client_; }
  const runtime::KindCache& jobs() const { return jobs_; }
  bool WasRecorded(const std::string& uid) const;
  void NoteRecorded(const std::string& uid);

 private:
  const kube::Client& client_;
  const runtime::KindCache& jobs_;
  mutable std::mutex mu_;
  std::set<std::string> recorded_;  // Job uids, guarded by mu_
};

// The Job's name: "<plan>-<apply|revert|post-migrate>" cut to fit, then a hash of the plan's
// namespace and name, the task and the generation; a DNS label of at most 63 characters.
std::string JobName(const plan::MigrationPlan& plan, const engine::RunnerTask& task);

// The Job of `task`, made of the plan's spec.runner.jobTemplate, owned by the plan.
nlohmann::json MakeJob(const plan::MigrationPlan& plan, const engine::RunnerTask& task);

// The values that the containers (and init containers) of `job`'s pods get from Secrets in
// its namespace, read from `objects`: those of `env[].valueFrom.secretKeyRef` and every
// value of each `envFrom[].secretRef` Secret. What its log tail must never show; Secrets or
// keys that cannot be read are skipped (the pod could not have had them either).
std::vector<std::string> SecretValuesOf(const nlohmann::json& job, resource::ObjectSource& objects);

class JobRunner : public engine::StepRunner {
 public:
  // `plan_object` is the plan as cached (its uid owns the Jobs); everything passed must
  // outlive the runner.
  JobRunner(JobControl& control, resource::ObjectSource& objects, PlanSink& sink,
            const nlohmann::json& plan_object, const plan::MigrationPlan& plan)
      : control_(control), objects_(objects), sink_(sink), plan_object_(plan_object), plan_(plan) {}

  engine::RunnerOutcome Run(const engine::RunnerTask& task, std::stop_token stop) override;
  std::optional<engine::RunningTask> Running() override;
  engine::RunState Find(const std::string& run_id) override;
  std::vector<engine::FinishedTask> Unrecorded() override;
  void MarkRecorded(const engine::FinishedTask& finished) override;

  static constexpr size_t kTailLines = 20;
  static constexpr size_t kMaxLineBytes = 300;
  // How long a finished Job stays, unless the template says: long enough to read its log.
  static constexpr int64_t kTtlSeconds = 7 * 24 * 3600;

 private:
  // This plan's Jobs in the cache.
  std::vector<nlohmann::json> Jobs() const;
  engine::RunnerOutcome OutcomeOf(const nlohmann::json& job);
  std::string FailedPodLog(const nlohmann::json& job);

  JobControl& control_;
  resource::ObjectSource& objects_;
  PlanSink& sink_;
  const nlohmann::json& plan_object_;
  const plan::MigrationPlan& plan_;
};

}  // namespace tidemark::op
