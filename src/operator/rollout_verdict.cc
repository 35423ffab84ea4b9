#include "operator/rollout_verdict.h"

#include <algorithm>
#include <initializer_list>
#include <set>

namespace tidemark::op {
namespace {

using nlohmann::json;

// The label the Deployment controller adds to a ReplicaSet's template (and pods), and the
// one the StatefulSet controller puts on each pod: the template they were made from.
constexpr char kPodTemplateHash[] = "pod-template-hash";
constexpr char kControllerRevisionHash[] = "controller-revision-hash";

// `object` at `path`, or null when a step is missing or not an object.
const json* At(const json& object, std::initializer_list<const char*> path) {
  const json* node = &object;
  for (const char* key : path) {
    if (!node->is_object()) return nullptr;
    const auto found = node->find(key);
    if (found == node->end()) return nullptr;
    node = &*found;
  }
  return node;
}

int64_t IntAt(const json& object, std::initializer_list<const char*> path, int64_t fallback) {
  const json* value = At(object, path);
  return value && value->is_number_integer() ? value->get<int64_t>() : fallback;
}

std::string StringAt(const json& object, std::initializer_list<const char*> path) {
  const json* value = At(object, path);
  return value && value->is_string() ? value->get<std::string>() : "";
}

// The uid of the object's controller.
std::string ControllerUid(const json& object) {
  const json* owner = ControllerRef(object);
  return owner ? StringAt(*owner, {"uid"}) : "";
}

std::vector<const json*> OwnedBy(const std::string& uid, const std::vector<json>& objects) {
  std::vector<const json*> owned;
  if (uid.empty()) return owned;
  for (const json& object : objects) {
    if (ControllerUid(object) == uid) owned.push_back(&object);
  }
  return owned;
}

std::string Name(const json& object) { return StringAt(object, {"metadata", "name"}); }

// Creation times are RFC 3339 in UTC to the second, so their text sorts as the time does.
bool CreatedAfter(const json& a, const json& b) {
  return StringAt(a, {"metadata", "creationTimestamp"}) >
         StringAt(b, {"metadata", "creationTimestamp"});
}

// The newest of `candidates` created after `current`, or null.
const json* NewerThan(const json& current, const std::vector<const json*>& candidates) {
  const json* newest = nullptr;
  for (const json* candidate : candidates) {
    if (candidate == &current || !CreatedAfter(*candidate, current)) continue;
    if (!newest || CreatedAfter(*candidate, *newest)) newest = candidate;
  }
  return newest;
}

// A ReplicaSet's template as its Deployment wrote it: without the hash label added to it
// (the Deployment controller's own test for "made from this template").
json WithoutHashLabel(json pod_template) {
  const auto metadata = pod_template.find("metadata");
  if (metadata == pod_template.end() || !metadata->is_object()) return pod_template;
  const auto labels = metadata->find("labels");
  if (labels != metadata->end() && labels->is_object()) labels->erase(kPodTemplateHash);
  return pod_template;
}

// What every judgement counts: the replicas and the pods of templates older than the one
// the workload runs.
struct Counts {
  int64_t wanted = 1, replicas = 0, updated = 0, available = 0;
  int64_t old_pods = 0, terminating = 0;
};

Counts ReplicaCounts(const json& workload) {
  Counts counts;
  counts.wanted = IntAt(workload, {"spec", "replicas"}, 1);
  counts.replicas = IntAt(workload, {"status", "replicas"}, 0);
  counts.updated = IntAt(workload, {"status", "updatedReplicas"}, 0);
  counts.available = IntAt(workload, {"status", "availableReplicas"}, 0);
  return counts;
}

void CountOldPod(const json& pod, Counts* counts) {
  ++counts->old_pods;
  if (At(pod, {"metadata", "deletionTimestamp"})) ++counts->terminating;
}

std::string Plural(int64_t count, const char* one, const char* many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

// The verdict from the counts: every replica updated and available, none left over, no old
// pod; otherwise what is missing, in that order.
RolloutVerdict FromCounts(const std::string& subject, const Counts& counts, const char* old_owner) {
  RolloutVerdict verdict;
  verdict.old_pods = counts.old_pods;
  verdict.terminating_old_pods = counts.terminating;
  std::vector<std::string> missing;
  const std::string of = " of " + std::to_string(counts.wanted) + " replicas";
  if (counts.updated < counts.wanted)
    missing.push_back(std::to_string(counts.updated) + of + " updated");
  if (counts.available < counts.wanted) {
    missing.push_back(std::to_string(counts.available) + of + " available");
  }
  if (counts.replicas > counts.wanted && counts.old_pods == 0) {
    missing.push_back(Plural(counts.replicas - counts.wanted, "replica", "replicas") +
                      " more than wanted");
  }
  if (counts.old_pods > 0) {
    std::string old =
        Plural(counts.old_pods, "pod", "pods") + " of an older " + old_owner + " left";
    if (counts.terminating == counts.old_pods) {
      old += counts.old_pods == 1 ? " (terminating)" : " (all terminating)";
    } else if (counts.terminating > 0) {
      old += " (" + std::to_string(counts.terminating) + " terminating)";
    }
    missing.push_back(old);
  }
  if (missing.empty()) {
    verdict.rolled_out = true;
    return verdict;
  }
  verdict.waiting = subject + ": ";
  for (size_t i = 0; i < missing.size(); ++i) verdict.waiting += (i ? ", " : "") + missing[i];
  return verdict;
}

RolloutVerdict Waiting(const std::string& text) {
  RolloutVerdict verdict;
  verdict.waiting = text;
  return verdict;
}

// The Deployment controller's reading: the current ReplicaSet is the oldest one made from
// the Deployment's template; the pods of the others are old.
RolloutVerdict JudgeDeployment(const std::string& subject, const json& deployment,
                               const std::vector<json>& replica_sets,
                               const std::vector<json>& pods) {
  const std::vector<const json*> owned =
      OwnedBy(StringAt(deployment, {"metadata", "uid"}), replica_sets);
  const json* template_json = At(deployment, {"spec", "template"});
  const json* current = nullptr;
  for (const json* replica_set : owned) {
    const json* made_from = At(*replica_set, {"spec", "template"});
    if (!template_json || !made_from || WithoutHashLabel(*made_from) != *template_json) continue;
    if (!current || CreatedAfter(*current, *replica_set)) current = replica_set;
  }
  if (!current) {
    return Waiting(subject + ": no ReplicaSet of its current template yet");
  }
  if (const json* newer = NewerThan(*current, owned)) {
    return Waiting(subject + " was rolled back: it runs ReplicaSet " + Name(*current) +
                   ", older than " + Name(*newer) +
                   "; post-deploy steps wait until it rolls forward to its newest template");
  }
  // Old: a pod of another ReplicaSet of the Deployment, also of one already deleted (with
  // revisionHistoryLimit 0 an old ReplicaSet goes while its pods still terminate).
  std::set<std::string> old_uids, known_names;
  for (const json* replica_set : owned) {
    if (replica_set != current) old_uids.insert(StringAt(*replica_set, {"metadata", "uid"}));
  }
  for (const json& replica_set : replica_sets) known_names.insert(Name(replica_set));
  const std::string name = Name(deployment);
  Counts counts = ReplicaCounts(deployment);
  for (const json& pod : pods) {
    const json* owner = ControllerRef(pod);
    if (!owner || StringAt(*owner, {"kind"}) != "ReplicaSet") continue;
    const std::string owner_name = StringAt(*owner, {"name"});
    const bool deleted_of_this =
        !known_names.count(owner_name) && DeploymentOfReplicaSet(owner_name) == name;
    if (old_uids.count(StringAt(*owner, {"uid"})) || deleted_of_this) CountOldPod(pod, &counts);
  }
  return FromCounts(subject, counts, "ReplicaSet");
}

// The StatefulSet controller's reading: status.updateRevision names the current template's
// ControllerRevision; a pod labelled with another revision is old.
RolloutVerdict JudgeStatefulSet(const std::string& subject, const json& set,
                                const std::vector<json>& revisions, const std::vector<json>& pods) {
  const std::string uid = StringAt(set, {"metadata", "uid"});
  const std::string update_revision = StringAt(set, {"status", "updateRevision"});
  const std::vector<const json*> owned = OwnedBy(uid, revisions);
  const auto current = std::find_if(owned.begin(), owned.end(), [&](const json* revision) {
    return Name(*revision) == update_revision;
  });
  if (update_revision.empty() || current == owned.end()) {
    return Waiting(subject + ": no ControllerRevision of its current template yet");
  }
  if (const json* newer = NewerThan(**current, owned)) {
    return Waiting(subject + " was rolled back: it runs revision " + update_revision +
                   ", older than " + Name(*newer) +
                   "; post-deploy steps wait until it rolls forward to its newest template");
  }
  Counts counts = ReplicaCounts(set);
  if (!At(set, {"status", "availableReplicas"})) {
    counts.available = IntAt(set, {"status", "readyReplicas"}, 0);  // before Kubernetes 1.22
  }
  for (const json* pod : OwnedBy(uid, pods)) {
    if (StringAt(*pod, {"metadata", "labels", kControllerRevisionHash}) != update_revision) {
      CountOldPod(*pod, &counts);
    }
  }
  RolloutVerdict verdict = FromCounts(subject, counts, "revision");
  const std::string current_revision = StringAt(set, {"status", "currentRevision"});
  if (verdict.rolled_out && current_revision != update_revision) {
    // Every pod is new, but the controller has not said so yet: its next status will.
    verdict.rolled_out = false;
    verdict.waiting =
        subject + ": the controller still reports revision " + current_revision + " as current";
  }
  return verdict;
}

}  // namespace

const json* ControllerRef(const json& object) {
  const json* owners = At(object, {"metadata", "ownerReferences"});
  if (!owners || !owners->is_array()) return nullptr;
  for (const json& owner : *owners) {
    const json* controller = At(owner, {"controller"});
    if (controller && *controller == true && !StringAt(owner, {"kind"}).empty() &&
        !StringAt(owner, {"name"}).empty()) {
      return &owner;
    }
  }
  return nullptr;
}

std::string DeploymentOfReplicaSet(const std::string& replica_set) {
  const size_t dash = replica_set.rfind('-');
  return dash == std::string::npos || dash == 0 ? "" : replica_set.substr(0, dash);
}

RolloutVerdict JudgeRollout(const plan::WorkloadRef& ref, const json* workload,
                            const std::vector<json>& owned, const std::vector<json>& pods) {
  const std::string subject = std::string(plan::WorkloadKindName(ref.kind)) + " " + ref.name;
  if (!workload) return Waiting(subject + " does not exist");
  const int64_t generation = IntAt(*workload, {"metadata", "generation"}, 0);
  const int64_t observed = IntAt(*workload, {"status", "observedGeneration"}, 0);
  if (observed < generation) {
    return Waiting(subject + ": its controller has not seen generation " +
                   std::to_string(generation) + " yet (status is of " + std::to_string(observed) +
                   ")");
  }
  RolloutVerdict verdict = ref.kind == plan::WorkloadKind::kDeployment
                               ? JudgeDeployment(subject, *workload, owned, pods)
                               : JudgeStatefulSet(subject, *workload, owned, pods);
  const json* conditions = At(*workload, {"status", "conditions"});
  if (!verdict.rolled_out && conditions && conditions->is_array()) {
    for (const json& condition : *conditions) {
      if (StringAt(condition, {"reason"}) == "ProgressDeadlineExceeded") {
        verdict.waiting +=
            "; its rollout exceeded its progress deadline (ProgressDeadlineExceeded)";
        break;
      }
    }
  }
  return verdict;
}

}  // namespace tidemark::op
