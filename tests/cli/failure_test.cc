// What goes wrong: broken SQL, failing statements, half-done non-atomic steps, bad input,
// missing secrets, a database that is not there. Clear messages; nothing half-applied.
#include <gmock/gmock.h>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class FailureTest : public CliTest {};

TEST_F(FailureTest, FailingStatementRollsBackItsStepOnly) {
  WriteSteps(R"y(    - {app: a, name: "0001", forward: "CREATE TABLE first (id int)"}
    - app: a
      name: "0002"
      dependencies: [a.0001]
      forward: |
        CREATE TABLE second (id int);
        INSERT INTO missing_table VALUES (1);
    - {app: a, name: "0003", dependencies: [a.0002], forward: "CREATE TABLE third (id int)"}
)y");
  ProcessResult apply = Tidemark({"apply"});
  EXPECT_EQ(apply.exit_code, 1) << Describe(apply);
  EXPECT_THAT(apply.err, HasSubstr("MigrationFailed: step a.0002 failed at statement 2 "
                                   "`INSERT INTO missing_table VALUES (1)`: 42P01 relation "
                                   "\"missing_table\" does not exist"));
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001"));  // earlier step stays applied
  EXPECT_TRUE(TableExists("first"));
  EXPECT_FALSE(TableExists("second"));  // the failing step's first statement rolled back
  EXPECT_FALSE(TableExists("third"));
  EXPECT_EQ(Value("SELECT action || ' ' || statement_index || ' ' || sql_state FROM "
                  "tidemark_history WHERE name = '0002'"),
            "failure 1 42P01");

  // The run's status names the failure for dashboards.
  ProcessResult run = Tidemark({"run"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("reason: MigrationFailed"));
  EXPECT_THAT(run.out, HasSubstr("sqlState: 42P01"));
  EXPECT_THAT(run.out, HasSubstr("attempts: 2"));
}

TEST_F(FailureTest, BrokenSqlIsRefusedBeforeAnythingRuns) {
  WriteSteps(R"y(    - {app: a, name: "0001", forward: "CREATE TABLE first (id int)"}
    - app: a
      name: "0002"
      dependencies: [a.0001]
      forward: |
        CREATE TABLE second (id int);
        CREATE TABEL third (id int);
)y");
  ProcessResult apply = Tidemark({"apply"});
  EXPECT_EQ(apply.exit_code, 2) << Describe(apply);
  EXPECT_THAT(apply.err, HasSubstr("InvalidSpec: step a.0002 (spec.migrations[1]) forward SQL "
                                   "does not parse, line 2, column 8: syntax error at or near "
                                   "\"TABEL\""));
  EXPECT_FALSE(TableExists("first"));
  EXPECT_THAT(LedgerRows(), IsEmpty());
}

TEST_F(FailureTest, NonAtomicStepStoppedHalfWayIsDirtyUntilResolved) {
  WriteSteps(R"y(    - {app: a, name: "0001", forward: "CREATE TABLE t (x int, y int)"}
    - app: a
      name: "0002_indexes"
      dependencies: [a.0001]
      atomic: false
      forward: |
        CREATE INDEX CONCURRENTLY t_x ON t (x);
        CREATE INDEX CONCURRENTLY t_z ON t (z);
        CREATE INDEX CONCURRENTLY t_y ON t (y);
    - {app: a, name: "0003", dependencies: [a.0002_indexes], forward: "CREATE TABLE u (id int)"}
)y");
  ProcessResult apply = Tidemark({"apply"});
  EXPECT_EQ(apply.exit_code, 1) << Describe(apply);
  EXPECT_THAT(apply.err, HasSubstr("DirtyNonAtomic: non-atomic step a.0002_indexes stopped at "
                                   "statement 2"));
  EXPECT_TRUE(TableExists("t_x"));  // statement 1 stays done: no transaction around it
  EXPECT_FALSE(TableExists("t_y"));
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001"));

  // Until a person resolves it, nothing else runs, and the message says what to do.
  ProcessResult again = Tidemark({"apply"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("stopped applying at statement 2"));
  // The history keeps why it stopped.
  EXPECT_THAT(again.err, HasSubstr("error: column \"z\" does not exist"));
  EXPECT_THAT(again.err, HasSubstr("tidemark resolve a.0002_indexes --state applied|unapplied"));
  EXPECT_FALSE(TableExists("u"));

  // The person finishes the work by hand and records it.
  Query("CREATE INDEX t_y ON t (y)");
  ProcessResult resolve = Tidemark({"resolve", "a.0002_indexes", "--state", "applied"});
  ASSERT_EQ(resolve.exit_code, 0) << Describe(resolve);
  ProcessResult finish = Tidemark({"apply"});
  ASSERT_EQ(finish.exit_code, 0) << Describe(finish);
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001", "a.0002_indexes", "a.0003"));
  EXPECT_THAT(Tidemark({"resolve", "a.0002_indexes", "--state", "applied"}).out,
              HasSubstr("is not dirty"));
}

TEST_F(FailureTest, SpecResolveClearsADirtyStep) {
  const std::string steps = R"y(    - {app: a, name: "0001", forward: "CREATE TABLE t (x int)"}
    - {app: a, name: "0002", dependencies: [a.0001], atomic: false, forward: "CREATE INDEX CONCURRENTLY i ON t (nope)"}
)y";
  WriteSteps(steps);
  EXPECT_EQ(Tidemark({"apply"}).exit_code, 1);
  WriteSteps(steps, "  resolve: [{migration: a.0002, state: unapplied}]\n");
  Query("DROP INDEX IF EXISTS i");
  ProcessResult retried = Tidemark({"apply"});
  EXPECT_EQ(retried.exit_code, 1) << Describe(retried);  // resolved, then fails again
  EXPECT_THAT(retried.err,
              HasSubstr("DirtyNonAtomic: non-atomic step a.0002 stopped at statement 1"));
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE action = 'resolve'"), "1");
}

TEST_F(FailureTest, InvalidPlansExitTwoAndNameTheProblem) {
  WritePlan(
      "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: shop}\n"
      "spec:\n  migrations: [{app: a, name: x\n");
  ProcessResult malformed = Tidemark({"apply"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_THAT(malformed.err, HasSubstr("plan.yaml: not valid YAML at line"));

  WriteSteps("    - {app: a, name: \"0001\", forwards: x}\n");
  ProcessResult unknown = Tidemark({"apply"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("spec.migrations[0].forwards: unknown field; did you mean "
                                     "\"forward\"?"));

  WriteSteps(
      "    - {app: a, name: \"0001\", dependencies: [b.0001]}\n"
      "    - {app: b, name: \"0001\", dependencies: [a.0001]}\n");
  ProcessResult cycle = Tidemark({"apply"});
  EXPECT_EQ(cycle.exit_code, 2);
  EXPECT_THAT(cycle.err,
              HasSubstr("DependencyCycle: dependency cycle: a.0001 -> b.0001 -> a.0001"));

  WriteSteps("    - {app: a, name: \"0001\", dependencies: [auth.0001_initial]}\n");
  ProcessResult unknown_dependency = Tidemark({"apply"});
  EXPECT_EQ(unknown_dependency.exit_code, 2);
  EXPECT_THAT(unknown_dependency.err, HasSubstr("depends on auth.0001_initial, which no step"));
  EXPECT_FALSE(TableExists("django_migrations"));
}

TEST_F(FailureTest, MissingSecretIsNamed) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n",
             "  database: {dsnFrom: {env: TIDEMARK_TEST_UNSET_DSN}}\n");
  // Without --database, the plan's own source is used.
  ProcessResult result = RunProcess({BuiltProgram("tidemark"), "apply", "-f", dir_});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("SecretNotFound: spec.database.dsnFrom.env: environment "
                                    "variable TIDEMARK_TEST_UNSET_DSN is not set"));
}

TEST_F(FailureTest, UnreachableDatabaseIsRetryableAndRedacted) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n");
  ProcessResult result = RunProcess({BuiltProgram("tidemark"), "apply", "-f", dir_, "--database",
                                     "postgresql://app:sup3rs3cret@127.0.0.1:1/shop"});
  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  // Where it went and as whom, not the connection string (nor its password).
  EXPECT_THAT(result.err, HasSubstr("DatabaseUnavailable: cannot connect to 127.0.0.1:1/shop as "
                                    "app: connection to server at \"127.0.0.1\", port 1 failed: "
                                    "Connection refused"));
  EXPECT_THAT(result.err + result.out, ::testing::Not(HasSubstr("sup3rs3cret")));
}

