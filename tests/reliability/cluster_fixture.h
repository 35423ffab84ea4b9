// The reliability tests of the controller: the test API server (in this process, with its
// fault injection), `tidemark operator` processes against it, and the plans' status read
// back over HTTP as kubectl would.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/reliability/reliability_fixture.h"
#include "tests/support/kubectl_cluster.h"

namespace tidemark::testing {

class ClusterTest : public ReliabilityTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts `tidemark operator` (no leader election unless asked) and waits for /healthz.
  BackgroundProcess& StartOperator(const std::vector<std::string>& extra = {});
  // SIGKILLs every operator still running and forgets them.
  void KillOperators();

  // A Secret `name` whose key `dsn` holds `dsn`.
  void CreateDsnSecret(const std::string& name, const std::string& dsn);
  // Creates or replaces a MigrationPlan from YAML, as `kubectl apply -f -` does.
  void ApplyPlan(const std::string& yaml);
  void DeletePlan(const std::string& name);
  // The plan as the API server holds it (null when absent).
  nlohmann::json GetPlan(const std::string& name);
  // The reason of condition `type` when its status is "True", else "".
  std::string TrueCondition(const std::string& plan, const std::string& type);
  // True once the plan is Ready for its current generation, within `seconds`.
  bool WaitReady(const std::string& plan, int seconds = 120);

  std::unique_ptr<KubectlCluster> cluster_;
  std::vector<std::unique_ptr<BackgroundProcess>> operators_;
};

}  // namespace tidemark::testing
