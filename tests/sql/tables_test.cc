#include "sql/tables.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tidemark::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Created(const std::string& script) {
  auto statements = Parse(script, /*with_trees=*/true);
  EXPECT_TRUE(statements.ok()) << statements.status().message();
  return statements.ok() ? CreatedTables(*statements) : std::vector<std::string>{};
}

TEST(CreatedTablesTest, NamesEachCreatedTableInOrderQualifiedWhenTheSqlIs) {
  EXPECT_THAT(Created("CREATE TABLE orders (id int); CREATE INDEX i ON orders (id);"
                      "CREATE TABLE billing.invoices (id int)"),
              ElementsAre("orders", "billing.invoices"));
}

TEST(CreatedTablesTest, OtherStatementsCreateNothing) {
  EXPECT_THAT(Created("ALTER TABLE orders ADD COLUMN c int; DROP TABLE old; SELECT 1"), IsEmpty());
}

TEST(CreatedTablesTest, StatementsWithoutTreesCreateNothing) {
  auto statements = Parse("CREATE TABLE orders (id int)", /*with_trees=*/false);
  ASSERT_TRUE(statements.ok());
  EXPECT_THAT(CreatedTables(*statements), IsEmpty());
}

// "<first two words>:<schema>.<index built>" of each statement run CONCURRENTLY.
std::vector<std::string> ConcurrentOnes(const std::string& script) {
  auto statements = Parse(script, /*with_trees=*/true);
  EXPECT_TRUE(statements.ok()) << statements.status().message();
  std::vector<std::string> found;
  for (const Statement& statement : statements.ok() ? *statements : std::vector<Statement>{}) {
    if (auto concurrent = Concurrently(statement)) {
      found.push_back(statement.text.substr(0, statement.text.find(' ', 7)) + ":" +
                      concurrent->built_index_schema + "." + concurrent->built_index);
    }
  }
  return found;
}

TEST(ConcurrentlyTest, NamesTheStatementsThatRunConcurrentlyAndTheIndexTheyBuild) {
  EXPECT_THAT(ConcurrentOnes("CREATE INDEX CONCURRENTLY i ON orders (id);"
                             "CREATE UNIQUE INDEX CONCURRENTLY u ON billing.invoices (n);"
                             "CREATE INDEX CONCURRENTLY ON orders (id);"
                             "DROP INDEX CONCURRENTLY i; REINDEX INDEX CONCURRENTLY u;"
                             "ALTER TABLE m DETACH PARTITION m1 CONCURRENTLY"),
              ElementsAre("CREATE INDEX:.i", "CREATE UNIQUE:billing.u", "CREATE INDEX:.",
                          "DROP INDEX:.", "REINDEX:.", "ALTER TABLE:."));
}

TEST(ConcurrentlyTest, OtherStatementsAreNotConcurrent) {
  EXPECT_THAT(ConcurrentOnes("CREATE INDEX i ON orders (id); DROP INDEX i; REINDEX INDEX u;"
                             "ALTER TABLE m DETACH PARTITION m1; SELECT 'CONCURRENTLY'"),
              IsEmpty());
}

}  // namespace
}  // namespace tidemark::sql
