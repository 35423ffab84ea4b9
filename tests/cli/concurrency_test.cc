// Races and crashes: two runs at once, table locks held by others, and a process killed
// at random points of a long apply. The ledger must match the schema every time.
#include <gmock/gmock.h>
#include <signal.h>
#include <unistd.h>

#include <random>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;

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
