// The Jobs the controller makes of spec.runner.jobTemplate (operator/job_runner.h): names a
// restarted controller finds again, and what each Job carries. Pure: no server.
#include "operator/job_runner.h"

#include <gtest/gtest.h>

#include <set>

namespace tidemark::op {
namespace {

using engine::RunnerTask;
using nlohmann::json;

plan::MigrationPlan Plan(const std::string& name, int64_t generation = 3) {
  plan::MigrationPlan plan;
  plan.meta = {name, "prod", "uid-1", generation};
  plan::RunnerSpec runner;
  runner.timeout = std::chrono::minutes(20);
  runner.job_template_json = R"({"metadata": {"labels": {"team": "shop"}},
      "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "app",
        "image": "shop:1.4", "command": ["python", "manage.py", "tidemark_step"]}]}}}})";
  plan.runner = runner;
  return plan;
}

const RunnerTask kApply{RunnerTask::Kind::kApply, {"stock", "0003_fill_code"}};

bool IsDnsLabel(const std::string& name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

TEST(JobNameTest, DeterministicDnsSafeAndDistinctPerStepDirectionAndGeneration) {
  const std::string name = JobName(Plan("shop"), kApply);
  EXPECT_EQ(name, JobName(Plan("shop"), kApply));  // a restarted controller finds it
  EXPECT_EQ(name.rfind("shop-apply-", 0), 0u) << name;
  EXPECT_TRUE(IsDnsLabel(name)) << name;
  const std::set<std::string> names = {
      name,
      JobName(Plan("shop", 4), kApply),
      JobName(Plan("shop"), {RunnerTask::Kind::kRevert, kApply.step}),
      JobName(Plan("shop"), {RunnerTask::Kind::kApply, {"stock", "0005_more"}}),
      JobName(Plan("shop"), {RunnerTask::Kind::kPostMigrate, {}}),
      JobName(Plan("shop2"), kApply)};
  EXPECT_EQ(names.size(), 6u);
  const std::string long_name = JobName(Plan(std::string(200, 'x') + ".Shop_DB"), kApply);
  EXPECT_TRUE(IsDnsLabel(long_name)) << long_name;
}

TEST(MakeJobTest, OwnedLabelledRunOnceWithTheStepsWordsAppended) {
  const json job = MakeJob(Plan("shop"), kApply);
  EXPECT_EQ(job["apiVersion"], "batch/v1");
  EXPECT_EQ(job["kind"], "Job");
  const json& meta = job["metadata"];
  EXPECT_EQ(meta["name"], JobName(Plan("shop"), kApply));
  EXPECT_EQ(meta["namespace"], "prod");
  EXPECT_EQ(meta["labels"]["team"], "shop");  // the template's own labels stay
  EXPECT_EQ(meta["labels"]["app.kubernetes.io/managed-by"], "tidemark");
  EXPECT_EQ(meta["labels"]["tidemark.dev/plan"], "shop");
  EXPECT_EQ(meta["labels"]["tidemark.dev/step"], "stock.0003_fill_code");
  EXPECT_EQ(meta["labels"]["tidemark.dev/direction"], "apply");
  EXPECT_EQ(meta["ownerReferences"],
            json::parse(R"([{"apiVersion":"tidemark.dev/v1alpha1","kind":"MigrationPlan",
                "name":"shop","uid":"uid-1","controller":true,"blockOwnerDeletion":true}])"));
  const json& spec = job["spec"];
  EXPECT_EQ(spec["backoffLimit"], 0);
  EXPECT_EQ(spec["ttlSecondsAfterFinished"], JobRunner::kTtlSeconds);
  EXPECT_EQ(spec["activeDeadlineSeconds"], 1200);  // spec.runner.timeout
  EXPECT_EQ(spec["template"]["metadata"]["labels"]["tidemark.dev/plan"], "shop");
  const json& app = spec["template"]["spec"]["containers"][0];
  EXPECT_EQ(app["command"], json({"python", "manage.py", "tidemark_step"}));
  EXPECT_EQ(app["args"], json({"apply", "stock", "0003_fill_code"}));

  const json post = MakeJob(Plan("shop"), {RunnerTask::Kind::kPostMigrate, {}});
  EXPECT_EQ(post["spec"]["template"]["spec"]["containers"][0]["args"],
            json::array({"post-migrate"}));
  EXPECT_EQ(post["metadata"]["labels"]["tidemark.dev/direction"], "post-migrate");
}

