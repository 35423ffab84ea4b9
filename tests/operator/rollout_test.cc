// spec.rollout end to end: the operator process, the test API server driven by the real
// kubectl, a real PostgreSQL. No Deployment controller runs there, so the test plays it:
// it writes the ReplicaSets, the pods (terminating ones kept by a finalizer, as a grace
// period keeps them) and the Deployment's status, step by step as the real one does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/operator/operator_fixture.h"
#include "tests/operator/workload_shapes.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// A pre-deploy step (the new code needs its column) and a post-deploy step that drops what
// the old code still reads, gated on Deployment web.
const char kPlan[] = R"(
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: shop, namespace: default}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  rollout:
    workloads: [{kind: Deployment, name: web}]
  migrations:
    - app: shop
      name: 0001_item
      forward: CREATE TABLE shop_item (id int, name text, title text);
    - app: shop
      name: 0002_drop_name
      dependencies: [shop.0001_item]
      phase: PostDeploy
      forward: ALTER TABLE shop_item DROP COLUMN name;
)";

// Keeps a deleted pod terminating until the test removes it (a grace period, in effect).
const char kHold[] = "tests.tidemark.dev/terminating";

class RolloutTest : public OperatorTest {
 protected:
  void Apply(const json& object) {
    const ProcessResult applied = Kubectl({"apply", "-f", "-"}, object.dump());
    ASSERT_EQ(applied.exit_code, 0) << applied.err << "\n" << object.dump();
  }
  std::string Get(const std::string& what, const std::string& path) {
    return Kubectl({"get", what, "-o", "jsonpath=" + path}).out;
  }

