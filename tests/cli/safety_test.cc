// The protections of SPEC 3 and 5: checksums, unknown ledger rows, Python steps, lint,
// and one lock per ledger (not per cluster).
#include <gmock/gmock.h>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SafetyTest : public CliTest {};

TEST_F(SafetyTest, ChangedSqlOfAnAppliedStepIsDrift) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\"}\n");
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  const std::string changed =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id bigint)\"}\n"
      "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"CREATE TABLE u (id "
      "int)\"}\n";
  WriteSteps(changed);
  ProcessResult blocked = Tidemark({"apply"});
  EXPECT_EQ(blocked.exit_code, 1) << Describe(blocked);
  EXPECT_THAT(blocked.err, HasSubstr("ChecksumMismatch: step a.0001 was applied with different "
                                     "forward SQL"));
  EXPECT_FALSE(TableExists("u"));

  WriteSteps(changed, "  policy: {checksum: Warn}\n");
  ProcessResult warned = Tidemark({"run"});
  EXPECT_EQ(warned.exit_code, 0) << Describe(warned);
  EXPECT_TRUE(TableExists("u"));
  EXPECT_THAT(warned.out, HasSubstr("reason: ChecksumMismatch"));
  EXPECT_THAT(warned.out, HasSubstr("checksumMismatches:\n      - a.0001"));
}

TEST_F(SafetyTest, UnknownLedgerRowsWarnOrBlock) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n");
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  // Another plan's app in the shared ledger is not drift.
  Query("INSERT INTO django_migrations (app, name, applied) VALUES ('billing', '0001', now())");
  ProcessResult clean = Tidemark({"run"});
  EXPECT_EQ(clean.exit_code, 0) << Describe(clean);
  EXPECT_THAT(clean.out, ::testing::Not(HasSubstr("UnknownApplied")));
  EXPECT_THAT(clean.out, ::testing::Not(HasSubstr("billing.0001")));

  // A row of this plan's app that no step defines (a step removed from the plan) is.
  Query("INSERT INTO django_migrations (app, name, applied) VALUES ('a', '0000_old', now())");
  ProcessResult warned = Tidemark({"run"});
  EXPECT_EQ(warned.exit_code, 0) << Describe(warned);
  EXPECT_THAT(warned.out, HasSubstr("reason: UnknownApplied"));
  EXPECT_THAT(warned.out, HasSubstr("a.0000_old"));

  WriteSteps("    - {app: a, name: \"0001\", forward: \"SELECT 1\"}\n",
             "  policy: {unknownApplied: Block}\n");
  ProcessResult blocked = Tidemark({"run"});
  EXPECT_EQ(blocked.exit_code, 1);
  EXPECT_THAT(blocked.out, HasSubstr("reason: UnknownApplied"));
  EXPECT_THAT(blocked.out, HasSubstr("type: Stalled"));
}

TEST_F(SafetyTest, PythonStepsBlockOrRecordOnly) {
  const std::string steps =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\"}\n"
      "    - {app: a, name: \"0002_fill\", dependencies: [a.0001], python: true, forward: \"\"}\n";
  WriteSteps(steps);
  ProcessResult blocked = Tidemark({"apply"});
  EXPECT_EQ(blocked.exit_code, 1) << Describe(blocked);
  EXPECT_THAT(blocked.err, HasSubstr("PythonStep: step a.0002_fill has Python code (RunPython)"));
  EXPECT_THAT(blocked.err, HasSubstr("manage.py migrate a 0002_fill"));
  EXPECT_FALSE(TableExists("t"));  // refused before anything ran

  WriteSteps(steps, "  policy: {pythonSteps: RecordOnly}\n");
  ProcessResult recorded = Tidemark({"run"});
  EXPECT_EQ(recorded.exit_code, 0) << Describe(recorded);
  EXPECT_THAT(recorded.out, HasSubstr("recorded without running their Python code "
                                      "(pythonSteps: RecordOnly): a.0002_fill"));
  EXPECT_EQ(LedgerRows().size(), 2u);
}

TEST_F(SafetyTest, LintWarnsOrBlocks) {
  const std::string steps =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (x int)\"}\n"
      "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"CREATE INDEX tx ON t "
      "(x)\"}\n";
  WriteSteps(steps, "  policy: {lint: Block}\n");
  ASSERT_EQ(Tidemark({"apply", "--target", "a.0001"}).exit_code, 0);
  ProcessResult blocked = Tidemark({"apply"});
  EXPECT_EQ(blocked.exit_code, 1) << Describe(blocked);
  EXPECT_THAT(blocked.err,
              HasSubstr("LintBlocked: step a.0002: statement 1: CREATE INDEX tx on t"));
  EXPECT_FALSE(TableExists("tx"));

  WriteSteps(steps);  // lint: Warn
  ProcessResult warned = Tidemark({"apply"});
  EXPECT_EQ(warned.exit_code, 0) << Describe(warned);
  EXPECT_THAT(warned.err, HasSubstr("lint error: a.0002"));
  EXPECT_THAT(warned.err, HasSubstr("[require-concurrent-index-creation]"));

  ProcessResult lint = Tidemark({"lint"});
  EXPECT_EQ(lint.exit_code, 1);
  EXPECT_THAT(lint.out, HasSubstr("a.0002: error:"));
}

