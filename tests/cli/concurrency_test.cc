// Races and crashes: two runs at once, table locks held by others, and a process killed
// at random points of a long apply. The ledger must match the schema every time.
#include <gmock/gmock.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <random>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ConcurrencyTest : public CliTest {
 protected:
  // `count` steps in one app, each creating table t<i> and sleeping a little.
  void WriteSlowSteps(int count, double sleep_seconds) {
    std::string steps;
    for (int i = 1; i <= count; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "%04d", i);
      steps += "    - {app: a, name: \"" + std::string(name) + "\"";
      if (i > 1) {
        char previous[16];
        std::snprintf(previous, sizeof previous, "%04d", i - 1);
        steps += ", dependencies: [a." + std::string(previous) + "]";
      }
      steps += ", forward: \"CREATE TABLE t" + std::to_string(i) + " (id int); SELECT pg_sleep(" +
               std::to_string(sleep_seconds) + ")\"}\n";
    }
    WriteSteps(steps);
  }

  // Every step is in the ledger exactly when its table exists (a run killed before it
  // created the ledger leaves neither).
  void ExpectLedgerMatchesSchema(int count, const std::string& context) {
    const bool ledger_exists = TableExists("django_migrations");
    for (int i = 1; i <= count; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "%04d", i);
      const std::string recorded =
          ledger_exists ? Value("SELECT count(*) FROM django_migrations WHERE name = '" +
                                std::string(name) + "'")
                        : "0";
      const bool exists = TableExists("t" + std::to_string(i));
      EXPECT_EQ(recorded, exists ? "1" : "0") << context << ": step " << name;
    }
  }

  std::unique_ptr<BackgroundProcess> IndexBuildBehindOpenTransaction(const std::string& policy,
                                                                     const std::string& seconds);

  void WaitForLock(const std::string& condition) {
    for (int i = 0; i < 500; ++i) {
      if (Value("SELECT count(*) FROM pg_locks WHERE " + condition) != "0") return;
      usleep(10'000);
    }
    FAIL() << "the lock holder never got its lock";
  }
};

TEST_F(ConcurrencyTest, TwoAppliesAtOnceApplyEachStepOnce) {
  WriteSlowSteps(20, 0.05);
  BackgroundProcess first(TidemarkArgv({"apply", "--lock-wait", "60s"}));
  BackgroundProcess second(TidemarkArgv({"apply", "--lock-wait", "60s"}));
  const ProcessResult a = first.Wait();
  const ProcessResult b = second.Wait();
  EXPECT_EQ(a.exit_code, 0) << Describe(a);
  EXPECT_EQ(b.exit_code, 0) << Describe(b);
  // The one that waited found nothing left to do.
  EXPECT_TRUE(a.out.find("No migrations to apply") != std::string::npos ||
              b.out.find("No migrations to apply") != std::string::npos)
      << Describe(a) << Describe(b);
  EXPECT_EQ(Value("SELECT count(*) FROM django_migrations"), "20");
  EXPECT_EQ(Value("SELECT count(DISTINCT name) FROM django_migrations"), "20");
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE action = 'apply'"), "20");
}

TEST_F(ConcurrencyTest, SecondRunReportsTheLockWhenItCannotWait) {
  WriteSlowSteps(10, 0.2);
  BackgroundProcess first(TidemarkArgv({"apply"}));
  WaitForLock("locktype = 'advisory' AND granted");
  const ProcessResult second = Tidemark({"apply", "--lock-wait", "100ms"});
  EXPECT_EQ(second.exit_code, 1) << Describe(second);
  EXPECT_THAT(second.err, HasSubstr("WaitingForLock"));
  EXPECT_EQ(first.Wait().exit_code, 0);
  EXPECT_EQ(Value("SELECT count(*) FROM django_migrations"), "10");
}

