// The rollout verdict over the objects as the Deployment and StatefulSet controllers write
// them: a rolling update step by step, terminating pods, a rollback, a missing workload.
#include "operator/rollout_verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/operator/workload_shapes.h"

namespace tidemark::op {
namespace {

using nlohmann::json;
using testing::ControllerOwner;
using ::testing::HasSubstr;
using testing::PodTemplate;

const plan::WorkloadRef kWeb{plan::WorkloadKind::kDeployment, "web"};
const plan::WorkloadRef kDb{plan::WorkloadKind::kStatefulSet, "db"};

// A Deployment of 3 replicas at `image`, with the status its controller last wrote.
json Deployment(const std::string& image, int64_t generation, int64_t observed, int64_t replicas,
                int64_t updated, int64_t available) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", "web"}, {"namespace", "prod"}, {"uid", "d-1"}, {"generation", generation}}},
          {"spec",
           {{"replicas", 3},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template", PodTemplate(image)}}},
          {"status",
           {{"observedGeneration", observed},
            {"replicas", replicas},
            {"updatedReplicas", updated},
            {"readyReplicas", available},
            {"availableReplicas", available}}}};
}

// A ReplicaSet of the Deployment, its template as the controller copies it (plus the hash).
json ReplicaSet(const std::string& hash, const std::string& image, const std::string& created) {
  json made_from = PodTemplate(image);
  made_from["metadata"]["labels"]["pod-template-hash"] = hash;
  return {{"metadata",
           {{"name", "web-" + hash},
            {"namespace", "prod"},
            {"uid", "rs-" + hash},
            {"creationTimestamp", created},
            {"ownerReferences", ControllerOwner("Deployment", "web", "d-1")}}},
          {"spec", {{"replicas", 3}, {"template", made_from}}}};
}

json Pod(const std::string& name, const json& owners, bool terminating = false,
         const std::string& revision = "") {
  json pod = {{"metadata", {{"name", name}, {"namespace", "prod"}, {"ownerReferences", owners}}}};
  if (terminating) pod["metadata"]["deletionTimestamp"] = "2026-12-02T03:00:00Z";
  if (!revision.empty()) pod["metadata"]["labels"]["controller-revision-hash"] = revision;
  return pod;
}

json PodOf(const std::string& hash, int i, bool terminating = false) {
  return Pod("web-" + hash + "-" + std::to_string(i),
             ControllerOwner("ReplicaSet", "web-" + hash, "rs-" + hash), terminating);
}

const std::vector<json> kReplicaSets = {ReplicaSet("old111", "web:1", "2026-12-01T10:00:00Z"),
                                        ReplicaSet("new222", "web:2", "2026-12-02T02:00:00Z")};

TEST(RolloutVerdictTest, AMissingWorkloadWaitsSayingSo) {
  const RolloutVerdict verdict = JudgeRollout(kWeb, nullptr, {}, {});
  EXPECT_FALSE(verdict.rolled_out);
  EXPECT_EQ(verdict.waiting, "Deployment web does not exist");
  EXPECT_EQ(JudgeRollout(kDb, nullptr, {}, {}).waiting, "StatefulSet db does not exist");
}

TEST(RolloutVerdictTest, ARollingUpdateWaitsUntilTheLastOldPodIsGone) {
  struct Row {
    const char* name;
    json deployment;
    std::vector<json> pods;
    std::string waiting;  // empty: rolled out
    int64_t old_pods;
  };
  const std::vector<Row> rows = {
      {"the new template is not observed yet",
       Deployment("web:2", 2, 1, 3, 3, 3),
       {PodOf("old111", 1), PodOf("old111", 2), PodOf("old111", 3)},
       "Deployment web: its controller has not seen generation 2 yet (status is of 1)",
       0},
      {"one new pod surged, not available yet",
       Deployment("web:2", 2, 2, 4, 1, 3),
       {PodOf("old111", 1), PodOf("old111", 2), PodOf("old111", 3), PodOf("new222", 1)},
       "Deployment web: 1 of 3 replicas updated, 3 pods of an older ReplicaSet left",
       3},
      {"all new pods available, old ones terminating",
       Deployment("web:2", 2, 2, 3, 3, 3),
       {PodOf("old111", 1, true), PodOf("old111", 2, true), PodOf("new222", 1), PodOf("new222", 2),
        PodOf("new222", 3)},
       "Deployment web: 2 pods of an older ReplicaSet left (all terminating)",
       2},
      {"one old pod still terminating",
       Deployment("web:2", 2, 2, 3, 3, 3),
       {PodOf("old111", 2, true), PodOf("new222", 1), PodOf("new222", 2), PodOf("new222", 3)},
       "Deployment web: 1 pod of an older ReplicaSet left (terminating)",
       1},
      {"rolled out",
       Deployment("web:2", 2, 2, 3, 3, 3),
       {PodOf("new222", 1), PodOf("new222", 2), PodOf("new222", 3)},
       "",
       0},
  };
  for (const Row& row : rows) {
    const RolloutVerdict verdict = JudgeRollout(kWeb, &row.deployment, kReplicaSets, row.pods);
    EXPECT_EQ(verdict.rolled_out, row.waiting.empty()) << row.name;
    EXPECT_EQ(verdict.old_pods, row.old_pods) << row.name;
    EXPECT_EQ(verdict.waiting, row.waiting) << row.name;
  }
}

TEST(RolloutVerdictTest, CountsPartlyTerminatingOldPodsAndIgnoresOtherOwners) {
  const json deployment = Deployment("web:2", 2, 2, 3, 3, 3);
  const std::vector<json> pods = {
      PodOf("old111", 1, true), PodOf("old111", 2), PodOf("new222", 1), PodOf("new222", 2),
      PodOf("new222", 3),
      // A pod of another app's ReplicaSet, and one without an owner.
      Pod("api-abc-1", ControllerOwner("ReplicaSet", "api-abc", "rs-api")),
      Pod("debug", json::array())};
  const RolloutVerdict verdict = JudgeRollout(kWeb, &deployment, kReplicaSets, pods);
  EXPECT_FALSE(verdict.rolled_out);
  EXPECT_EQ(verdict.old_pods, 2);
  EXPECT_EQ(verdict.terminating_old_pods, 1);
  EXPECT_EQ(verdict.waiting, "Deployment web: 2 pods of an older ReplicaSet left (1 terminating)");
}

TEST(RolloutVerdictTest, PodsOfADeletedOldReplicaSetStillCount) {
  // revisionHistoryLimit: 0 deletes the old ReplicaSet while its pods terminate.
  const json deployment = Deployment("web:2", 2, 2, 3, 3, 3);
  const std::vector<json> only_new = {kReplicaSets[1]};
  const RolloutVerdict verdict = JudgeRollout(
      kWeb, &deployment, only_new,
      {PodOf("old111", 1, true), PodOf("new222", 1), PodOf("new222", 2), PodOf("new222", 3)});
  EXPECT_FALSE(verdict.rolled_out);
  EXPECT_EQ(verdict.old_pods, 1);
}

TEST(RolloutVerdictTest, ARolledBackDeploymentStaysHeldEvenOnceItsPodsAreBack) {
  // `kubectl rollout undo`: the template is web:1 again, so the old ReplicaSet is current.
  const json deployment = Deployment("web:1", 3, 3, 3, 3, 3);
  const RolloutVerdict during =
      JudgeRollout(kWeb, &deployment, kReplicaSets, {PodOf("old111", 1), PodOf("new222", 1, true)});
  EXPECT_FALSE(during.rolled_out);
  EXPECT_THAT(during.waiting, HasSubstr("Deployment web was rolled back: it runs ReplicaSet "
                                        "web-old111, older than web-new222"));
  const RolloutVerdict after =
      JudgeRollout(kWeb, &deployment, kReplicaSets,
                   {PodOf("old111", 1), PodOf("old111", 2), PodOf("old111", 3)});
  EXPECT_FALSE(after.rolled_out);
  EXPECT_THAT(after.waiting, HasSubstr("was rolled back"));
  // Rolling forward again (a new template, a third ReplicaSet) opens it once done.
  const json forward = Deployment("web:3", 4, 4, 3, 3, 3);
  std::vector<json> replica_sets = kReplicaSets;
  replica_sets.push_back(ReplicaSet("new333", "web:3", "2026-12-02T03:00:00Z"));
  EXPECT_TRUE(JudgeRollout(kWeb, &forward, replica_sets,
                           {PodOf("new333", 1), PodOf("new333", 2), PodOf("new333", 3)})
                  .rolled_out);
}

TEST(RolloutVerdictTest, NoReplicaSetOfTheTemplateYetAndAStuckRollout) {
  json deployment = Deployment("web:9", 5, 5, 3, 0, 3);
  EXPECT_EQ(JudgeRollout(kWeb, &deployment, kReplicaSets, {}).waiting,
            "Deployment web: no ReplicaSet of its current template yet");
  deployment = Deployment("web:2", 2, 2, 4, 1, 3);
  deployment["status"]["conditions"] = {
      {{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}};
  EXPECT_THAT(JudgeRollout(kWeb, &deployment, kReplicaSets, {PodOf("new222", 1)}).waiting,
              HasSubstr("; its rollout exceeded its progress deadline (ProgressDeadlineExceeded)"));
}

TEST(RolloutVerdictTest, AScaledDownDeploymentIsRolledOutWithoutPods) {
  json deployment = Deployment("web:2", 2, 2, 0, 0, 0);
  deployment["spec"]["replicas"] = 0;
  EXPECT_TRUE(JudgeRollout(kWeb, &deployment, kReplicaSets, {}).rolled_out);
}

// A StatefulSet of 2 replicas whose update revision is `update`.
json StatefulSet(const std::string& current, const std::string& update, int64_t updated,
                 int64_t available) {
  return {{"metadata", {{"name", "db"}, {"namespace", "prod"}, {"uid", "s-1"}, {"generation", 2}}},
          {"spec", {{"replicas", 2}}},
          {"status",
           {{"observedGeneration", 2},
            {"replicas", 2},
            {"currentRevision", current},
            {"updateRevision", update},
            {"updatedReplicas", updated},
            {"readyReplicas", available},
            {"availableReplicas", available}}}};
}

json Revision(const std::string& name, const std::string& created) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "prod"},
            {"creationTimestamp", created},
            {"ownerReferences", ControllerOwner("StatefulSet", "db", "s-1")}}}};
}