  // The Deployment at `image` (a new template: a new generation).
  void ApplyDeployment(const std::string& image) {
    Apply({{"apiVersion", "apps/v1"},
           {"kind", "Deployment"},
           {"metadata", {{"name", "web"}, {"namespace", "default"}}},
           {"spec",
            {{"replicas", 3},
             {"selector", {{"matchLabels", {{"app", "web"}}}}},
             {"template", PodTemplate(image)}}}});
  }
  // The Deployment controller's status, at the current generation unless told.
  void DeploymentStatus(int64_t replicas, int64_t updated, int64_t available,
                        int64_t observed = 0) {
    if (observed == 0) observed = std::stoll(Get("deployment/web", "{.metadata.generation}"));
    const json status = {{"status",
                          {{"observedGeneration", observed},
                           {"replicas", replicas},
                           {"updatedReplicas", updated},
                           {"readyReplicas", available},
                           {"availableReplicas", available}}}};
    const ProcessResult patched = Kubectl({"patch", "deployment", "web", "--subresource=status",
                                           "--type=merge", "-p", status.dump()});
    ASSERT_EQ(patched.exit_code, 0) << patched.err;
  }
  // A ReplicaSet of the Deployment for `image`, as its controller names and labels it.
  void CreateReplicaSet(const std::string& hash, const std::string& image) {
    json made_from = PodTemplate(image);
    made_from["metadata"]["labels"]["pod-template-hash"] = hash;
    Apply({{"apiVersion", "apps/v1"},
           {"kind", "ReplicaSet"},
           {"metadata",
            {{"name", "web-" + hash},
             {"namespace", "default"},
             {"ownerReferences",
              ControllerOwner("Deployment", "web", Get("deployment/web", "{.metadata.uid}"))}}},
           {"spec",
            {{"replicas", 3},
             {"selector", {{"matchLabels", {{"app", "web"}, {"pod-template-hash", hash}}}}},
             {"template", made_from}}}});
  }
  void CreatePod(const std::string& hash, int i) {
    const std::string replica_set = "web-" + hash;
    Apply({{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata",
            {{"name", replica_set + "-" + std::to_string(i)},
             {"namespace", "default"},
             {"labels", {{"app", "web"}, {"pod-template-hash", hash}}},
             {"finalizers", {kHold}},
             {"ownerReferences", ControllerOwner("ReplicaSet", replica_set,
                                                 Get("rs/" + replica_set, "{.metadata.uid}"))}}},
           {"spec", {{"containers", {{{"name", "web"}, {"image", "web"}}}}}}});
  }
  // The pod gets its deletionTimestamp and stays, terminating, until Gone().
  void Terminate(const std::string& pod) {
    const ProcessResult deleted = Kubectl({"delete", "pod", pod, "--wait=false"});
    ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  }
  void Gone(const std::string& pod) {
    const ProcessResult patched =
        Kubectl({"patch", "pod", pod, "--type=json", "-p",
                 R"([{"op": "remove", "path": "/metadata/finalizers"}])"});
    ASSERT_EQ(patched.exit_code, 0) << patched.err;
  }
  // Web at web:1, rolled out: ReplicaSet web-old111 and its three pods.
  void RolledOutAtVersionOne() {
    ApplyDeployment("web:1");
    CreateReplicaSet("old111", "web:1");
    for (int i = 1; i <= 3; ++i) CreatePod("old111", i);
    DeploymentStatus(3, 3, 3);
    // ReplicaSets are ordered by creation time, to the second.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }

  std::string PostDeployPending() {
    return Jsonpath("shop", "{.status.conditions[?(@.type==\"PostDeployPending\")].message}");
  }
  bool HeldWith(const std::string& text) {
    return Eventually([&] { return PostDeployPending().find(text) != std::string::npos; });
  }
  std::string Ledger() {
    return Sql("SELECT string_agg(name, ',' ORDER BY name) FROM django_migrations");
  }

  json PlanObject() { return json::parse(Kubectl({"get", "mplan", "shop", "-o", "json"}).out); }
  // What Argo CD's health check says of the plan: docs/gitops/argocd-health.lua run by lua
  // through the helper its own test uses.
  std::string ArgoCdHealth() {
    ProcessOptions options;
    options.input = PlanObject().dump();
    const ProcessResult result = RunProcess(
        {"/usr/bin/python3", "-c",
         "import json, sys; sys.path.insert(0, sys.argv[1]); import argocd_health_test as t; "
         "print(t.health(json.load(sys.stdin))[0])",
         SourcePath("tests/shipping")},
        options);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out.substr(0, result.out.find('\n'));
  }
};

// kstatus (sigs.k8s.io/cli-utils, as Flux's dependsOn reads a custom resource): InProgress
// while status.observedGeneration is not the generation or Reconciling is True, Failed when
// Stalled is True, else Current.
std::string Kstatus(const json& object) {
  const json status = object.value("status", json::object());
  if (status.value("observedGeneration", int64_t{-2}) != object["metadata"]["generation"]) {
    return "InProgress";
  }
  std::string result = "Current";
  for (const json& condition : status.value("conditions", json::array())) {
    if (condition["status"] != "True") continue;
    if (condition["type"] == "Reconciling") return "InProgress";
    if (condition["type"] == "Stalled") result = "Failed";
  }
  return result;
}

TEST_F(RolloutTest, PostDeployStepsWaitUntilTheLastOldPodIsGone) {
  CreateDsnSecret();
  const int port = StartOperator();
  RolledOutAtVersionOne();
  ApplyDeployment("web:2");  // the new version: not observed by its controller yet
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, kPlan).exit_code, 0);

  // Pre-deploy steps never wait; the post-deploy one does, and the plan is Ready.
  ASSERT_TRUE(HeldWith("Deployment web: its controller has not seen generation 2 yet"))
      << PostDeployPending();
  EXPECT_EQ(Ledger(), "0001_item");
  EXPECT_EQ(ConditionReason("shop", "Ready"), "WaitingForRollout");
  EXPECT_EQ(Jsonpath("shop", "{.status.conditions[?(@.type==\"Ready\")].status}"), "True");
  EXPECT_EQ(Jsonpath("shop", "{.status.conditions[?(@.type==\"Reconciling\")].status}"), "False");
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=5s"}).exit_code, 0);

  // The rollout, as the Deployment controller goes: a new ReplicaSet, one surge pod...
  CreateReplicaSet("new222", "web:2");
  CreatePod("new222", 1);
  DeploymentStatus(4, 1, 3);
  EXPECT_TRUE(
      HeldWith("Deployment web: 1 of 3 replicas updated, 3 pods of an older ReplicaSet "
               "left"))
      << PostDeployPending();
  // ... every new pod available, the old ones terminating ...
  CreatePod("new222", 2);
  CreatePod("new222", 3);
  for (int i = 1; i <= 3; ++i) Terminate("web-old111-" + std::to_string(i));
  DeploymentStatus(3, 3, 3);  // terminating pods are not counted in the status
  EXPECT_TRUE(HeldWith("3 pods of an older ReplicaSet left (all terminating)"))
      << PostDeployPending();
  Gone("web-old111-1");
  Gone("web-old111-2");
  EXPECT_TRUE(HeldWith("1 pod of an older ReplicaSet left (terminating)")) << PostDeployPending();
  EXPECT_EQ(Ledger(), "0001_item");
  const ProcessResult shown = Kubectl({"get", "mplan", "shop", "-o", "yaml"});
  EXPECT_THAT(shown.out, HasSubstr("type: PostDeployPending"));
  EXPECT_EQ(Kubectl({"wait", "--for=condition=PostDeployPending", "mplan/shop", "--timeout=5s"})
                .exit_code,
            0);
  EXPECT_EQ(PostDeployPending(),
            "1 post-deploy step waits for the app's rollout, next: apply shop.0002_drop_name; "
            "waiting for Deployment web: 1 pod of an older ReplicaSet left (terminating)");

  // The last old pod goes: the step is applied, without polling (the pod's watch event).
  Gone("web-old111-3");
  ASSERT_TRUE(Eventually([&] { return Ledger() == "0001_item,0002_drop_name"; })) << Ledger();
  EXPECT_TRUE(Eventually([&] { return ConditionReason("shop", "Ready") == "UpToDate"; }));
  EXPECT_EQ(PostDeployPending(), "");
  EXPECT_EQ(Sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'shop_item' "
                "AND column_name = 'name'"),
            "0");
  EXPECT_TRUE(Eventually([&] {
    return Kubectl({"describe", "mplan", "shop"}).out.find("RolloutComplete") != std::string::npos;
  }));
  const std::string metrics = Scrape(port);
  EXPECT_THAT(metrics, HasSubstr("tidemark_post_deploy_wait_seconds_count 1"));
  ProcessOptions input;
  input.input = metrics;
  const ProcessResult promtool = RunProcess({"promtool", "check", "metrics"}, input);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
}

