// The post-deploy gate of spec.rollout: the controller applies a plan's post-deploy steps only
// once every workload it names has fully rolled out (operator/rollout_verdict.h says what
// that means). The verdict is read from the controller's watch caches of Deployments,
// StatefulSets, ReplicaSets, ControllerRevisions and Pods, never from the API server, and
// those watches requeue the plans that name a workload when it, one of its ReplicaSets or
// revisions, or one of their pods changes: no polling.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "operator/plan_index.h"
#include "plan/model.h"
#include "runtime/kind_cache.h"

namespace tidemark::op {

// The kinds the gate watches.
inline const kube::ResourceRef kDeployments{"apps", "v1", "deployments", true};
inline const kube::ResourceRef kStatefulSets{"apps", "v1", "statefulsets", true};
inline const kube::ResourceRef kReplicaSets{"apps", "v1", "replicasets", true};
inline const kube::ResourceRef kControllerRevisions{"apps", "v1", "controllerrevisions", true};
inline const kube::ResourceRef kPods{"", "v1", "pods", true};

struct GateVerdict {
  bool open = true;
  // While closed: the first workload that has not rolled out and why, and how many more
  // wait ("Deployment web: 1 pod of an older ReplicaSet left (terminating)").
  std::string waiting;
};

// Where the reconciler asks whether a plan's workloads have rolled out. Thread-safe.
class RolloutSource {
 public:
  virtual ~RolloutSource() = default;
  virtual GateVerdict Judge(const std::string& ns,
                            const std::vector<plan::WorkloadRef>& workloads) = 0;
};

// The real one, over the controller's caches (which must outlive it).
class CachedRollouts : public RolloutSource {
 public:
  struct Caches {
    const runtime::KindCache& deployments;
    const runtime::KindCache& stateful_sets;
    const runtime::KindCache& replica_sets;
    const runtime::KindCache& revisions;  // ControllerRevisions
    const runtime::KindCache& pods;
  };
  explicit CachedRollouts(Caches caches) : caches_(caches) {}

  GateVerdict Judge(const std::string& ns,
                    const std::vector<plan::WorkloadRef>& workloads) override;

 private:
  Caches caches_;
};

// The plans to reconcile again when a ReplicaSet, ControllerRevision or Pod changes: those
// naming the Deployment or StatefulSet that controls it, following a Pod's ReplicaSet (read
// from `replica_sets`) to its Deployment. `object` is the object as its event carried it.
std::vector<std::string> PlansWaitingOnOwner(const PlanIndex& index,
                                             const runtime::KindCache& replica_sets,
                                             const nlohmann::json& object);

}  // namespace tidemark::op
