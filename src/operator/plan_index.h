// Which ConfigMaps, Secrets and workloads (spec.rollout) each MigrationPlan names, as the plan's
// last decode said (controller-runtime's field index). The watched kinds' key mappers read it, so a
// change to a Secret requeues exactly the plans that name it, without decoding every plan of the
// namespace again or walking their raw JSON a second way.
//
// The reconciler records a plan's names each time it decodes the plan, and forgets them
// when the plan is deleted. A plan not decoded yet names nothing here, which is safe: it is
// queued anyway and reads the current caches when it runs. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "plan/model.h"

namespace tidemark::op {

enum class NamedKind { kConfigMap, kSecret, kDeployment, kStatefulSet };

class PlanIndex {
 public:
  // Replaces what `plan` (under its key "ns/name") names.
  void Record(const plan::MigrationPlan& plan);
  void Forget(const std::string& plan_key);
  // The keys of the plans that name the object `object_key` ("ns/name") of `kind`.
  std::vector<std::string> PlansNaming(NamedKind kind, const std::string& object_key) const;

 private:
  using Named = std::pair<NamedKind, std::string>;  // kind, "ns/name"

  void ForgetLocked(const std::string& plan_key);

  mutable std::mutex mutex_;
  std::map<std::string, std::vector<Named>> by_plan_;  // guarded by mutex_
  std::map<Named, std::set<std::string>> by_object_;   // guarded by mutex_: -> plan keys
};

}  // namespace tidemark::op