json SetPod(int i, const std::string& revision, bool terminating = false) {
  return Pod("db-" + std::to_string(i), ControllerOwner("StatefulSet", "db", "s-1"), terminating,
             revision);
}

TEST(RolloutVerdictTest, AStatefulSetWaitsForEveryPodOfTheUpdateRevision) {
  const std::vector<json> revisions = {Revision("db-aaa", "2026-12-01T10:00:00Z"),
                                       Revision("db-bbb", "2026-12-02T02:00:00Z")};
  const json updating = StatefulSet("db-aaa", "db-bbb", 1, 2);
  const RolloutVerdict verdict =
      JudgeRollout(kDb, &updating, revisions, {SetPod(0, "db-aaa", true), SetPod(1, "db-bbb")});
  EXPECT_FALSE(verdict.rolled_out);
  EXPECT_EQ(verdict.waiting,
            "StatefulSet db: 1 of 2 replicas updated, 1 pod of an older revision left "
            "(terminating)");
  // Every pod is new but the controller has not moved currentRevision yet.
  const json settling = StatefulSet("db-aaa", "db-bbb", 2, 2);
  EXPECT_EQ(
      JudgeRollout(kDb, &settling, revisions, {SetPod(0, "db-bbb"), SetPod(1, "db-bbb")}).waiting,
      "StatefulSet db: the controller still reports revision db-aaa as current");
  const json done = StatefulSet("db-bbb", "db-bbb", 2, 2);
  EXPECT_TRUE(
      JudgeRollout(kDb, &done, revisions, {SetPod(0, "db-bbb"), SetPod(1, "db-bbb")}).rolled_out);
  // Rolled back to the older revision: held.
  const json back = StatefulSet("db-aaa", "db-aaa", 2, 2);
  EXPECT_THAT(
      JudgeRollout(kDb, &back, revisions, {SetPod(0, "db-aaa"), SetPod(1, "db-aaa")}).waiting,
      HasSubstr("StatefulSet db was rolled back: it runs revision db-aaa, older than db-bbb"));
}

TEST(RolloutVerdictTest, MalformedObjectsWaitInsteadOfThrowing) {
  const json odd = {{"metadata", {{"generation", "two"}, {"uid", 7}}},
                    {"spec", {{"template", 5}}},
                    {"status", {{"conditions", "none"}}}};
  EXPECT_FALSE(JudgeRollout(kWeb, &odd, {json::array(), json("x")}, {json(nullptr)}).rolled_out);
  EXPECT_FALSE(JudgeRollout(kDb, &odd, {json::object()}, {json::object()}).rolled_out);
}

TEST(RolloutVerdictTest, TheDeploymentOfAReplicaSetByItsName) {
  EXPECT_EQ(DeploymentOfReplicaSet("web-5d9c7b8f6"), "web");
  EXPECT_EQ(DeploymentOfReplicaSet("my-api-5d9c7b8f6"), "my-api");
  EXPECT_EQ(DeploymentOfReplicaSet("web"), "");
}

}  // namespace
}  // namespace tidemark::op
