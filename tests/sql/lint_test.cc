#include "sql/lint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace tidemark::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<plan::LintFinding> Lint(const std::string& script, bool atomic = true,
                                    std::vector<plan::LintAllow> lint_allow = {},
                                    plan::Phase phase = plan::Phase::kPreDeploy) {
  plan::Step step;
  step.id = {"shop", "0002"};
  step.atomic = atomic;
  step.phase = phase;
  step.lint_allow = std::move(lint_allow);
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

// One case of tests/sql/lint/cases.sql: its steps, linted in order by one PlanLinter.
struct Case {
  std::string name;
  std::string options;  // as the golden file shows them: " (atomic: false)", " (pg: 10)"
  bool atomic = true;
  plan::Phase phase = plan::Phase::kPreDeploy;
  LintOptions lint;
  std::vector<std::string> steps = {""};
};

Case ReadCaseHeader(const std::string& rest) {
  Case c;
  c.name = rest.substr(0, rest.find(' '));
  if (rest.find("(atomic: false)") != std::string::npos) {
    c.atomic = false;
    c.options += " (atomic: false)";
  }
  if (rest.find("(phase: PostDeploy)") != std::string::npos) {
    c.phase = plan::Phase::kPostDeploy;
    c.options += " (phase: PostDeploy)";
  }
  if (const size_t pg = rest.find("(pg: "); pg != std::string::npos) {
    c.lint.server_version = std::stoi(rest.substr(pg + 5));
    c.options += " (pg: " + std::to_string(*c.lint.server_version) + ")";
  }
  return c;
}

// tests/sql/lint/cases.sql run case by case, in the form pinned by cases.golden.
std::string LintCases(const std::string& cases, std::set<std::string>* rules_seen) {
  static const std::string kHeader = "-- case: ";
  static const std::string kNextStep = "-- next step";
  std::string out;
  std::istringstream lines(cases);
  std::string line;
  std::optional<Case> current;
  auto flush = [&] {
    if (!current) return;
    out += "== " + current->name + current->options + "\n";
    PlanLinter linter(current->lint);
    bool any = false;
    for (size_t i = 0; i < current->steps.size(); ++i) {
      plan::Step step;
      step.id = {"shop", "000" + std::to_string(i + 2)};
      step.atomic = current->atomic;
      step.phase = current->phase;
      auto statements = Parse(current->steps[i], true);
      EXPECT_TRUE(statements.ok()) << current->name << ": " << statements.status().message();
      if (!statements.ok()) continue;
      for (const auto& finding : linter.Lint(step, *statements)) {
        any = true;
        out += (current->steps.size() > 1 ? "step " + std::to_string(i + 1) + ": " : "") +
               finding.rule + " [" + plan::SeverityName(finding.severity) + "] " + finding.message +
               "\n";
        rules_seen->insert(finding.rule);
      }
    }
    if (!any) out += "no findings\n";
  };
  while (std::getline(lines, line)) {
    if (line.rfind(kHeader, 0) == 0) {
      flush();
      current = ReadCaseHeader(line.substr(kHeader.size()));
    } else if (current && line.rfind(kNextStep, 0) == 0) {
      current->steps.emplace_back();
    } else if (current) {
      current->steps.back() += line + "\n";
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

TEST(LintTest, AStepsLintAllowAcceptsItsRuleInEveryStatement) {
  const auto findings = Lint(
      "CREATE INDEX i ON orders (a);\n"
      "-- tidemark:allow require-concurrent-index-creation lines is new\n"
      "CREATE INDEX j ON lines (a);\n"
      "ALTER TABLE orders DROP COLUMN b",
      true, {{"require-concurrent-index-creation", "orders holds 40 rows"}});
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].accepted, "orders holds 40 rows");
  EXPECT_THAT(findings[0].message,
              ::testing::EndsWith(" (accepted in lintAllow: orders holds 40 rows)"));
  EXPECT_EQ(findings[1].accepted, "lines is new");  // the statement's own allow comes first
  EXPECT_EQ(findings[2].rule, "ban-drop-column");
  EXPECT_EQ(findings[2].accepted, "");
}

TEST(LintTest, ALintAllowNamingNoRuleOrAcceptingNothingIsAFinding) {
  const auto findings = Lint("CREATE INDEX i ON orders (a)", true,
                             {{"require-concurrent-index-creaton", "typo"},
                              {"ban-drop-column", "the column went in 0001"},
                              {"require-concurrent-index-creation", "orders holds 40 rows"}});
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(findings[0].accepted, "orders holds 40 rows");
  EXPECT_EQ(findings[1].rule, "invalid-lint-allow");
  EXPECT_EQ(findings[1].statement_index, -1);
  EXPECT_THAT(findings[1].message,
              ::testing::StartsWith("lintAllow[0] (require-concurrent-index-creaton) names no "
                                    "lint rule: write `-- tidemark:allow RULE reason`"));
  EXPECT_THAT(findings[2].message,
              ::testing::StartsWith("lintAllow[1] (ban-drop-column) accepts nothing: the step "
                                    "has no such finding; remove the entry"));
}

TEST(LintTest, TheCatalogueSaysATypeWhereThePlanDoesNot) {
  LintOptions options;
  options.default_schema = "shop";
  options.catalog = {{"shop.item", {{"name", "character varying(20)"}, {"price", "numeric(10,2)"}}},
                     {"public.item", {{"name", "character varying(200)"}}}};
  PlanLinter linter(std::move(options));
  const auto lint = [&](const std::string& sql) {
    plan::Step step;
    step.id = {"shop", "0002"};
    auto statements = Parse(sql, true);
    EXPECT_TRUE(statements.ok());
    std::vector<std::string> messages;
    for (const auto& finding : linter.Lint(step, *statements)) messages.push_back(finding.message);
    return messages;
  };
  // Unqualified names live in the plan's schema, shop; a type the catalogue writes as SQL.
  EXPECT_THAT(lint("ALTER TABLE item ALTER COLUMN name TYPE varchar(40);"
                   "ALTER TABLE shop.item ALTER COLUMN price TYPE numeric(12, 2)"),
              IsEmpty());
  // The step before changed the type: its varchar(40), not the catalogue's varchar(20), counts.
  EXPECT_THAT(lint("ALTER TABLE item ALTER COLUMN name TYPE varchar(30)"),
              ElementsAre(::testing::HasSubstr("narrows varchar(40) to varchar(30)")));
  EXPECT_THAT(lint("ALTER TABLE public.item ALTER COLUMN name TYPE varchar(100)"),
              ElementsAre(::testing::HasSubstr("narrows varchar(200) to varchar(100)")));
  // A table the plan creates anew has only the columns it lists.
  EXPECT_THAT(lint("DROP TABLE item; CREATE TABLE item (id int)"),
              ElementsAre(::testing::HasSubstr("DROP TABLE")));
  EXPECT_THAT(lint("ALTER TABLE item ALTER COLUMN name TYPE text"),
              ElementsAre(::testing::HasSubstr("its current type is unknown")));
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
