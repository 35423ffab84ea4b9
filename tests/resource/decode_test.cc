// Every way a plan document can be wrong gets a message naming the field and the fix.
#include "resource/decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "resource/documents.h"

namespace tidemark::resource {
namespace {

using ::testing::HasSubstr;

using nlohmann::json;

// A YAML plan as plan files reach the decoder: converted to JSON first.
Result<plan::MigrationPlan> Decode(const std::string& yaml) {
  TM_ASSIGN_OR_RETURN(std::vector<json> documents, ParseDocuments(yaml, "plan.yaml"));
  return DecodePlan(documents.at(0), "plan.yaml");
}

std::string ErrorOf(const std::string& yaml) {
  auto result = Decode(yaml);
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  return result.ok() ? "" : result.status().message();
}

const char* kHeader =
    "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: shop}\n";

std::string WithSpec(const std::string& spec) { return std::string(kHeader) + "spec:\n" + spec; }

TEST(DecodeTest, FullSpecRoundTrip) {
  auto plan = Decode(WithSpec(R"(
  database:
    host: /cloudsql/proj:region:inst
    port: "5432"
    dbname: shop
    user: app
    passwordFrom: {secretKeyRef: {name: shop-db, key: password}}
    sslMode: verify-full
    schema: sales
  ledger: {table: django_migrations, historyTable: audit, idType: bigint}
  migrations:
    - app: shop
      name: 0001_initial
      dependencies: [auth.0012_alter_user_first_name_max_length]
      atomic: false
      forward: CREATE TABLE a (id int);
      backward: ""
      python: true
      initial: true
    - app: shop
      name: 0002_squashed
      phase: PostDeploy
      replaces: [shop.0001_initial]
      forward: SELECT 1
  migrationsFrom: [{configMapRef: {name: shop-migrations-0}}]
  targets: [{app: shop, migration: zero}]
  policy: {revert: Allow, lockTimeout: 1m30s, statementTimeout: 250ms, lint: Block,
           checksum: Ignore, unknownApplied: Block, pythonSteps: RecordOnly}
  fake: [shop.0001_initial]
  fakeInitial: true
  dryRun: true
  suspend: false
  resolve: [{migration: shop.0001_initial, state: unapplied}]
)"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->meta.ns, "default");
  EXPECT_EQ(*plan->database.host.literal, "/cloudsql/proj:region:inst");
  EXPECT_EQ(plan->database.password.from->secret_name, "shop-db");
  EXPECT_EQ(plan->database.schema, "sales");
  EXPECT_EQ(plan->ledger.history_table, "audit");
  EXPECT_EQ(plan->ledger.id_type, plan::LedgerIdType::kBigint);
  ASSERT_EQ(plan->migrations.size(), 2u);
  const plan::Step& first = plan->migrations[0];
  EXPECT_EQ(first.id.ToString(), "shop.0001_initial");
  EXPECT_EQ(first.dependencies[0].app, "auth");
  EXPECT_FALSE(first.atomic);
  EXPECT_TRUE(first.python);
  EXPECT_EQ(first.initial, std::optional<bool>(true));
  EXPECT_FALSE(plan->migrations[1].initial.has_value());
  EXPECT_EQ(first.phase, plan::Phase::kPreDeploy);  // the default
  EXPECT_EQ(plan->migrations[1].phase, plan::Phase::kPostDeploy);
  ASSERT_TRUE(first.backward.has_value());
  EXPECT_EQ(*first.backward, "");
  EXPECT_FALSE(plan->migrations[1].backward.has_value());  // absent: irreversible
  EXPECT_EQ(plan->migrations[1].replaces[0].name, "0001_initial");
  EXPECT_EQ(plan->config_map_names[0], "shop-migrations-0");
  EXPECT_EQ(plan->targets[0].migration, "zero");
  EXPECT_EQ(plan->policy.revert, plan::RevertPolicy::kAllow);
  EXPECT_EQ(plan->policy.lock_timeout.count(), 90'000);
  EXPECT_EQ(plan->policy.statement_timeout.count(), 250);
  EXPECT_EQ(plan->policy.lint, plan::LintPolicy::kBlock);
  EXPECT_EQ(plan->policy.python_steps, plan::PythonStepsPolicy::kRecordOnly);
  EXPECT_TRUE(plan->fake_initial);
  EXPECT_TRUE(plan->dry_run);
  EXPECT_EQ(plan->resolve[0].state, plan::ResolvedState::kUnapplied);
}

TEST(DecodeTest, DefaultsFollowTheSpec) {
  auto plan = Decode(WithSpec("  migrations: []\n"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->ledger.table, "django_migrations");
  EXPECT_EQ(plan->ledger.history_table, "tidemark_history");
  EXPECT_EQ(plan->ledger.id_type, plan::LedgerIdType::kInteger);
  EXPECT_EQ(plan->database.schema, "public");
  EXPECT_EQ(plan->policy.revert, plan::RevertPolicy::kDeny);
  EXPECT_EQ(plan->policy.lock_timeout.count(), 5'000);
  EXPECT_EQ(plan->policy.statement_timeout.count(), 15 * 60'000);
  EXPECT_EQ(plan->policy.lint, plan::LintPolicy::kWarn);
  EXPECT_EQ(plan->policy.checksum, plan::ChecksumPolicy::kBlock);
  EXPECT_EQ(plan->policy.unknown_applied, plan::UnknownAppliedPolicy::kWarn);
  EXPECT_EQ(plan->policy.python_steps, plan::PythonStepsPolicy::kBlock);
}

TEST(DecodeTest, ABackfillStepHasItsPacing) {
  auto plan = Decode(
      WithSpec("  migrations:\n"
               "    - {app: a, name: b, forward: SELECT 1}\n"
               "    - {app: a, name: c, kind: Backfill, forward: 'DELETE FROM t'}\n"
               "    - {app: a, name: d, kind: Backfill, forward: 'DELETE FROM t', batchDelay: 2s,\n"
               "       maxBatches: 500}\n"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->migrations[0].kind, plan::StepKind::kSql);
  EXPECT_EQ(plan->migrations[1].kind, plan::StepKind::kBackfill);
  EXPECT_EQ(plan->migrations[1].backfill.batch_delay.count(), 100);  // the default
  EXPECT_EQ(plan->migrations[1].backfill.max_batches, 0);            // no limit
  EXPECT_EQ(plan->migrations[2].backfill.batch_delay.count(), 2'000);
  EXPECT_EQ(plan->migrations[2].backfill.max_batches, 500);
  // As the API server sends it: a number, and the CRD's defaults filled in.
  auto object =
      DecodePlan(json::parse(R"({"apiVersion": "tidemark.dev/v1alpha1", "kind": "MigrationPlan",
        "metadata": {"name": "shop"}, "spec": {"migrations": [{"app": "a", "name": "b",
        "kind": "Backfill", "forward": "DELETE FROM t", "maxBatches": 7, "atomic": true,
        "python": false}]}})"),
                 "api");
  ASSERT_TRUE(object.ok()) << object.status().message();
  EXPECT_EQ(object->migrations[0].backfill.max_batches, 7);
}

TEST(DecodeTest, UnknownFieldSuggestsTheNearestName) {
  EXPECT_THAT(ErrorOf(WithSpec("  polcy: {revert: Allow}\n")),
              HasSubstr("spec.polcy: unknown field; did you mean \"policy\"?"));
  EXPECT_THAT(ErrorOf(WithSpec("  migrations: [{app: a, name: b, fowrard: x}]\n")),
              HasSubstr("spec.migrations[0].fowrard: unknown field; did you mean \"forward\"?"));
}

TEST(DecodeTest, PasswordMustComeFromASource) {
  EXPECT_THAT(ErrorOf(WithSpec("  database: {password: hunter2}\n")),
              HasSubstr("spec.database.password: unknown field; did you mean \"passwordFrom\"?"));
}

TEST(DecodeTest, MissingAndBadStepNames) {
  const std::string error =
      ErrorOf(WithSpec("  migrations:\n    - {name: 0001}\n    - {app: shop}\n"
                       "    - {app: 'bad app', name: 'x.y'}\n"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].app: required"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[1].name: required"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[2].app: \"bad app\" is not an app label"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[2].name: \"x.y\" is not a migration name"));
}

TEST(DecodeTest, IrreversibleReasonBelongsToAStepWithoutBackward) {
  auto plan = Decode(WithSpec(
      "  migrations:\n    - {app: a, name: \"0001\", forward: x, irreversibleReason: 'reverse "
      "SQL fails'}\n"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->migrations[0].irreversible_reason, "reverse SQL fails");
  EXPECT_THAT(ErrorOf(WithSpec("  migrations: [{app: a, name: b, backward: '', "
                               "irreversibleReason: x}]\n")),
              HasSubstr("spec.migrations[0].irreversibleReason: a step with backward SQL is "
                        "reversible"));
  EXPECT_THAT(ErrorOf(WithSpec("  migrations: [{app: a, name: b, irreversibleReason: " +
                               std::string(1025, 'x') + "}]\n")),
              HasSubstr("spec.migrations[0].irreversibleReason: at most 1024 bytes"));
}

TEST(DecodeTest, WrongTypes) {
  const std::string error = ErrorOf(
      WithSpec("  migrations: {app: a}\n  dryRun: maybe\n  targets: [{app: a, migration: [1]}]\n"));
  EXPECT_THAT(error, HasSubstr("spec.migrations: must be a list"));
  EXPECT_THAT(error, HasSubstr("spec.dryRun: must be true or false"));
  EXPECT_THAT(error, HasSubstr("spec.targets[0].migration: must be a string"));
}

TEST(DecodeTest, PhaseIsPreDeployOrPostDeploy) {
  EXPECT_THAT(ErrorOf(WithSpec("  migrations: [{app: a, name: b, phase: Post}]\n")),
              HasSubstr("spec.migrations[0].phase: must be one of PreDeploy, PostDeploy (got "
                        "\"Post\")"));
}

TEST(DecodeTest, LintAllowNamesARuleAndAReason) {
  auto plan = Decode(WithSpec(
      "  migrations:\n    - {app: a, name: b, lintAllow: [{rule: ban-drop-column, reason: 'no "
      "reader left since 2.3'}, {rule: renaming-table, reason: x}]}\n"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->migrations[0].lint_allow.size(), 2u);
  EXPECT_EQ(plan->migrations[0].lint_allow[0].rule, "ban-drop-column");
  EXPECT_EQ(plan->migrations[0].lint_allow[0].reason, "no reader left since 2.3");
  EXPECT_EQ(plan->migrations[0].lint_allow[1].rule, "renaming-table");

  const std::string error = ErrorOf(WithSpec(
      "  migrations:\n    - {app: a, name: b, lintAllow: [{rule: ban-drop-column}, {reason: x}, "
      "{rule: 'Drop Column', reason: x}, {rule: ban-drop-table, reason: '  '}, "
      "{rule: ban-drop-column, reason: y}, {rule: ban-drop-table, reson: z}, no]}\n"
      "    - {app: a, name: c, lintAllow: {rule: ban-drop-table}}\n"
      "    - {app: a, name: d, lintAllow: [{rule: ban-drop-table, reason: " +
      std::string(1025, 'x') + "}]}\n"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[0].reason: required: why the "
                               "finding is safe here, for the reviewer"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[1].rule: required: the lint rule "
                               "accepted, e.g. require-concurrent-index-creation"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[2].rule: \"Drop Column\" is not a "
                               "rule name"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[3].reason: must say why"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[4].rule: accepts ban-drop-column "
                               "again (already at spec.migrations[0].lintAllow[0])"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[5].reson: unknown field; did you mean "
                               "\"reason\"?"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].lintAllow[6]: must be an object"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[1].lintAllow: must be a list"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[2].lintAllow[0].reason: at most 1024 bytes"));
}

TEST(DecodeTest, BadDependencyName) {
  EXPECT_THAT(ErrorOf(WithSpec("  migrations: [{app: a, name: b, dependencies: [auth0001]}]\n")),
              HasSubstr("spec.migrations[0].dependencies[0]: \"auth0001\" is not app.migration"));
}

TEST(DecodeTest, EnumsAndDurations) {
  const std::string error =
      ErrorOf(WithSpec("  policy: {revert: Maybe, lockTimeout: 5 seconds}\n"));
  EXPECT_THAT(error, HasSubstr("spec.policy.revert: must be one of Deny, Allow (got \"Maybe\")"));
  EXPECT_THAT(error, HasSubstr("spec.policy.lockTimeout: \"5 seconds\" is not a duration"));
  EXPECT_THAT(ErrorOf(WithSpec("  ledger: {idType: BigAutoField}\n")),
              HasSubstr("spec.ledger.idType: must be one of integer, bigint, smallint (got "
                        "\"BigAutoField\")"));
}

TEST(DecodeTest, ValueSourceNeedsExactlyOneKind) {
  EXPECT_THAT(ErrorOf(WithSpec("  database: {dsnFrom: {env: A, file: /b}}\n")),
              HasSubstr("spec.database.dsnFrom: set exactly one of secretKeyRef, env, file"));
  EXPECT_THAT(ErrorOf(WithSpec("  database: {dsnFrom: {secretKeyRef: {name: x}}}\n")),
              HasSubstr("spec.database.dsnFrom.secretKeyRef.key: required"));
  EXPECT_THAT(ErrorOf(WithSpec("  database: {dsn: a, dsnFrom: {env: A}}\n")),
              HasSubstr("set either dsn or dsnFrom, not both"));
}

TEST(DecodeTest, RunnerWithEveryField) {
  auto plan = Decode(WithSpec(R"(
  policy: {pythonSteps: Run}
  runner:
    command: [python3, manage.py, tidemark_step]
    workingDir: /srv/shop
    env:
      - {name: DJANGO_SETTINGS_MODULE, value: shop.settings}
      - {name: DATABASE_URL, valueFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
    timeout: 30m
    postMigrate: false
    jobTemplate: {spec: {template: {spec: {containers: [{name: app, image: "shop:1.4"}]}}}}
)"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->policy.python_steps, plan::PythonStepsPolicy::kRun);
  ASSERT_TRUE(plan->runner);
  const plan::RunnerSpec& runner = *plan->runner;
  EXPECT_EQ(runner.command, (std::vector<std::string>{"python3", "manage.py", "tidemark_step"}));
  EXPECT_EQ(runner.working_dir, "/srv/shop");
  ASSERT_EQ(runner.env.size(), 2u);
  EXPECT_EQ(runner.env[0].name, "DJANGO_SETTINGS_MODULE");
  EXPECT_EQ(runner.env[0].value.literal, "shop.settings");
  ASSERT_TRUE(runner.env[1].value.from);
  EXPECT_EQ(runner.env[1].value.from->secret_name, "shop-db");
  EXPECT_EQ(runner.timeout, std::chrono::minutes(30));
  EXPECT_FALSE(runner.post_migrate);
  EXPECT_THAT(runner.job_template_json, HasSubstr("shop:1.4"));
}

TEST(DecodeTest, RunnerDefaultsAndMistakes) {
  auto plan = Decode(WithSpec("  policy: {pythonSteps: Run}\n  runner: {command: [true]}\n"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->runner->timeout, std::chrono::hours(1));
  EXPECT_TRUE(plan->runner->post_migrate);
  EXPECT_THAT(ErrorOf(WithSpec("  policy: {pythonSteps: Run}\n")),
              HasSubstr("spec.runner: required with policy.pythonSteps: Run"));
  EXPECT_THAT(ErrorOf(WithSpec("  runner: {}\n")),
              HasSubstr("spec.runner: set command (tidemark run and apply), jobTemplate"));
  const std::string error = ErrorOf(WithSpec(R"(
  runner:
    command: []
    timeout: soon
    env:
      - {name: 1BAD, value: x}
      - {name: A, value: x, valueFrom: {env: B}}
      - {name: B}
      - {name: C, valueFrom: {env: X, file: /y}}
      - {name: C, value: y}
    jobTemplate: {spec: {}}
)"));
  EXPECT_THAT(error, HasSubstr("spec.runner.command: must name a program"));
  EXPECT_THAT(error, HasSubstr("spec.runner.timeout: \"soon\" is not a positive duration"));
  EXPECT_THAT(error, HasSubstr("spec.runner.env[0].name: \"1BAD\" is not a variable name"));
  EXPECT_THAT(error, HasSubstr("spec.runner.env[1]: set either value or valueFrom, not both"));
  EXPECT_THAT(error, HasSubstr("spec.runner.env[2].value: required"));
  EXPECT_THAT(
      error, HasSubstr("spec.runner.env[3].valueFrom: set exactly one of secretKeyRef, env, file"));
  EXPECT_THAT(error, HasSubstr("spec.runner.env[4].name: \"C\" is set twice"));
  EXPECT_THAT(error, HasSubstr("spec.runner.jobTemplate.spec.template.spec.containers: required"));
}

TEST(DecodeTest, RolloutNamesTheAppsWorkloads) {
  auto plan = Decode(WithSpec(R"(
  rollout:
    workloads:
      - {kind: Deployment, name: web}
      - {kind: StatefulSet, name: worker.eu}
)"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_TRUE(plan->rollout);
  EXPECT_EQ(plan->rollout->workloads,
            (std::vector<plan::WorkloadRef>{{plan::WorkloadKind::kDeployment, "web"},
                                            {plan::WorkloadKind::kStatefulSet, "worker.eu"}}));
  auto without = Decode(WithSpec("  dryRun: false\n"));
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->rollout);
}

TEST(DecodeTest, RolloutMistakesNameTheField) {
  EXPECT_THAT(ErrorOf(WithSpec("  rollout: {}\n")),
              HasSubstr("spec.rollout.workloads: required: the app's Deployments or StatefulSets"));
  EXPECT_THAT(ErrorOf(WithSpec("  rollout: {workloads: []}\n")),
              HasSubstr("spec.rollout.workloads: required"));
  EXPECT_THAT(ErrorOf(WithSpec("  rollout: {workload: [{kind: Deployment, name: web}]}\n")),
              HasSubstr("spec.rollout.workload"));
  const std::string error = ErrorOf(WithSpec(R"(
  rollout:
    workloads:
      - {kind: DaemonSet, name: web}
      - {name: web}
      - {kind: Deployment}
      - {kind: Deployment, name: Web_1}
      - {kind: StatefulSet, name: db}
      - {kind: StatefulSet, name: db}
      - {kind: Deployment, name: db, replicas: 2}
)"));
  EXPECT_THAT(error, HasSubstr("spec.rollout.workloads[0].kind"));
  EXPECT_THAT(error, HasSubstr("Deployment, StatefulSet"));
  EXPECT_THAT(error,
              HasSubstr("spec.rollout.workloads[1].kind: required: Deployment or StatefulSet"));
  EXPECT_THAT(error, HasSubstr("spec.rollout.workloads[2].name: required"));
  EXPECT_THAT(error,
              HasSubstr("spec.rollout.workloads[3].name: \"Web_1\" is not a Kubernetes name"));
  EXPECT_THAT(error, HasSubstr("spec.rollout.workloads[5]: StatefulSet db is named twice"));
  EXPECT_THAT(error, HasSubstr("spec.rollout.workloads[6].replicas"));
  std::string many = "  rollout:\n    workloads:\n";
  for (int i = 0; i < 65; ++i)
    many += "      - {kind: Deployment, name: w" + std::to_string(i) + "}\n";
  EXPECT_THAT(ErrorOf(WithSpec(many)),
              HasSubstr("spec.rollout.workloads: 65 workloads, more than the 64 a plan may name"));
}

TEST(DecodeTest, HeaderErrors) {
  EXPECT_THAT(ErrorOf("apiVersion: v1\nkind: MigrationPlan\nmetadata: {name: a}\nspec: {}\n"),
              HasSubstr("apiVersion: must be tidemark.dev/v1alpha1"));
  EXPECT_THAT(ErrorOf("apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nspec: {}\n"),
              HasSubstr("metadata.name: required"));
  EXPECT_THAT(ErrorOf(std::string(kHeader)), HasSubstr("spec: required"));
  EXPECT_THAT(ErrorOf("apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\n"
                      "metadata: {name: Shop_1}\nspec: {}\n"),
              HasSubstr("is not a Kubernetes name"));
}

TEST(DecodeTest, ScalarsKeepTheirTextFromYaml) {
  auto plan = Decode(WithSpec(R"(
  database: {port: 5432}
  migrations:
    - {app: shop, name: 0001, atomic: "true", forward: 1}
    - {app: shop, name: 0002_b, atomic: False, backward:}
    - {app: shop, name: 0003_c, backward: ~, forward: null}
  dryRun: True
)"));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(*plan->database.port.literal, "5432");
  EXPECT_EQ(plan->migrations[0].id.name, "0001");
  EXPECT_TRUE(plan->migrations[0].atomic);
  EXPECT_EQ(plan->migrations[0].forward, "1");
  EXPECT_FALSE(plan->migrations[1].atomic);
  EXPECT_FALSE(plan->migrations[1].backward.has_value());  // no value: irreversible
  EXPECT_FALSE(plan->migrations[2].backward.has_value());
  EXPECT_EQ(plan->migrations[2].forward, "");
  EXPECT_TRUE(plan->dry_run);
}

TEST(DecodeTest, ApiObjectWithJsonNumbersAndBooleans) {
  const json object = {
      {"apiVersion", kApiVersion},
      {"kind", kKind},
      {"metadata", {{"name", "shop"}, {"namespace", "prod"}, {"uid", "u-1"}, {"generation", 7}}},
      {"spec",
       {{"database", {{"host", "db"}, {"port", 5432}}},
        {"migrations",
         {{{"app", "shop"}, {"name", "0001_initial"}, {"atomic", false}, {"backward", ""}},
          {{"app", "shop"}, {"name", "0002_b"}, {"initial", true}, {"backward", nullptr}}}},
        {"suspend", true}}},
      {"status", {{"anything", {1, 2, 3}}}}};
  auto plan = DecodePlan(object, "MigrationPlan prod/shop");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->meta.ns, "prod");
  EXPECT_EQ(plan->meta.uid, "u-1");
  EXPECT_EQ(plan->meta.generation, 7);
  EXPECT_EQ(*plan->database.port.literal, "5432");
  EXPECT_FALSE(plan->migrations[0].atomic);
  EXPECT_EQ(plan->migrations[0].backward, std::optional<std::string>(""));
  EXPECT_EQ(plan->migrations[1].initial, std::optional<bool>(true));
  EXPECT_FALSE(plan->migrations[1].backward.has_value());
  EXPECT_TRUE(plan->suspend);

  json wrong = object;
  wrong["spec"]["dryRun"] = 1;
  wrong["spec"]["migrations"][0]["name"] = nullptr;
  const std::string error = DecodePlan(wrong, "MigrationPlan prod/shop").status().message();
  EXPECT_THAT(error, HasSubstr("spec.dryRun: must be true or false"));
  EXPECT_THAT(error, HasSubstr("spec.migrations[0].name: must be a string"));
}

TEST(DecodeTest, StepsFromAConfigMapKey) {
  auto list = ParseYamlDocument("- {app: shop, name: 0002_b}\n- {app: shop}\n", "cm key a.yaml");
  ASSERT_TRUE(list.ok()) << list.status().message();
  EXPECT_THAT(DecodeSteps(*list, "cm key a.yaml").status().message(),
              HasSubstr("cm key a.yaml[1].name: required"));
  EXPECT_THAT(DecodeSteps(json::object(), "cm key b.yaml").status().message(),
              HasSubstr("cm key b.yaml: must be a list"));
}

TEST(DecodeTest, DeepNestingIsRefusedWithoutACrash) {
  std::string yaml = "a: ";
  for (int i = 0; i < 100; ++i) yaml += "[";
  for (int i = 0; i < 100; ++i) yaml += "]";
  auto documents = ParseDocuments(yaml, "deep.yaml");
  EXPECT_EQ(documents.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(documents.status().message(), HasSubstr("deep.yaml: nested deeper than 64 levels"));
  // yaml-cpp's own parser stops far deeper nesting before our conversion sees it; its
  // "bad file" is said as our own limit.
  EXPECT_THAT(ParseDocuments(std::string(100'000, '['), "deeper.yaml").status().message(),
              HasSubstr("deeper.yaml: nested deeper than 64 levels"));
  const std::string deep_json =
      "{\"a\": " + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  EXPECT_THAT(ParseDocuments(deep_json, "deep.json").status().message(),
              HasSubstr("deep.json: nested deeper than 64 levels"));
  EXPECT_THAT(ParseYamlDocument("- " + std::string(70, '[') + std::string(70, ']'), "cm key")
                  .status()
                  .message(),
              HasSubstr("cm key: nested deeper than 64 levels"));
}

TEST(DecodeTest, NestingUpToTheLimitIsFine) {
  std::string yaml;
  for (int i = 1; i < kMaxDepth; ++i) yaml += "[";
  for (int i = 1; i < kMaxDepth; ++i) yaml += "]";
  EXPECT_TRUE(ParseDocuments("a: " + yaml, "ok.yaml").ok());
  EXPECT_TRUE(ParseDocuments("{\"a\": " + yaml + "}", "ok.json").ok());
}

TEST(DecodeTest, AliasesOfAliasesCannotBlowUp) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += (j ? ", " : "") + prev;
    yaml += "]\n";
  }
  EXPECT_THAT(ParseDocuments(yaml, "laughs.yaml").status().message(),
              HasSubstr("laughs.yaml: expands into far more values"));
  // An alias that repeats a block is fine.
  auto plans = ParseDocuments("db: &db {host: h, dbname: d}\nother: *db\n", "ok.yaml");
  ASSERT_TRUE(plans.ok()) << plans.status().message();
  EXPECT_EQ((*plans)[0]["other"]["host"], "h");
}

TEST(DecodeTest, Durations) {
  std::chrono::milliseconds d{};
  EXPECT_TRUE(ParseDuration("1h30m", &d));
  EXPECT_EQ(d.count(), 5'400'000);
  EXPECT_TRUE(ParseDuration("0", &d));
  EXPECT_EQ(d.count(), 0);
  EXPECT_TRUE(ParseDuration("1.5s", &d));
  EXPECT_EQ(d.count(), 1500);
  EXPECT_FALSE(ParseDuration("5", &d));
  EXPECT_FALSE(ParseDuration("s", &d));
  EXPECT_FALSE(ParseDuration("5s ", &d));
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(900'000)), "15m");
}

}  // namespace
}  // namespace tidemark::resource
