// Plan files: many documents, folders, ConfigMaps with steps, Secrets, value sources.
// (The database fields as libpq parameters: tests/postgres/connection_test.cc.)
#include "resource/objects.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "plan/graph.h"

namespace tidemark::resource {
namespace {

using ::testing::HasSubstr;

const char* kPlanAndObjects = R"yaml(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: shop, namespace: prod}
spec:
  database:
    host: db.internal
    dbname: shop
    user: app
    passwordFrom: {secretKeyRef: {name: shop-db, key: password}}
  migrationsFrom: [{configMapRef: {name: shop-steps}}]
  migrations:
    - {app: shop, name: 0001_initial, forward: "CREATE TABLE a (id int)"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shop-steps, namespace: prod}
data:
  b.yaml: |
    - {app: shop, name: 0003_c, dependencies: [shop.0002_b], forward: "SELECT 3"}
  a.yaml: |
    - {app: shop, name: 0002_b, dependencies: [shop.0001_initial], forward: "SELECT 2"}
  README: not steps
---
apiVersion: v1
kind: Secret
metadata: {name: shop-db, namespace: prod}
data: {password: aHVudGVyMg==}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
)yaml";

TEST(ObjectsTest, PlanWithConfigMapAndSecret) {
  LoadedFiles files;
  ASSERT_TRUE(files.AddText(kPlanAndObjects, "all.yaml").ok());
  ASSERT_EQ(files.plans.size(), 1u);
  plan::MigrationPlan plan = files.plans[0];
  Status completed = CompletePlan(&plan, files);
  ASSERT_TRUE(completed.ok()) << completed.message();
  ASSERT_EQ(plan.migrations.size(), 3u);
  EXPECT_EQ(plan.migrations[1].id.name, "0002_b");  // keys in name order: a.yaml first
  EXPECT_EQ(plan.migrations[1].origin, "ConfigMap shop-steps key a.yaml[0]");
  auto password =
      ResolveValue(plan.database.password, "spec.database.password", plan.meta.ns, files, true);
  ASSERT_TRUE(password.ok()) << password.status().message();
  EXPECT_EQ(*password, "hunter2");
}

TEST(ObjectsTest, MissingConfigMapAndSecretAreNamed) {
  LoadedFiles files;
  std::string text = kPlanAndObjects;
  text = text.substr(0, text.find("---"));
  ASSERT_TRUE(files.AddText(text, "plan.yaml").ok());
  plan::MigrationPlan plan = files.plans[0];
  Status completed = CompletePlan(&plan, files);
  EXPECT_THAT(completed.message(), HasSubstr("spec.migrationsFrom: ConfigMap shop-steps"));
  auto password =
      ResolveValue(plan.database.password, "spec.database.password", plan.meta.ns, files, true);
  EXPECT_EQ(password.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(password.status().message(),
              HasSubstr("spec.database.passwordFrom.secretKeyRef: Secret shop-db"));
}

TEST(ObjectsTest, DuplicateStepAcrossInlineAndConfigMap) {
  LoadedFiles files;
  std::string text = kPlanAndObjects;
  const std::string from = "{app: shop, name: 0002_b,";
  text.replace(text.find(from), from.size(), "{app: shop, name: 0001_initial,");
  ASSERT_TRUE(files.AddText(text, "all.yaml").ok());
  plan::MigrationPlan plan = files.plans[0];
  ASSERT_TRUE(CompletePlan(&plan, files).ok());
  auto problem = plan::Validate(plan);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->message,
              HasSubstr("shop.0001_initial is defined twice (spec.migrations[0] and ConfigMap "
                        "shop-steps key a.yaml[0])"));
}

TEST(ObjectsTest, LocalSourcesOnlyWhenAllowed) {
  plan::Value dsn;
  dsn.from = plan::ValueSource{plan::ValueSource::Kind::kEnv, "", "", "TM_TEST_DSN", ""};
  LoadedFiles none;
  ::setenv("TM_TEST_DSN", "host=/tmp dbname=x", 1);
  auto allowed = ResolveValue(dsn, "spec.database.dsn", "default", none, true);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(*allowed, "host=/tmp dbname=x");
  auto refused = ResolveValue(dsn, "spec.database.dsn", "default", none, false);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("spec.database.dsnFrom: env and file sources work only with `tidemark run`"));
  ::unsetenv("TM_TEST_DSN");
  EXPECT_THAT(ResolveValue(dsn, "spec.database.dsn", "default", none, true).status().message(),
              HasSubstr("spec.database.dsnFrom.env: environment variable TM_TEST_DSN is not set"));
}

// A device named by mistake is not read past the bound: the message says what was named.
TEST(ObjectsTest, FilesAreReadOnlyUpToTheirBound) {
  plan::Value password;
  password.from = plan::ValueSource{plan::ValueSource::Kind::kFile, "", "", "", "/dev/zero"};
  LoadedFiles none;
  auto endless = ResolveValue(password, "spec.database.password", "default", none, true);
  EXPECT_EQ(endless.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(endless.status().message(),
            "spec.database.passwordFrom.file: /dev/zero holds more than the 65,536 bytes such a "
            "file may; point it at the file that holds only the value");
  password.from->file = "/nonexistent/password";
  EXPECT_EQ(
      ResolveValue(password, "spec.database.password", "default", none, true).status().message(),
      "spec.database.passwordFrom.file: cannot read /nonexistent/password: No such file or "
      "directory; check the path and its permissions");
  EXPECT_EQ(LoadFiles({"/dev/zero"}).status().message(),
            "/dev/zero holds more than the 4,194,304 bytes a plan file may; name the plan files "
            "themselves");
}

TEST(ObjectsTest, MalformedYamlNamesLineAndColumn) {
  LoadedFiles files;
  Status status = files.AddText("kind: MigrationPlan\nspec: [unclosed\n", "broken.yaml");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("broken.yaml: not valid YAML at line"));
}

TEST(ObjectsTest, DeepDocumentIsNamed) {
  LoadedFiles files;
  const std::string deep = "a: " + std::string(80, '[') + std::string(80, ']') + "\n";
  Status status = files.AddText("kind: ConfigMap\n---\n" + deep, "deep.yaml");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("deep.yaml (document 2): nested deeper than 64 levels"));
}

TEST(ObjectsTest, FolderIsReadInNameOrder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tm-objects-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "b.yaml") << kPlanAndObjects;
  std::ofstream(dir / "notes.txt") << "ignored";
  std::ofstream(dir / "a.json")
      << R"({"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
            "metadata": {"name": "first"}, "spec": {"migrations": []}})";
  auto loaded = LoadFiles({dir.string()});
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_EQ(loaded->plans.size(), 2u);
  EXPECT_EQ(loaded->plans[0].meta.name, "first");
  EXPECT_EQ(loaded->plans[1].meta.name, "shop");
  EXPECT_THAT(LoadFiles({(dir / "missing.yaml").string()}).status().message(),
              HasSubstr("no such file or folder"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tidemark::resource
