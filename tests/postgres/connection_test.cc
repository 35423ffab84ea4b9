// A plan's database fields as libpq parameters: keywords in order, sources resolved with
// the field named, the password never described. No server needed.
#include "postgres/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

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

TEST(ConnectionTest, FieldsBecomeKeywordsAndThePasswordIsNeverDescribed) {
  plan::DatabaseSpec database;
  database.host = Literal("db.internal");
  database.dbname = Literal("shop");
  database.user = Literal("app");
  database.password = FromSecret("shop-db", "password");
  resource::LoadedFiles files = SecretFiles();
  auto connection = ResolveConnection(database, "prod", files, false);
  ASSERT_TRUE(connection.ok()) << connection.status().message();
  EXPECT_EQ(connection->Describe(), "host=db.internal dbname=shop user=app");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"host", "db.internal"}, {"dbname", "shop"}, {"user", "app"}, {"password", "hunter2"}};
  EXPECT_EQ(connection->keywords, expected);
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

}  // namespace
}  // namespace tidemark::postgres