TEST_F(ConcurrencyTest, LockTimeoutIsRetriedAfterACleanRollback) {
  Query("CREATE TABLE busy (id int)");
  WriteSteps(
      "    - {app: a, name: \"0001\", forward: \"ALTER TABLE busy ADD COLUMN c int; "
      "CREATE TABLE side (id int)\"}\n",
      "  policy: {lockTimeout: 1s}\n");
  BackgroundProcess holder({"psql", dsn_, "-c",
                            "BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE; "
                            "SELECT pg_sleep(2.5); COMMIT;"});
  WaitForLock("relation = 'busy'::regclass AND mode = 'AccessExclusiveLock' AND granted");
  const ProcessResult apply = Tidemark({"apply"});
  EXPECT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_EQ(Value("SELECT string_agg(action || ':' || coalesce(sql_state, ''), ',' ORDER BY id) "
                  "FROM tidemark_history"),
            Value("SELECT 'failure:55P03,' || CASE WHEN count(*) = 2 THEN 'failure:55P03,' "
                  "ELSE '' END || 'apply:' FROM tidemark_history WHERE action = 'failure'"));
  EXPECT_EQ(LedgerRows().size(), 1u);
  holder.Wait();
}

TEST_F(ConcurrencyTest, LockTimeoutThatPersistsLeavesTheStepUnapplied) {
  Query("CREATE TABLE busy (id int)");
  WriteSteps(
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE side (id int); "
      "ALTER TABLE busy ADD COLUMN c int\"}\n",
      "  policy: {lockTimeout: 200ms}\n");
  BackgroundProcess holder({"psql", dsn_, "-c",
                            "BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE; "
                            "SELECT pg_sleep(30); COMMIT;"});
  WaitForLock("relation = 'busy'::regclass AND mode = 'AccessExclusiveLock' AND granted");
  const ProcessResult apply = Tidemark({"run"});
  EXPECT_EQ(apply.exit_code, 1) << Describe(apply);
  EXPECT_THAT(apply.out,
              HasSubstr("could not take its locks within lockTimeout 200ms (3 attempts"));
  EXPECT_THAT(apply.out, HasSubstr("type: Reconciling"));
  EXPECT_FALSE(TableExists("side"));
  EXPECT_TRUE(LedgerRows().empty());
  holder.Kill(SIGKILL);
}

// An index build on table t as a non-atomic step, with a session whose transaction stays
// open for `seconds`, holding a snapshot that CREATE INDEX CONCURRENTLY must wait out (it
// touches no table the step uses). Returns once that transaction runs.
std::unique_ptr<BackgroundProcess> ConcurrencyTest::IndexBuildBehindOpenTransaction(
    const std::string& policy, const std::string& seconds) {
  Query("CREATE TABLE t (x int)");
  WriteSteps(
      "    - {app: a, name: \"0001\", atomic: false, forward: \"CREATE INDEX CONCURRENTLY t_x ON "
      "t (x)\"}\n",
      "  policy: " + policy + "\n");
  auto holder = std::make_unique<BackgroundProcess>(std::vector<std::string>{
      "psql", dsn_, "-c",
      "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class; SELECT pg_sleep(" +
          seconds + "); COMMIT;"});
  EXPECT_TRUE(Eventually([&] {
    return Value("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(" + seconds +
                 ")%' AND state = 'active' AND pid <> pg_backend_pid()") == "1";
  }));
  return holder;
}

TEST_F(ConcurrencyTest, IndexBuildWaitsOutALongTransactionBeyondLockTimeout) {
  auto holder = IndexBuildBehindOpenTransaction("{lockTimeout: 200ms}", "2.5");
  // lockTimeout alone would cancel the build after 200 ms; concurrentLockTimeout (10m by
  // default) lets it wait for the transaction to end.
  const ProcessResult apply = Tidemark({"apply"});
  EXPECT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass"), "t");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("a.0001"));
  EXPECT_EQ(holder->Wait().exit_code, 0);
}

