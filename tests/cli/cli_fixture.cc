#include "tests/cli/cli_fixture.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>

namespace tidemark::testing {

void CliTest::SetUp() {
  dsn_ = server().CreateDatabase("cli");
  char pattern[] = "/tmp/tidemark-plan-XXXXXX";
  dir_ = mkdtemp(pattern);
}

void CliTest::TearDown() { std::filesystem::remove_all(dir_); }

void CliTest::WritePlan(const std::string& yaml) { std::ofstream(dir_ + "/plan.yaml") << yaml; }

void CliTest::WriteSteps(const std::string& steps_yaml, const std::string& extra_spec) {
  WritePlan(
      "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\n"
      "metadata: {name: shop}\nspec:\n" +
      extra_spec + "  migrations:\n" + steps_yaml);
}

std::vector<std::string> CliTest::TidemarkArgv(std::vector<std::string> args) const {
  std::vector<std::string> argv = {BuiltProgram("tidemark")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-f", dir_, "--database", dsn_});
  return argv;
}

ProcessResult CliTest::Tidemark(std::vector<std::string> args, const ProcessOptions& options) {
  return RunProcess(TidemarkArgv(std::move(args)), options);
}

bool CliTest::TableExists(const std::string& table) const {
  return Value("SELECT count(*) FROM pg_class WHERE relname = '" + table + "'") == "1";
}

std::vector<std::string> CliTest::LedgerRows() const {
  std::vector<std::string> rows;
  if (!TableExists("django_migrations")) return rows;
  for (const auto& row : Query("SELECT app || '.' || name FROM django_migrations ORDER BY 1")) {
    rows.push_back(row[0]);
  }
  return rows;
}

std::string Describe(const ProcessResult& result) {
  return "exit " + std::to_string(result.exit_code) + "\n--- stdout\n" + result.out +
         "--- stderr\n" + result.err;
}

std::string ScrapeMetrics(int port) {
  httplib::Client client("127.0.0.1", port);
  auto response = client.Get("/metrics");
  return response && response->status == 200 ? response->body : "";
}

void ExpectValidExposition(const std::string& exposition) {
  ProcessOptions input;
  input.input = exposition;
  const ProcessResult promtool = RunProcess({"promtool", "check", "metrics"}, input);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
}

}  // namespace tidemark::testing
