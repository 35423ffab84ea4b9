// A fresh database and a folder of plan files per test, and `tidemark` run against them.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes `yaml` as plan.yaml in the test's folder.
  void WritePlan(const std::string& yaml);
  // A plan named "shop" with the given YAML list of steps and extra spec lines.
  void WriteSteps(const std::string& steps_yaml, const std::string& extra_spec = "");
  // Runs `tidemark ARGS -f <folder> --database <dsn>`.
  ProcessResult Tidemark(std::vector<std::string> args, const ProcessOptions& options = {});
  std::vector<std::string> TidemarkArgv(std::vector<std::string> args) const;

  std::string Value(const std::string& sql) const { return server().QueryValue(dsn_, sql); }
  Rows Query(const std::string& sql) const { return server().Query(dsn_, sql); }
  bool TableExists(const std::string& table) const;
  // "app.name" rows of the ledger, sorted.
  std::vector<std::string> LedgerRows() const;

  static PostgresServer& server() { return PostgresServer::Get(); }

  std::string dsn_;
  std::string dir_;
};

// Steps for WriteSteps: expand (add the new column, pre-deploy), then contract (drop the
// old one, post-deploy) once no old pod reads it.
inline constexpr char kExpandContractSteps[] =
    "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE shop_item (id int, label "
    "text)\", backward: \"DROP TABLE shop_item\"}\n"
    "    - {app: shop, name: 0002_item_title, dependencies: [shop.0001_initial],\n"
    "       forward: \"ALTER TABLE shop_item ADD COLUMN title text\"}\n"
    "    - {app: shop, name: 0003_drop_label, dependencies: [shop.0002_item_title],\n"
    "       phase: PostDeploy, forward: \"ALTER TABLE shop_item DROP COLUMN label\"}\n";

// The output of a process, for failure messages.
std::string Describe(const ProcessResult& result);

// The body of GET /metrics on 127.0.0.1:`port` (`run --watch --metrics-addr`); "" when it
// does not answer 200.
std::string ScrapeMetrics(int port);
// promtool check metrics accepts `exposition`.
void ExpectValidExposition(const std::string& exposition);

}  // namespace tidemark::testing
