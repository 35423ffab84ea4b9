// The everyday flows: apply, re-apply, revert, zero, fake, fake-initial, dry run, output.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ApplyTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    // The shipped example: three apps, a ConfigMap of steps, a non-atomic step.
    dir_example_ = SourcePath("examples/shop");
  }
  ProcessResult Example(std::vector<std::string> args) {
    std::vector<std::string> argv = {BuiltProgram("tidemark")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-f", dir_example_, "--database", dsn_});
    return RunProcess(argv);
  }
  std::string dir_example_;
};

const std::vector<std::string> kAllExampleSteps = {
    "accounts.0001_initial",  "accounts.0002_customer_phone",
    "catalog.0001_initial",   "catalog.0002_product_search_index",
    "orders.0001_initial",    "orders.0002_order_status",
    "orders.0003_order_total"};

TEST_F(ApplyTest, ApplyThenReapplyIsANoOp) {
  ProcessResult first = Example({"apply"});
  ASSERT_EQ(first.exit_code, 0) << Describe(first);
  EXPECT_THAT(first.out, HasSubstr("[7/7] Applying orders.0003_order_total... OK"));
  EXPECT_EQ(LedgerRows(), kAllExampleSteps);
  EXPECT_TRUE(TableExists("orders_line"));
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                  "'catalog_product_title_idx'::regclass"),
            "t");
  // Django's own DDL for the ledger.
  EXPECT_EQ(Value("SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY "
                  "ordinal_position) FROM information_schema.columns WHERE table_name = "
                  "'django_migrations'"),
            "id integer, app character varying, name character varying, applied timestamp "
            "with time zone");
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE action = 'apply' AND "
                  "length(checksum) = 64 AND duration_ms >= 0 AND plan_name = 'shop'"),
            "7");

  // The non-atomic step also left its committed "start" marker.
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE action = 'start'"), "1");

  const std::string history_before = Value("SELECT count(*) FROM tidemark_history");
  ProcessResult again = Example({"apply"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No migrations to apply."));
  EXPECT_EQ(Value("SELECT count(*) FROM django_migrations"), "7");
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history"), history_before);

  ProcessResult check = Example({"check"});
  EXPECT_EQ(check.exit_code, 0) << Describe(check);
}

TEST_F(ApplyTest, StatusPlanAndCheckBeforeApplying) {
  ProcessResult status = Example({"status"});
  ASSERT_EQ(status.exit_code, 0) << Describe(status);
  EXPECT_THAT(status.out, HasSubstr("accounts\n [ ] 0001_initial\n [ ] 0002_customer_phone\n"));
  EXPECT_FALSE(TableExists("django_migrations")) << "read-only commands never create the ledger";

  ProcessResult plan = Example({"plan"});
  EXPECT_THAT(plan.out, HasSubstr("Planned operations:\n  apply accounts.0001_initial\n"));

  ProcessResult check = Example({"check"});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_THAT(check.out, HasSubstr("default/shop: 7 pending"));

  ProcessResult json = Example({"status", "-o", "json"});
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["steps"].size(), 7u);
  EXPECT_EQ(doc["status"]["summary"]["pending"], 7);
}

