// Has a Deployment or StatefulSet fully rolled out to its newest template? The verdict the
// post-deploy gate (spec.rollout) asks for each workload a plan names. Pure: it reads the
// objects as the API server returns them (the workload, the ReplicaSets or
// ControllerRevisions and the Pods of its namespace) and does no I/O, so tests hand it the
// shapes the Deployment and StatefulSet controllers write.
//
// Rolled out means: the workload's controller has observed its current generation; every
// replica is updated and available; no pod of an older ReplicaSet or revision is left, not
// even a terminating one (it still serves requests until it is gone); and the template it
// runs is the newest one it had. The last rule holds a rollback: `kubectl rollout undo`
// (or a revert of the manifest) makes an older ReplicaSet current again, whose code may
// still read what the post-deploy steps drop, so they stay held until the app rolls forward.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plan/model.h"

namespace tidemark::op {

struct RolloutVerdict {
  bool rolled_out = false;
  // Pods of an older ReplicaSet or revision, terminating ones included; and of those, the
  // terminating ones (deletionTimestamp set).
  int64_t old_pods = 0;
  int64_t terminating_old_pods = 0;
  // Why it has not rolled out, for the plan's status: "Deployment web: 2 of 3 replicas
  // updated, 1 pod of an older ReplicaSet left (terminating)". Empty when rolled out.
  std::string waiting;
};

// `workload` is null when it does not exist. `owned` are the namespace's ReplicaSets (for a
// Deployment) or ControllerRevisions (for a StatefulSet), `pods` its Pods; those of other
// owners are ignored.
RolloutVerdict JudgeRollout(const plan::WorkloadRef& ref, const nlohmann::json* workload,
                            const std::vector<nlohmann::json>& owned,
                            const std::vector<nlohmann::json>& pods);

// The ownerReference of `object` that is its controller (controller: true, with kind, name
// and uid), or null.
const nlohmann::json* ControllerRef(const nlohmann::json& object);

// The Deployment a ReplicaSet named `replica_set` belongs to by the Deployment
// controller's naming (DEPLOYMENT-HASH), for a ReplicaSet gone from the cache.
std::string DeploymentOfReplicaSet(const std::string& replica_set);

}  // namespace tidemark::op
