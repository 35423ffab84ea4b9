#include "operator/plan_index.h"

namespace tidemark::op {

void PlanIndex::Record(const plan::MigrationPlan& plan) {
  const std::string key = plan.Key();
  std::vector<Named> named;
  for (const std::string& name : plan.config_map_names) {
    named.emplace_back(NamedKind::kConfigMap, plan.meta.ns + "/" + name);
  }
  for (const std::string& name : plan::SecretNames(plan.database)) {
    named.emplace_back(NamedKind::kSecret, plan.meta.ns + "/" + name);
  }
  if (plan.rollout) {
    for (const plan::WorkloadRef& workload : plan.rollout->workloads) {
      named.emplace_back(workload.kind == plan::WorkloadKind::kDeployment ? NamedKind::kDeployment
                                                                          : NamedKind::kStatefulSet,
                         plan.meta.ns + "/" + workload.name);
    }
  }
  std::lock_guard lock(mutex_);
  ForgetLocked(key);
  for (const Named& object : named) by_object_[object].insert(key);
  by_plan_[key] = std::move(named);
}

void PlanIndex::Forget(const std::string& plan_key) {
  std::lock_guard lock(mutex_);
  ForgetLocked(plan_key);
}

void PlanIndex::ForgetLocked(const std::string& plan_key) {
  const auto found = by_plan_.find(plan_key);
  if (found == by_plan_.end()) return;
  for (const Named& object : found->second) {
    const auto plans = by_object_.find(object);
    if (plans == by_object_.end()) continue;
    plans->second.erase(plan_key);
    if (plans->second.empty()) by_object_.erase(plans);
  }
  by_plan_.erase(found);
}

std::vector<std::string> PlanIndex::PlansNaming(NamedKind kind,
                                                const std::string& object_key) const {
  std::lock_guard lock(mutex_);
  const auto found = by_object_.find({kind, object_key});
  if (found == by_object_.end()) return {};
  return {found->second.begin(), found->second.end()};
}

}  // namespace tidemark::op