TEST_F(ApplyTest, RevertNeedsPermission) {
  ASSERT_EQ(Example({"apply"}).exit_code, 0);
  ProcessResult denied = Example({"apply", "--target", "orders.0001_initial"});
  EXPECT_EQ(denied.exit_code, 1) << Describe(denied);
  EXPECT_THAT(denied.err, HasSubstr("RevertDenied: the plan would revert 2 applied steps"));
  EXPECT_EQ(LedgerRows().size(), 7u);

  ProcessResult allowed = Example({"apply", "--target", "orders.0001_initial", "--allow-revert"});
  ASSERT_EQ(allowed.exit_code, 0) << Describe(allowed);
  EXPECT_THAT(allowed.out, HasSubstr("Reverting orders.0003_order_total... OK"));
  EXPECT_EQ(Value("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                  "'orders_order' AND column_name IN ('status', 'total_cents')"),
            "0");
  EXPECT_EQ(LedgerRows().size(), 5u);
  EXPECT_EQ(Value("SELECT string_agg(name, ',' ORDER BY id) FROM tidemark_history WHERE "
                  "action = 'revert'"),
            "0003_order_total,0002_order_status");
}

TEST_F(ApplyTest, ZeroRevertsAnApp) {
  ASSERT_EQ(Example({"apply"}).exit_code, 0);
  ProcessResult zero = Example({"apply", "--target", "orders.zero", "--allow-revert"});
  ASSERT_EQ(zero.exit_code, 0) << Describe(zero);
  EXPECT_FALSE(TableExists("orders_order"));
  EXPECT_TRUE(TableExists("accounts_customer"));
  EXPECT_EQ(LedgerRows().size(), 4u);
}

TEST_F(ApplyTest, CommandLineTargetRevertsDependentsAsMigrateDoes) {
  ASSERT_EQ(Example({"apply"}).exit_code, 0);
  // orders needs accounts: `manage.py migrate accounts zero` unapplies orders first.
  ProcessResult plan = Example({"plan", "--target", "accounts.zero"});
  ASSERT_EQ(plan.exit_code, 0) << Describe(plan);
  EXPECT_THAT(plan.out, HasSubstr("Planned operations:\n  revert orders.0003_order_total\n"));
  ProcessResult zero = Example({"apply", "--target", "accounts.zero", "--allow-revert"});
  ASSERT_EQ(zero.exit_code, 0) << Describe(zero);
  EXPECT_THAT(zero.out, HasSubstr("[1/5] Reverting orders.0003_order_total... OK"));
  EXPECT_THAT(LedgerRows(),
              ElementsAre("catalog.0001_initial", "catalog.0002_product_search_index"));
  EXPECT_FALSE(TableExists("orders_order"));
  EXPECT_FALSE(TableExists("accounts_customer"));
}

TEST_F(ApplyTest, TargetConflictInThePlanNamesTheTargetsToAdd) {
  WriteSteps(
      "    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n"
      "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"SELECT 2\"}\n"
      "    - {app: b, name: \"0001\", dependencies: [a.0002], forward: \"SELECT 3\"}\n",
      "  targets: [{app: a, migration: \"0001\"}]\n");
  ProcessResult conflict = Tidemark({"apply"});
  EXPECT_EQ(conflict.exit_code, 2) << Describe(conflict);
  EXPECT_THAT(conflict.err,
              HasSubstr("TargetConflict: spec.targets[0] wants app a at 0001, but b.0001 needs "
                        "a.0002; add {app: b, migration: zero} to spec.targets (what `manage.py "
                        "migrate a 0001` reverts), or move the target of a"));
  EXPECT_THAT(LedgerRows(), IsEmpty());
}

TEST_F(ApplyTest, FakeRecordsWithoutRunning) {
  ProcessResult fake = Example({"apply", "--fake", "--target", "accounts.0001_initial", "--target",
                                "catalog.zero", "--target", "orders.zero"});
  ASSERT_EQ(fake.exit_code, 0) << Describe(fake);
  EXPECT_THAT(fake.out, HasSubstr("Faking accounts.0001_initial... OK"));
  EXPECT_FALSE(TableExists("accounts_customer"));
  EXPECT_THAT(LedgerRows(), ElementsAre("accounts.0001_initial"));
  EXPECT_EQ(Value("SELECT action FROM tidemark_history"), "fake");
}

TEST_F(ApplyTest, FakeInitialSkipsStepsWhoseTablesExist) {
  Query(
      "CREATE TABLE accounts_customer (id bigserial PRIMARY KEY, email varchar(254), "
      "name varchar(200), created timestamptz)");
  ProcessResult plain = Example({"apply"});
  EXPECT_EQ(plain.exit_code, 1) << Describe(plain);
  EXPECT_THAT(plain.err, HasSubstr("42P07"));  // duplicate table: Django fails the same way
  ProcessResult initial = Example({"apply", "--fake-initial"});
  ASSERT_EQ(initial.exit_code, 0) << Describe(initial);
  EXPECT_THAT(initial.out, HasSubstr("Faking accounts.0001_initial... OK"));
  EXPECT_THAT(initial.out, HasSubstr("Applying catalog.0001_initial... OK"));
  EXPECT_EQ(LedgerRows(), kAllExampleSteps);
}

TEST_F(ApplyTest, FakeInitialFollowsTheInitialFlag) {
  // Django marks a second migration initial when models reference each other.
  WriteSteps(R"y(    - {app: a, name: "0001_initial", forward: "CREATE TABLE t1 (id int)"}
    - {app: a, name: "0002_initial", initial: true, dependencies: [a.0001_initial], forward: "CREATE TABLE t2 (id int)"}
    - {app: a, name: "0003_more", dependencies: [a.0002_initial], forward: "CREATE TABLE t3 (id int)"}
)y");
  Query("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)");
  ProcessResult apply = Tidemark({"apply", "--fake-initial"});
  ASSERT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_THAT(apply.out, HasSubstr("Faking a.0001_initial... OK"));
  EXPECT_THAT(apply.out, HasSubstr("Faking a.0002_initial... OK"));
  EXPECT_THAT(apply.out, HasSubstr("Applying a.0003_more... OK"));
}

TEST_F(ApplyTest, DryRunExecutesNothing) {
  ProcessResult dry = Example({"apply", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << Describe(dry);
  EXPECT_THAT(dry.out, HasSubstr("Dry run: nothing executed"));
  EXPECT_THAT(dry.out, HasSubstr("apply orders.0003_order_total"));
  EXPECT_FALSE(TableExists("accounts_customer"));
  EXPECT_FALSE(TableExists("django_migrations"));
}

TEST_F(ApplyTest, RunPrintsThePublishedStatus) {
  ProcessResult run = Example({"run"});
  ASSERT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_THAT(run.out, HasSubstr("plan: default/shop"));
  EXPECT_THAT(run.out, HasSubstr("reason: UpToDate"));
  EXPECT_THAT(run.out, HasSubstr("status: \"True\""));
  ProcessResult json = Example({"run", "-o", "json"});
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["status"]["summary"]["applied"], 7);
  EXPECT_EQ(doc["status"]["conditions"][0]["type"], "Ready");
}

TEST_F(ApplyTest, SqlShowsTheStatements) {
  ProcessResult sql = Example({"sql", "orders.0002_order_status"});
  ASSERT_EQ(sql.exit_code, 0) << Describe(sql);
  EXPECT_EQ(sql.out,
            "BEGIN;\nALTER TABLE \"orders_order\" ADD COLUMN \"status\" varchar(16) NOT NULL "
            "DEFAULT 'new';\nCOMMIT;\n");
  ProcessResult back = Example({"sql", "catalog.0002_product_search_index", "--backwards"});
  EXPECT_EQ(back.out, "DROP INDEX CONCURRENTLY \"catalog_product_title_idx\";\n");
}

TEST_F(ApplyTest, ExistingIdentityLedgerIsUsedAsItIs) {
  Query(
      "CREATE TABLE django_migrations (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY "
      "KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT "
      "NULL)");
  ProcessResult apply = Example({"apply"});
  ASSERT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_EQ(Value("SELECT data_type FROM information_schema.columns WHERE table_name = "
                  "'django_migrations' AND column_name = 'id'"),
            "bigint");
  EXPECT_EQ(LedgerRows().size(), 7u);
}

TEST_F(ApplyTest, LedgerIsCreatedWithTheIdTypeOfThePlan) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n",
             "  ledger: {idType: bigint}\n");
  ProcessResult apply = Tidemark({"apply"});
  ASSERT_EQ(apply.exit_code, 0) << Describe(apply);
  const std::string id_column =
      "SELECT data_type || ' ' || coalesce(column_default, '') FROM information_schema.columns "
      "WHERE table_name = 'django_migrations' AND column_name = 'id'";
  // bigserial, as Django creates it with DEFAULT_AUTO_FIELD = BigAutoField.
  EXPECT_EQ(Value(id_column), "bigint nextval('django_migrations_id_seq'::regclass)");
  // An existing table is used as it is, whatever the plan says.
  Query("DROP TABLE django_migrations");
  Query(
      "CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255) NOT NULL, name "
      "varchar(255) NOT NULL, applied timestamptz NOT NULL)");
  ProcessResult again = Tidemark({"apply"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(Value(id_column), "integer nextval('django_migrations_id_seq'::regclass)");
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001"));
}

TEST_F(ApplyTest, SquashedStepRecordsWhatItReplaces) {
  WriteSteps(
      R"y(    - {app: a, name: "0001", forward: "CREATE TABLE a1 (id int)", backward: "DROP TABLE a1"}
    - {app: a, name: "0002", dependencies: [a.0001], forward: "CREATE TABLE a2 (id int)", backward: "DROP TABLE a2"}
    - {app: a, name: 0001_squashed_0002, replaces: [a.0001, a.0002], forward: "CREATE TABLE a1 (id int); CREATE TABLE a2 (id int)", backward: "DROP TABLE a2; DROP TABLE a1"}
    - {app: a, name: "0003", dependencies: [a.0002], forward: "CREATE TABLE a3 (id int)", backward: "DROP TABLE a3"}
)y");
  ProcessResult apply = Tidemark({"apply"});
  ASSERT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_THAT(apply.out, HasSubstr("[1/2] Applying a.0001_squashed_0002"));
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001", "a.0001_squashed_0002", "a.0002", "a.0003"));
  ProcessResult status = Tidemark({"status"});
  EXPECT_THAT(status.out, HasSubstr(" [X] 0001_squashed_0002 (2 squashed migrations)"));
  ProcessResult zero = Tidemark({"apply", "--target", "a.zero", "--allow-revert"});
  ASSERT_EQ(zero.exit_code, 0) << Describe(zero);
  EXPECT_THAT(LedgerRows(), IsEmpty());
  EXPECT_FALSE(TableExists("a1"));
}

}  // namespace
}  // namespace tidemark::testing
