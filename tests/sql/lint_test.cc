#include "sql/lint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace tidemark::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<plan::LintFinding> Lint(const std::string& script, bool atomic = true) {
  plan::Step step;
  step.id = {"shop", "0002"};
  step.atomic = atomic;
  auto statements = Parse(script, true);
  EXPECT_TRUE(statements.ok()) << statements.status().message();
  if (!statements.ok()) return {};
  return LintStep(step, *statements);
}

// The rule names found in `script`, in order.
std::vector<std::string> Rules(const std::string& script, bool atomic = true) {
  std::vector<std::string> rules;
  for (const auto& finding : Lint(script, atomic)) rules.push_back(finding.rule);
  return rules;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// tests/sql/lint/cases.sql run case by case, in the form pinned by cases.golden.
std::string LintCases(const std::string& cases, std::set<std::string>* rules_seen) {
  static const std::string kHeader = "-- case: ";
  std::string out;
  std::istringstream lines(cases);
  std::string line;
  std::string name;
  std::string script;
  bool atomic = true;
  auto flush = [&] {
    if (name.empty()) return;
    out += "== " + name + (atomic ? "" : " (atomic: false)") + "\n";
    const auto findings = Lint(script, atomic);
    if (findings.empty()) out += "no findings\n";
    for (const auto& finding : findings) {
      out += finding.rule + " [" + plan::SeverityName(finding.severity) + "] " + finding.message +
             "\n";
      rules_seen->insert(finding.rule);
    }
  };
  while (std::getline(lines, line)) {
    if (line.rfind(kHeader, 0) == 0) {
      flush();
      const std::string rest = line.substr(kHeader.size());
      name = rest.substr(0, rest.find(' '));
      atomic = rest.find("(atomic: false)") == std::string::npos;
      script.clear();
    } else if (!name.empty()) {
      script += line + "\n";
    }
  }
  flush();
  return out;
}

TEST(LintTest, CasesMatchTheGoldenFile) {
  const char* source = std::getenv("TIDEMARK_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "run through ctest, which sets TIDEMARK_SOURCE_DIR";
  const std::string folder = std::string(source) + "/tests/sql/lint/";
  const std::string cases = ReadFile(folder + "cases.sql");
  ASSERT_FALSE(cases.empty()) << folder << "cases.sql is missing or empty";
  std::set<std::string> rules_seen;
  const std::string actual = LintCases(cases, &rules_seen);
  if (std::getenv("TIDEMARK_UPDATE_GOLDEN")) std::ofstream(folder + "cases.golden") << actual;
  EXPECT_EQ(actual, ReadFile(folder + "cases.golden"))
      << "rerun with TIDEMARK_UPDATE_GOLDEN=1 and review the diff of cases.golden";
  for (const LintRule& rule : LintRules()) {
    EXPECT_TRUE(rules_seen.count(rule.name)) << "no case in cases.sql triggers " << rule.name;
  }
}

TEST(LintTest, MessagesNameTheStatementTheLockAndTheFix) {
  const auto findings = Lint("SELECT 1;\nREINDEX TABLE shop.orders");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].statement_index, 1);
  EXPECT_EQ(findings[0].message,
            "statement 2: REINDEX shop.orders: REINDEX without CONCURRENTLY holds a SHARE lock "
            "that blocks writes to the table and an ACCESS EXCLUSIVE lock on each index that "
            "blocks the reads using it; use REINDEX ... CONCURRENTLY (PostgreSQL 12+) in a step "
            "with atomic: false");
}

TEST(LintTest, AnAllowAcceptsOnlyItsRuleInItsStatement) {
  const auto findings = Lint(
      "-- tidemark:allow require-concurrent-index-creation   a 10-row table  \n"
      "CREATE INDEX i ON orders (a);\n"
      "CREATE INDEX j ON lines (a)");
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].accepted, "a 10-row table");
  EXPECT_THAT(findings[0].message, ::testing::EndsWith(" (accepted: a 10-row table)"));
  EXPECT_EQ(findings[1].accepted, "");
}

TEST(LintTest, TheTransactionOfANonAtomicStepEndsAtCommit) {
  EXPECT_THAT(Rules("BEGIN; ALTER TABLE orders ADD COLUMN c int; COMMIT; "
                    "UPDATE orders SET c = 1; CREATE INDEX CONCURRENTLY i ON orders (c)",
                    /*atomic=*/false),
              IsEmpty());
  EXPECT_THAT(Rules("BEGIN; COMMIT; BEGIN; VACUUM orders", /*atomic=*/false),
              ElementsAre("ban-concurrently-in-transaction", "transaction-control-in-step"));
}

}  // namespace
}  // namespace tidemark::sql