TEST_F(RolloutTest, ARolledBackRolloutKeepsThemHeld) {
  CreateDsnSecret();
  StartOperator();
  RolledOutAtVersionOne();
  ApplyDeployment("web:2");
  CreateReplicaSet("new222", "web:2");
  CreatePod("new222", 1);
  DeploymentStatus(4, 1, 3);
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, kPlan).exit_code, 0);
  ASSERT_TRUE(HeldWith("1 of 3 replicas updated")) << PostDeployPending();

  // `kubectl rollout undo`: the template is web:1 again, the old ReplicaSet current, the
  // new pod gone, every replica of the old template available.
  ApplyDeployment("web:1");
  Terminate("web-new222-1");
  Gone("web-new222-1");
  DeploymentStatus(3, 3, 3);
  EXPECT_TRUE(
      HeldWith("Deployment web was rolled back: it runs ReplicaSet web-old111, older "
               "than web-new222"))
      << PostDeployPending();
  EXPECT_EQ(Ledger(), "0001_item");
  EXPECT_EQ(ConditionReason("shop", "Ready"), "WaitingForRollout");
}

// The GitOps order: an Argo CD sync wave (or a Flux dependsOn) applies the plan first and
// the app only once the plan is healthy. Nothing may deadlock, and nothing may start early.
TEST_F(RolloutTest, PlanFirstAppSecondConverges) {
  CreateDsnSecret();
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, kPlan).exit_code, 0);
  // Right after creation, before any reconcile: in progress, so the app is not released.
  EXPECT_EQ(Jsonpath("shop", "{.status.observedGeneration}"), "-1");
  EXPECT_EQ(Kstatus(PlanObject()), "InProgress");
  EXPECT_EQ(ArgoCdHealth(), "Progressing");

  // The controller applies the pre-deploy step; the post-deploy one waits for an app that
  // does not exist yet, and the plan is Ready, which releases the app's wave.
  StartOperator();
  ASSERT_TRUE(HeldWith("Deployment web does not exist")) << PostDeployPending();
  EXPECT_EQ(Ledger(), "0001_item");
  EXPECT_EQ(Kstatus(PlanObject()), "Current");
  EXPECT_EQ(ArgoCdHealth(), "Healthy");

  // The app's wave: the Deployment is created and rolls out.
  ApplyDeployment("web:1");
  EXPECT_TRUE(HeldWith("Deployment web: its controller has not seen generation 1 yet"))
      << PostDeployPending();
  EXPECT_EQ(Kstatus(PlanObject()), "Current");
  CreateReplicaSet("aaa111", "web:1");
  for (int i = 1; i <= 3; ++i) CreatePod("aaa111", i);
  DeploymentStatus(3, 3, 3);
  ASSERT_TRUE(Eventually([&] { return Ledger() == "0001_item,0002_drop_name"; })) << Ledger();
  EXPECT_TRUE(Eventually([&] { return ConditionReason("shop", "Ready") == "UpToDate"; }));
  EXPECT_EQ(Kstatus(PlanObject()), "Current");
  EXPECT_EQ(ArgoCdHealth(), "Healthy");
}

}  // namespace
}  // namespace tidemark::testing
