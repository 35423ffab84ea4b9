#include "sql/parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tidemark::sql {
namespace {

using ::testing::HasSubstr;

TEST(ParseTest, SplitsWithTheRealParser) {
  const std::string script =
      "CREATE TABLE a (s text DEFAULT 'x;y');\n"
      "-- a comment; with a semicolon\n"
      "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; SELECT 2; $$ LANGUAGE sql;\n"
      "\n  SELECT 3";
  auto statements = Parse(script, false);
  ASSERT_TRUE(statements.ok()) << statements.status().message();
  ASSERT_EQ(statements->size(), 3u);
  EXPECT_EQ((*statements)[0].text, "CREATE TABLE a (s text DEFAULT 'x;y')");
  EXPECT_THAT((*statements)[1].text, HasSubstr("$$ SELECT 1; SELECT 2; $$"));
  EXPECT_EQ((*statements)[1].line, 2);  // the statement starts with its leading comment
  EXPECT_EQ((*statements)[2].text, "SELECT 3");
  EXPECT_EQ((*statements)[2].line, 5);
}

TEST(ParseTest, TreesWhenAsked) {
  auto statements = Parse("CREATE INDEX i ON t (a); SELECT 1;", true);
  ASSERT_TRUE(statements.ok());
  ASSERT_EQ(statements->size(), 2u);
  EXPECT_TRUE((*statements)[0].tree.contains("IndexStmt"));
  EXPECT_EQ((*statements)[1].text, "SELECT 1");
}

TEST(ParseTest, SyntaxErrorNamesLineAndColumn) {
  auto statements = Parse("SELECT 1;\nCREATE TABEL x (id int);", false);
  ASSERT_FALSE(statements.ok());
  EXPECT_EQ(statements.status().message(), "line 2, column 8: syntax error at or near \"TABEL\"");
}

TEST(ParseTest, EmptyScriptHasNoStatements) {
  auto statements = Parse("  -- nothing\n", false);
  ASSERT_TRUE(statements.ok());
  EXPECT_TRUE(statements->empty());
}

}  // namespace
}  // namespace tidemark::sql