TEST_F(SafetyTest, AStepsLintAllowIsShownAndLetsLintBlockRunIt) {
  WriteSteps(
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (x int)\"}\n"
      "    - app: a\n"
      "      name: \"0002\"\n"
      "      dependencies: [a.0001]\n"
      "      forward: \"CREATE INDEX tx ON t (x)\"\n"
      "      lintAllow: [{rule: require-concurrent-index-creation, reason: t is tiny}]\n",
      "  policy: {lint: Block}\n");
  ProcessResult lint = Tidemark({"lint"});
  EXPECT_EQ(lint.exit_code, 0) << Describe(lint);
  EXPECT_THAT(lint.out, HasSubstr("a.0002: error: statement 1: CREATE INDEX tx on t:"));
  EXPECT_THAT(lint.out, HasSubstr("(accepted in lintAllow: t is tiny) "
                                  "[require-concurrent-index-creation]"));
  ProcessResult json = Tidemark({"lint", "-o", "json"});
  EXPECT_THAT(json.out, HasSubstr("\"accepted\": \"t is tiny\""));
  ProcessResult applied = Tidemark({"apply"});
  EXPECT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_TRUE(TableExists("tx"));
}

TEST_F(SafetyTest, LintReadsColumnTypesAndTheVersionFromTheDatabase) {
  Query("CREATE TABLE shop_item (id int, name varchar(20))");
  WriteSteps(
      "    - {app: a, name: \"0001\", forward: \"ALTER TABLE shop_item ALTER COLUMN name TYPE "
      "varchar(40)\"}\n"
      "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"ALTER TABLE shop_item "
      "ALTER COLUMN name TYPE varchar(30)\"}\n"
      "    - {app: a, name: \"0003\", dependencies: [a.0002], atomic: false,\n"
      "       forward: \"REINDEX INDEX CONCURRENTLY shop_item_pkey\"}\n");
  // Without a database, the column's type is unknown: both changes may rewrite.
  ProcessResult offline =
      RunProcess({BuiltProgram("tidemark"), "lint", "-f", dir_}, ProcessOptions{});
  EXPECT_EQ(offline.exit_code, 1) << Describe(offline);
  EXPECT_THAT(offline.out, HasSubstr("a.0001: error: statement 1: ALTER COLUMN name TYPE "
                                     "varchar(40) on shop_item (its current type is unknown"));
  // With it, widening varchar(20) is catalogue-only; narrowing what 0001 left is not.
  ProcessResult live = Tidemark({"lint"});
  EXPECT_EQ(live.exit_code, 1) << Describe(live);
  EXPECT_THAT(live.out, Not(HasSubstr("a.0001:")));
  EXPECT_THAT(live.out, HasSubstr("a.0002: error: statement 1: ALTER COLUMN name TYPE "
                                  "varchar(30) on shop_item narrows varchar(40) to varchar(30)"));
  EXPECT_THAT(live.out, Not(HasSubstr("requires-newer-server")));
  ProcessResult old_server = Tidemark({"lint", "--pg-version", "11"});
  EXPECT_THAT(old_server.out,
              HasSubstr("a.0003: error: statement 1: REINDEX shop_item_pkey CONCURRENTLY needs "
                        "PostgreSQL 12, the server runs 11"));
  EXPECT_EQ(Tidemark({"lint", "--pg-version", "nine"}).exit_code, 2);
}

TEST_F(SafetyTest, LockIsPerLedgerWithTheDocumentedKey) {
  Query("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b");
  const std::string steps =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\"}\n";
  // Another tool holds tenant_a's lock, computed with the documented expression.
  BackgroundProcess holder(
      {"psql", dsn_, "-c",
       "SELECT pg_advisory_lock(('x' || left(encode(sha256(convert_to('tidemark:' || "
       "current_database() || ':' || 'tenant_a' || ':' || 'django_migrations', 'UTF8')), "
       "'hex'), 16))::bit(64)::bigint); SELECT pg_sleep(20)"});
  // Wait until the holder has the lock.
  for (int i = 0; i < 200 && Value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                   "AND granted") != "1";
       ++i) {
    usleep(20'000);
  }
  WriteSteps(steps, "  database: {schema: tenant_b}\n");
  ProcessResult other = Tidemark({"apply", "--lock-wait", "200ms"});
  EXPECT_EQ(other.exit_code, 0) << Describe(other);  // an unrelated schema is not blocked

  WriteSteps(steps, "  database: {schema: tenant_a}\n");
  ProcessResult waiting = Tidemark({"apply", "--lock-wait", "300ms"});
  EXPECT_EQ(waiting.exit_code, 1) << Describe(waiting);
  EXPECT_THAT(waiting.err, HasSubstr("WaitingForLock: another session holds the migration lock"));
  EXPECT_EQ(
      Value("SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_a' AND tablename = 't'"),
      "0");
  holder.Kill(SIGKILL);
}

}  // namespace
}  // namespace tidemark::testing
