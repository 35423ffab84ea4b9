#include "operator/rollout_gate.h"

#include <optional>

#include "operator/rollout_verdict.h"

namespace tidemark::op {
namespace {

using nlohmann::json;

// The objects of one namespace in `cache`, decoded.
std::vector<json> InNamespace(const runtime::KindCache& cache, const std::string& ns) {
  std::vector<json> objects;
  const std::string prefix = ns + "/";
  for (const std::string& key : cache.Keys()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    if (runtime::ObjectPtr object = cache.Get(key)) objects.push_back(*object);
  }
  return objects;
}

}  // namespace

GateVerdict CachedRollouts::Judge(const std::string& ns,
                                  const std::vector<plan::WorkloadRef>& workloads) {
  GateVerdict gate;
  // Each kind of the namespace is read once, and only if a workload needs it.
  std::optional<std::vector<json>> replica_sets, revisions, pods;
  size_t waiting = 0;
  for (const plan::WorkloadRef& ref : workloads) {
    const bool deployment = ref.kind == plan::WorkloadKind::kDeployment;
    const runtime::ObjectPtr workload =
        (deployment ? caches_.deployments : caches_.stateful_sets).Get(ns + "/" + ref.name);
    std::optional<std::vector<json>>& owned = deployment ? replica_sets : revisions;
    if (workload && !owned) {
      owned = InNamespace(deployment ? caches_.replica_sets : caches_.revisions, ns);
    }
    if (workload && !pods) pods = InNamespace(caches_.pods, ns);
    static const std::vector<json> kNone;
    const RolloutVerdict verdict =
        JudgeRollout(ref, workload.get(), workload ? *owned : kNone, workload ? *pods : kNone);
    if (verdict.rolled_out) continue;
    if (waiting++ == 0) gate.waiting = verdict.waiting;
  }
  gate.open = waiting == 0;
  if (waiting > 1) {
    gate.waiting += " (and " + std::to_string(waiting - 1) + " more workload" +
                    (waiting == 2 ? "" : "s") + " of spec.rollout)";
  }
  return gate;
}

std::vector<std::string> PlansWaitingOnOwner(const PlanIndex& index,
                                             const runtime::KindCache& replica_sets,
                                             const json& object) {
  const json* owner = ControllerRef(object);
  if (!owner) return {};
  const std::string ns = object["metadata"].value("namespace", "");
  const std::string kind = (*owner)["kind"].get<std::string>();
  const std::string name = (*owner)["name"].get<std::string>();
  if (kind == "Deployment") return index.PlansNaming(NamedKind::kDeployment, ns + "/" + name);
  if (kind == "StatefulSet") return index.PlansNaming(NamedKind::kStatefulSet, ns + "/" + name);
  if (kind != "ReplicaSet") return {};
  // A pod: its ReplicaSet's Deployment, by the Deployment controller's naming once the
  // ReplicaSet is gone (its pods may still be terminating).
  std::string deployment = DeploymentOfReplicaSet(name);
  if (const runtime::ObjectPtr replica_set = replica_sets.Get(ns + "/" + name)) {
    const json* controller = ControllerRef(*replica_set);
    if (!controller || (*controller)["kind"] != "Deployment") return {};
    deployment = (*controller)["name"].get<std::string>();
  }
  return index.PlansNaming(NamedKind::kDeployment, ns + "/" + deployment);
}

}  // namespace tidemark::op