TEST_F(ConcurrencyTest, IndexBuildPastItsBudgetIsRetriedCleanly) {
  auto holder = IndexBuildBehindOpenTransaction("{concurrentLockTimeout: 300ms}", "60");
  const ProcessResult waited = Tidemark({"run"});
  EXPECT_EQ(waited.exit_code, 1) << Describe(waited);
  EXPECT_THAT(waited.out, HasSubstr("could not take its locks within concurrentLockTimeout 300ms "
                                    "(3 attempts; nothing of it stays done); will retry"));
  EXPECT_THAT(waited.out, HasSubstr("type: Reconciling"));
  EXPECT_THAT(waited.out, Not(HasSubstr("DirtyNonAtomic")));
  // The build that timed out left its INVALID index behind.
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass"), "f");
  Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE "
      "'%pg_sleep(60)%' AND pid <> pg_backend_pid()");
  holder->Wait();
  const ProcessResult retried = Tidemark({"run"});
  EXPECT_EQ(retried.exit_code, 0) << Describe(retried);
  // The status is YAML, where the message's quotes are escaped.
  EXPECT_THAT(retried.out, HasSubstr("a.0001: dropped the INVALID index \\\"t_x\\\" that an "
                                     "earlier failed build left behind, then built it again"));
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x'::regclass"), "t");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("a.0001"));
}

TEST_F(ConcurrencyTest, UniqueIndexBuildFailingOnDuplicatesSucceedsOnceTheyAreFixed) {
  Query("CREATE TABLE u (x int); INSERT INTO u VALUES (1), (1), (2)");
  WriteSteps(
      "    - {app: a, name: \"0001\", atomic: false, forward: \"CREATE UNIQUE INDEX "
      "CONCURRENTLY u_x ON u (x)\"}\n");
  const ProcessResult failed = Tidemark({"apply"});
  EXPECT_EQ(failed.exit_code, 1) << Describe(failed);
  EXPECT_THAT(failed.err,
              HasSubstr("DirtyNonAtomic: non-atomic step a.0001 stopped at statement 1"));
  EXPECT_THAT(failed.err, HasSubstr("could not create unique index \"u_x\""));
  EXPECT_THAT(failed.err, HasSubstr("the failed build left the INVALID index \"u_x\" behind, "
                                    "which tidemark drops before building it again"));
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'u_x'::regclass"), "f");

  // A person removes the duplicate and sends the step back to be run again.
  Query("DELETE FROM u WHERE ctid IN (SELECT ctid FROM u WHERE x = 1 LIMIT 1)");
  ASSERT_EQ(Tidemark({"resolve", "a.0001", "--state", "unapplied"}).exit_code, 0);
  const ProcessResult retried = Tidemark({"run"});
  EXPECT_EQ(retried.exit_code, 0) << Describe(retried);
  EXPECT_THAT(retried.out, HasSubstr("dropped the INVALID index \\\"u_x\\\""));
  EXPECT_EQ(Value("SELECT indisvalid FROM pg_index WHERE indexrelid = 'u_x'::regclass"), "t");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("a.0001"));
}

TEST_F(ConcurrencyTest, KilledAtRandomPointsTheLedgerAlwaysMatchesTheSchema) {
  constexpr int kSteps = 40;
  WriteSlowSteps(kSteps, 0.01);
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_ms(20, 300);
  for (int round = 0; round < 8; ++round) {
    BackgroundProcess apply(TidemarkArgv({"apply", "--lock-wait", "60s"}));
    usleep(delay_ms(random) * 1000);
    apply.Kill(SIGKILL);
    apply.Wait();
    // The killed session's backend may still be rolling back; its work is invisible either way.
    ExpectLedgerMatchesSchema(kSteps,
                              "seed " + std::to_string(seed) + ", round " + std::to_string(round));
  }
  const ProcessResult finish = Tidemark({"apply", "--lock-wait", "60s"});
  ASSERT_EQ(finish.exit_code, 0) << Describe(finish);
  ExpectLedgerMatchesSchema(kSteps, "after the final apply");
  EXPECT_EQ(Value("SELECT count(*) FROM django_migrations"), std::to_string(kSteps));
}

}  // namespace
}  // namespace tidemark::testing
