// A plan's database fields as libpq parameters: keywords in order, sources resolved with
// the field named, the password never described (nor in a connection failure, to a
// socket that does not exist). No server needed.
#include "postgres/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "postgres/pg_store.h"

namespace tidemark::postgres {
namespace {

using ::testing::HasSubstr;

plan::Value Literal(const std::string& text) { return plan::Value{text, std::nullopt}; }

plan::Value FromSecret(const std::string& name, const std::string& key) {
  return plan::Value{std::nullopt,
                     plan::ValueSource{plan::ValueSource::Kind::kSecretKeyRef, name, key, "", ""}};
}

resource::LoadedFiles SecretFiles() {
  resource::LoadedFiles files;
  const Status added = files.AddText(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db, namespace: prod}\n"
      "data: {password: aHVudGVyMg==}\n",
      "secret.yaml");
  EXPECT_TRUE(added.ok()) << added.message();
  return files;
}

TEST(ConnectionTest, FieldsBecomeKeywordsInOrder) {
  plan::DatabaseSpec database;
  database.host = Literal("db.internal");
  database.dbname = Literal("shop");
  database.user = Literal("app");
  database.password = FromSecret("shop-db", "password");
  resource::LoadedFiles files = SecretFiles();
  auto connection = ResolveConnection(database, "prod", files, false);
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"host", "db.internal"}, {"dbname", "shop"}, {"user", "app"}, {"password", "hunter2"}};
  EXPECT_EQ(connection->keywords, expected);
}

// A connection that fails says where it went as libpq resolved it (a DSN expanded, the
// fields after it winning): host:port/dbname as user; neither the connection string nor
// the password.
TEST(ConnectionTest, AFailedConnectionNamesWhereAndAsWhomNeverTheString) {
  ConnectionParams params;
  params.keywords = {
      {"dbname", "host=/nonexistent/socket port=5 dbname=shop user=app password=Tm-Pw-31"},
      {"user", "other"}};
  // A named value: at -O3 GCC 12 takes a temporary's strings for uninitialised (-Werror).
  const ConnectOptions options;
  auto store = Connect(params, options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(store.status().message(),
              ::testing::StartsWith("cannot connect to /nonexistent/socket:5/shop as other: "
                                    "connection to server on socket "
                                    "\"/nonexistent/socket/.s.PGSQL.5\" failed: "));
  EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("Tm-Pw-31")));
  EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("dbname=")));
}

TEST(ConnectionTest, AMissingSecretNamesTheField) {
  plan::DatabaseSpec database;
  database.host = Literal("db.internal");
  database.password = FromSecret("shop-db", "password");
  resource::LoadedFiles none;
  auto connection = ResolveConnection(database, "prod", none, true);
  EXPECT_EQ(connection.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(connection.status().message(),
              HasSubstr("spec.database.passwordFrom.secretKeyRef: Secret shop-db"));
}

TEST(ConnectionTest, LocalSourcesOnlyWhenAllowed) {
  plan::DatabaseSpec database;
  database.dsn.from = plan::ValueSource{plan::ValueSource::Kind::kEnv, "", "", "TM_TEST_DSN", ""};
  resource::LoadedFiles none;
  ::setenv("TM_TEST_DSN", "host=/tmp dbname=x", 1);
  auto allowed = ResolveConnection(database, "default", none, true);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->keywords[0].second, "host=/tmp dbname=x");
  auto refused = ResolveConnection(database, "default", none, false);
  EXPECT_THAT(refused.status().message(), HasSubstr("only with `tidemark run`"));
  ::unsetenv("TM_TEST_DSN");
  EXPECT_THAT(ResolveConnection(database, "default", none, true).status().message(),
              HasSubstr("environment variable TM_TEST_DSN is not set"));
}

TEST(ConnectionTest, NoFieldIsNoConnection) {
  resource::LoadedFiles none;
  auto connection = ResolveConnection(plan::DatabaseSpec{}, "default", none, true);
  EXPECT_EQ(connection.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(connection.status().message(), HasSubstr("spec.database: no connection given"));
}

// What pg_dump gets (apply --backup): libpq's environment variables, the connection string
// expanded and the fields after it winning, as PQconnectdbParams reads them.
TEST(ClientEnvironmentTest, TheConnectionGoesInEnvironmentVariables) {
  ConnectionParams params;
  params.keywords = {{"dbname", "postgresql://app:s3cret@db.internal:6432/shop?sslmode=require"},
                     {"user", "migrator"},
                     {"password", "hunter2"}};
  auto environment = ClientEnvironment(params);
  ASSERT_TRUE(environment.ok()) << environment.status().message();
  const std::map<std::string, std::string> variables(environment->begin(), environment->end());
  const std::map<std::string, std::string> expected = {
      {"PGHOST", "db.internal"}, {"PGPORT", "6432"},     {"PGDATABASE", "shop"},
      {"PGSSLMODE", "require"},  {"PGUSER", "migrator"}, {"PGPASSWORD", "hunter2"}};
  EXPECT_EQ(variables, expected);

  params.keywords = {{"dbname", "host=/cloudsql/p:r:i dbname=shop"}, {"port", "5433"}};
  auto keywords = ClientEnvironment(params);
  ASSERT_TRUE(keywords.ok()) << keywords.status().message();
  const std::map<std::string, std::string> expanded = {
      {"PGHOST", "/cloudsql/p:r:i"}, {"PGDATABASE", "shop"}, {"PGPORT", "5433"}};
  const std::map<std::string, std::string> got(keywords->begin(), keywords->end());
  EXPECT_EQ(got, expanded);

  params.keywords = {{"dbname", "postgresql://app:s3cret@db/shop?nonsense=1"}};
  auto bad = ClientEnvironment(params);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("the connection string does not parse"));
  EXPECT_THAT(bad.status().message(), ::testing::Not(HasSubstr("s3cret")));
}

}  // namespace
}  // namespace tidemark::postgres
