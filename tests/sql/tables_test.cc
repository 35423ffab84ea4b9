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

}  // namespace
}  // namespace tidemark::sql
