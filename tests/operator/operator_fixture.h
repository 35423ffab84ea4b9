// The fixture of the controller's end-to-end tests: the test API server driven by the real
// kubectl, a real PostgreSQL database, and `tidemark operator` processes started by the test
// (and killed, by pid, when it ends).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/kubectl_cluster.h"
#include "tests/support/operator_process.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {

namespace fs = std::filesystem;

class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tidemark-operator-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    KubeApiServerOptions options;
    options.crd_paths = {SourcePath("crds/migrationplans.tidemark.dev.yaml")};
    auto started = KubectlCluster::Start(dir_.string(), options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    cluster_ = std::move(*started);
    dsn_ = PostgresServer::Get().CreateDatabase("operator");
  }

  void TearDown() override {
    // A failed test shows the end of each controller's log: that is where a hang under load
    // explains itself.
    if (HasFailure()) {
      for (const auto& process : operators_) {
        process->Kill(SIGKILL);
        const std::string log = process->Wait().err;
        const size_t tail_start = log.size() > 6000 ? log.find('\n', log.size() - 6000) : 0;
        std::cerr << "--- the end of operator " << process->pid() << "'s log ---\n"
                  << log.substr(tail_start == std::string::npos ? 0 : tail_start) << "\n";
      }
    }
    operators_.clear();  // SIGKILL whatever still runs
    cluster_.reset();
    fs::remove_all(dir_);
  }

  ProcessResult Kubectl(const std::vector<std::string>& args, const std::string& input = "") {
    return cluster_->Kubectl(args, input);
  }

  void CreateDsnSecret(const std::string& name = "shop-db") {
    const ProcessResult created =
        Kubectl({"create", "secret", "generic", name, "--from-literal=dsn=" + dsn_});
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  // Starts `tidemark operator`, with `env` added to its environment; returns its metrics port.
  int StartOperator(std::vector<std::string> extra = {},
                    std::map<std::string, std::string> env = {}) {
    if (std::find(extra.begin(), extra.end(), "--leader-elect") != extra.end() &&
        Kubectl({"get", "namespace", "tidemark-system"}).exit_code != 0) {
      // The Lease lives in the controller's namespace, as manifests/ create it.
      EXPECT_EQ(Kubectl({"create", "namespace", "tidemark-system"}).exit_code, 0);
    }
    const int port = FreeLoopbackPort();
    ProcessOptions options;
    options.env = std::move(env);
    operators_.push_back(std::make_unique<BackgroundProcess>(
        OperatorArgv(cluster_->kubeconfig(), port, extra), options));
    EXPECT_TRUE(AnswersHealthz(port)) << "the operator never answered /healthz";
    return port;
  }

  std::string Jsonpath(const std::string& plan, const std::string& path) {
    return Kubectl({"get", "mplan", plan, "-o", "jsonpath=" + path}).out;
  }
  std::string ConditionReason(const std::string& plan, const std::string& type) {
    return Jsonpath(plan, "{.status.conditions[?(@.type==\"" + type + "\")].reason}");
  }
  std::string Sql(const std::string& query) {
    return PostgresServer::Get().QueryValue(dsn_, query);
  }

  std::string Scrape(int port) {
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get("/metrics");
    return response ? response->body : "";
  }

  fs::path dir_;
  std::unique_ptr<KubectlCluster> cluster_;
  std::string dsn_;
  std::vector<std::unique_ptr<BackgroundProcess>> operators_;
};

inline std::string ExampleFile(const std::string& name) { return SourcePath("examples/" + name); }

}  // namespace tidemark::testing
