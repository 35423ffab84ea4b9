#include "sql/lint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tidemark::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The rule names found in `script`, in order.
std::vector<std::string> Rules(const std::string& script, bool atomic = true) {
  plan::Step step;
  step.id = {"shop", "0002"};
  step.atomic = atomic;
  auto statements = Parse(script, true);
  EXPECT_TRUE(statements.ok()) << statements.status().message();
  std::vector<std::string> rules;
  for (const auto& finding : LintStep(step, *statements)) rules.push_back(finding.rule);
  return rules;
}

TEST(LintTest, LockingOperationsOnExistingTables) {
  EXPECT_THAT(Rules("CREATE INDEX i ON orders (a)"),
              ElementsAre("require-concurrent-index-creation"));
  EXPECT_THAT(Rules("ALTER TABLE orders ADD COLUMN c int NOT NULL"),
              ElementsAre("adding-required-field"));
  EXPECT_THAT(Rules("ALTER TABLE orders ALTER COLUMN c SET NOT NULL"),
              ElementsAre("setting-not-nullable-field"));
  EXPECT_THAT(Rules("ALTER TABLE orders ALTER COLUMN c TYPE bigint"),
              ElementsAre("changing-column-type"));
  EXPECT_THAT(Rules("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)"),
              ElementsAre("constraint-missing-not-valid"));
  EXPECT_THAT(Rules("ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a)"),
              ElementsAre("disallowed-unique-constraint"));
  EXPECT_THAT(Rules("ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid()"),
              ElementsAre("adding-field-with-volatile-default"));
  EXPECT_THAT(Rules("ALTER TABLE orders DROP COLUMN c; DROP TABLE old"),
              ElementsAre("ban-drop-column", "ban-drop-table"));
  EXPECT_THAT(Rules("ALTER TABLE orders RENAME COLUMN a TO b; ALTER TABLE orders RENAME TO o"),
              ElementsAre("renaming-column", "renaming-table"));
}

TEST(LintTest, SafeFormsPass) {
  EXPECT_THAT(Rules("CREATE INDEX CONCURRENTLY i ON orders (a)", /*atomic=*/false), IsEmpty());
  EXPECT_THAT(Rules("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) "
                    "NOT VALID"),
              IsEmpty());
  EXPECT_THAT(Rules("ALTER TABLE orders ADD COLUMN c int NOT NULL DEFAULT 0"), IsEmpty());
  EXPECT_THAT(Rules("ALTER TABLE orders ADD COLUMN c timestamptz DEFAULT now()"), IsEmpty());
}

TEST(LintTest, TablesCreatedInTheSameStepAreExempt) {
  EXPECT_THAT(Rules("CREATE TABLE fresh (id int, a int); CREATE INDEX i ON fresh (a); "
                    "ALTER TABLE fresh ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id)"),
              IsEmpty());
}

TEST(LintTest, ConcurrentlyInsideATransactionIsAnError) {
  EXPECT_THAT(Rules("CREATE INDEX CONCURRENTLY i ON orders (a)", /*atomic=*/true),
              ElementsAre("ban-concurrently-in-transaction"));
}

}  // namespace
}  // namespace tidemark::sql
