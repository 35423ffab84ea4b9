#include "tests/reliability/reliability_fixture.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace tidemark::testing {
namespace {

unsigned Seed() {
  if (const char* given = std::getenv("TIDEMARK_RELIABILITY_SEED")) {
    return static_cast<unsigned>(std::strtoul(given, nullptr, 10));
  }
  return std::random_device{}();
}

std::string DatabaseName(const std::string& dsn) {
  const std::string key = "dbname=";
  const size_t start = dsn.find(key) + key.size();
  return dsn.substr(start, dsn.find(' ', start) - start);
}

std::string Tail(const std::string& text, size_t limit = 4000) {
  return text.size() <= limit ? text : "..." + text.substr(text.size() - limit);
}

}  // namespace

void ReliabilityTest::SetUp() {
  const unsigned seed = Seed();
  random_.seed(seed);
  Figure("seed", std::to_string(seed));
  char pattern[] = "/tmp/tidemark-reliability-XXXXXX";
  dir_ = mkdtemp(pattern);
}

void ReliabilityTest::TearDown() {
  for (const std::string& dsn : std::vector<std::string>(databases_)) DropDatabase(dsn);
  std::filesystem::remove_all(dir_);
}

std::string ReliabilityTest::NewDatabase() {
  databases_.push_back(server().CreateDatabase("reliability"));
  return databases_.back();
}

void ReliabilityTest::DropDatabase(const std::string& dsn) {
  server().Query(server().Dsn(),
                 "DROP DATABASE IF EXISTS \"" + DatabaseName(dsn) + "\" WITH (FORCE)");
  databases_.erase(std::remove(databases_.begin(), databases_.end(), dsn), databases_.end());
}

void ReliabilityTest::WritePlan(const std::string& yaml) {
  std::ofstream(dir_ + "/plan.yaml") << yaml;
}

std::vector<std::string> ReliabilityTest::TidemarkArgv(const std::string& dsn,
                                                       std::vector<std::string> args) const {
  std::vector<std::string> argv = {BuiltProgram("tidemark")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-f", dir_, "--database", dsn});
  return argv;
}

void ReliabilityTest::Figure(const std::string& key, const std::string& value) {
  RecordProperty(key, value);
  std::cout << "[reliability] " << ::testing::UnitTest::GetInstance()->current_test_info()->name()
            << " " << key << ": " << value << std::endl;
}

std::string Describe(const ProcessResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\n--- stdout\n" + Tail(result.out) +
         "--- stderr\n" + Tail(result.err);
}

}  // namespace tidemark::testing
