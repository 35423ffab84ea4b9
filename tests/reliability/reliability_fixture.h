// What the reliability tests share: a seeded random source whose seed is printed (set
// TIDEMARK_RELIABILITY_SEED to replay a run), fresh databases that are dropped after each
// round, tidemark run from the outside, and the figures each test prints for docs.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {

class ReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A fresh database for a round; dropped at the end of the test (or by DropDatabase).
  std::string NewDatabase();
  void DropDatabase(const std::string& dsn);

  // Writes `yaml` as plan.yaml in the test's folder (dir_).
  void WritePlan(const std::string& yaml);
  // `tidemark ARGS -f <folder> --database <dsn>`.
  std::vector<std::string> TidemarkArgv(const std::string& dsn,
                                        std::vector<std::string> args) const;

  // The seeded source of this test; its seed is printed and kept as a test property.
  std::mt19937& random() { return random_; }
  int Uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
  // A figure for the suite's table ("crash.cli: 100/100 converged"), printed and kept as
  // a test property in ctest's output.
  void Figure(const std::string& key, const std::string& value);

  static PostgresServer& server() { return PostgresServer::Get(); }

  std::string dir_;

 private:
  std::mt19937 random_;
  std::vector<std::string> databases_;
};

// The output of a process, cut to its last lines, for failure messages.
std::string Describe(const ProcessResult& result);

}  // namespace tidemark::testing