TEST_F(FailureTest, MissingSchemaSaysHowToFixIt) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n",
             "  database: {schema: tenant_7}\n");
  ProcessResult result = Tidemark({"apply"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("schema \"tenant_7\" does not exist"));
  EXPECT_THAT(result.err, HasSubstr("CREATE SCHEMA"));
}

TEST_F(FailureTest, PlanAndApplySayWhyAStepIsIrreversible) {
  const std::string steps =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\", backward: \"DROP "
      "TABLE t\"}\n"
      "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"SELECT 1\",\n"
      "       irreversibleReason: \"unapplying it failed: operator does not exist\"}\n";
  WriteSteps(steps);
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  WriteSteps(steps, "  targets: [{app: a, migration: zero}]\n");
  ProcessResult plan = Tidemark({"plan"});
  EXPECT_THAT(plan.out, HasSubstr("revert a.0002 (irreversible: unapplying it failed: operator "
                                  "does not exist)\n  revert a.0001\n"))
      << Describe(plan);
  ProcessResult result = Tidemark({"apply", "--target", "a.zero", "--allow-revert"});
  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("Irreversible: step a.0002 has no backward SQL (unapplying "
                                    "it failed: operator does not exist), so it cannot be "
                                    "reverted"));
  EXPECT_TRUE(TableExists("t"));
}

TEST_F(FailureTest, IrreversibleStepCannotBeReverted) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\"}\n");
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  ProcessResult result = Tidemark({"apply", "--target", "a.zero", "--allow-revert"});
  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("Irreversible: step a.0001 has no backward SQL"));
  EXPECT_TRUE(TableExists("t"));
}

}  // namespace
}  // namespace tidemark::testing