TEST(MakeJobTest, LongStepNamesBecomeValidLabelValues) {
  const RunnerTask task{RunnerTask::Kind::kApply, {"stock", "0003_" + std::string(80, 'a')}};
  const json job = MakeJob(Plan("shop"), task);
  const std::string value = job["metadata"]["labels"]["tidemark.dev/step"];
  EXPECT_LE(value.size(), 63u);
  // The exact step is in an annotation.
  EXPECT_EQ(job["metadata"]["annotations"]["tidemark.dev/step"], task.step.ToString());
}

// Secrets by "ns/name", as the controller's cache holds them.
class SecretsSource : public resource::ObjectSource {
 public:
  std::map<std::string, std::map<std::string, std::string>> secrets;

  Result<std::map<std::string, std::string>> ConfigMapData(const std::string&,
                                                           const std::string& name) override {
    return Status::NotFound("ConfigMap " + name);
  }
  Result<std::string> SecretValue(const std::string& ns, const std::string& name,
                                  const std::string& key) override {
    TM_ASSIGN_OR_RETURN(auto data, SecretData(ns, name));
    if (!data.count(key)) return Status::NotFound("Secret " + name + " key " + key);
    return data[key];
  }
  Result<std::map<std::string, std::string>> SecretData(const std::string& ns,
                                                        const std::string& name) override {
    auto found = secrets.find(ns + "/" + name);
    if (found == secrets.end()) return Status::NotFound("Secret " + name);
    return found->second;
  }
};

TEST(SecretValuesOfTest, EveryValueAnyContainerGetsFromASecretInTheJobsNamespace) {
  plan::MigrationPlan plan = Plan("shop");
  plan.runner->job_template_json = R"({"spec": {"template": {"spec": {
      "initContainers": [{"name": "wait", "env": [
        {"name": "WAIT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "init", "key": "token"}}}]}],
      "containers": [{"name": "app", "command": ["python"],
        "env": [{"name": "PLAIN", "value": "not-a-secret"},
                {"name": "DSN", "valueFrom": {"secretKeyRef": {"name": "db", "key": "dsn"}}},
                {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "db", "key": "nokey"}}},
                {"name": "MAP", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
        "envFrom": [{"secretRef": {"name": "app-env"}}, {"configMapRef": {"name": "cm"}},
                    {"secretRef": {"name": "missing"}, "prefix": "X_"}]},
        {"name": "sidecar", "envFrom": [{"secretRef": {"name": "side"}}]}]}}}})";
  SecretsSource objects;
  objects.secrets = {{"prod/init", {{"token", "init-token"}}},
                     {"prod/db", {{"dsn", "postgres://u:pw@h/db"}, {"other", "unused-key"}}},
                     {"prod/app-env", {{"API_KEY", "api-key-1"}, {"EMPTY", ""}, {"B", "b-2"}}},
                     {"prod/side", {{"S", "side-3"}}},
                     {"other/db", {{"dsn", "another-namespace"}}}};
  const std::vector<std::string> values = SecretValuesOf(MakeJob(plan, kApply), objects);
  EXPECT_EQ(std::multiset<std::string>(values.begin(), values.end()),
            (std::multiset<std::string>{"init-token", "postgres://u:pw@h/db", "api-key-1", "b-2",
                                        "side-3"}));
}

}  // namespace
}  // namespace tidemark::op
