#include "tests/reliability/cluster_fixture.h"

#include <httplib.h>
#include <signal.h>

#include "tests/support/operator_process.h"

namespace tidemark::testing {
namespace {

const char kPlans[] = "/apis/tidemark.dev/v1alpha1/namespaces/default/migrationplans";

}  // namespace

void ClusterTest::SetUp() {
  ReliabilityTest::SetUp();
  KubeApiServerOptions options;
  options.crd_paths = {SourcePath("crds/migrationplans.tidemark.dev.yaml")};
  auto started = KubectlCluster::Start(dir_, options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  cluster_ = std::move(*started);
}

void ClusterTest::TearDown() {
  KillOperators();
  cluster_.reset();
  ReliabilityTest::TearDown();
}

BackgroundProcess& ClusterTest::StartOperator(const std::vector<std::string>& extra) {
  const int port = FreeLoopbackPort();
  operators_.push_back(
      std::make_unique<BackgroundProcess>(OperatorArgv(cluster_->kubeconfig(), port, extra)));
  EXPECT_TRUE(AnswersHealthz(port)) << "the operator never answered /healthz";
  return *operators_.back();
}

void ClusterTest::KillOperators() {
  for (auto& running : operators_) {
    running->Kill(SIGKILL);
    running->Wait();
  }
  operators_.clear();
}

void ClusterTest::CreateDsnSecret(const std::string& name, const std::string& dsn) {
  const ProcessResult created =
      cluster_->Kubectl({"create", "secret", "generic", name, "--from-literal=dsn=" + dsn});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
}

void ClusterTest::ApplyPlan(const std::string& yaml) {
  const ProcessResult applied = cluster_->Kubectl({"apply", "-f", "-"}, yaml);
  ASSERT_EQ(applied.exit_code, 0) << Describe(applied);
}

void ClusterTest::DeletePlan(const std::string& name) {
  httplib::Client client("127.0.0.1", cluster_->server().port());
  auto response = client.Delete(std::string(kPlans) + "/" + name);
  ASSERT_TRUE(response && response->status == 200) << "deleting plan " << name;
}

nlohmann::json ClusterTest::GetPlan(const std::string& name) {
  httplib::Client client("127.0.0.1", cluster_->server().port());
  auto response = client.Get(std::string(kPlans) + "/" + name);
  if (!response || response->status != 200) return nullptr;
  return nlohmann::json::parse(response->body, nullptr, false);
}

std::string ClusterTest::TrueCondition(const std::string& plan, const std::string& type) {
  const nlohmann::json object = GetPlan(plan);
  if (!object.is_object()) return "";
  for (const auto& condition :
       object.value("/status/conditions"_json_pointer, nlohmann::json::array())) {
    if (condition.value("type", "") == type && condition.value("status", "") == "True") {
      return condition.value("reason", "");
    }
  }
  return "";
}

bool ClusterTest::WaitReady(const std::string& plan, int seconds) {
  return Eventually(
      [&] {
        const nlohmann::json object = GetPlan(plan);
        if (!object.is_object()) return false;
        const auto generation = object.value("/metadata/generation"_json_pointer, int64_t{0});
        const auto observed = object.value("/status/observedGeneration"_json_pointer, int64_t{-1});
        return observed == generation && TrueCondition(plan, "Ready") == "UpToDate";
      },
      std::chrono::seconds(seconds));
}

}  // namespace tidemark::testing
