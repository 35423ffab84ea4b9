// Faults: the database restarted mid-apply, the session terminated, a table lock held past
// lock_timeout, a statement timeout, the disk full, the API server dropping watches and
// answering 409, 410 and 500. Each ends in a consistent database and a clear condition, and
// the plan converges once the fault is gone.
#include <gmock/gmock.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tests/reliability/cluster_fixture.h"
#include "tests/reliability/step_set.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kSteps = 150;

class FaultTest : public ClusterTest {
 protected:
  // The fault is survived when the run it hit left the database consistent and the next
  // run converges.
  void ExpectConvergesAfter(const std::string& dsn, const std::string& fault) {
    EXPECT_EQ(Join(StepSetProblems(dsn, kSteps, /*converged=*/false)), "") << fault;
    const ProcessResult again = RunProcess(TidemarkArgv(dsn, {"apply", "--lock-wait", "60s"}));
    EXPECT_EQ(again.exit_code, 0) << fault << "\n" << Describe(again);
    const std::string problems = Join(StepSetProblems(dsn, kSteps, /*converged=*/true));
    EXPECT_EQ(problems, "") << fault;
    Figure("survived", again.exit_code == 0 && problems.empty() && !HasFailure() ? "1/1" : "0/1");
  }
};

TEST_F(FaultTest, DatabaseRestartedMidApply) {
  const std::string dsn = NewDatabase();
  WritePlan(StepSetPlan("restart", kSteps, "", "", /*sleep_seconds=*/0.02));
  BackgroundProcess apply(TidemarkArgv(dsn, {"apply"}));
  ASSERT_TRUE(Eventually([&] { return AppliedSteps(dsn) >= 20; }));
  server().Stop();
  const ProcessResult interrupted = apply.Wait();
  server().Start();
  EXPECT_EQ(interrupted.exit_code, 1) << Describe(interrupted);
  EXPECT_THAT(interrupted.err, HasSubstr("DatabaseUnavailable"));
  EXPECT_THAT(interrupted.err, HasSubstr("will retry"));
  ExpectConvergesAfter(dsn, "restarted");
}

TEST_F(FaultTest, SessionTerminatedMidApply) {
  const std::string dsn = NewDatabase();
  WritePlan(StepSetPlan("terminate", kSteps, "", "", /*sleep_seconds=*/0.02));
  BackgroundProcess apply(TidemarkArgv(dsn, {"apply"}));
  ASSERT_TRUE(Eventually([&] { return AppliedSteps(dsn) >= 20; }));
  server().Query(dsn,
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                 "'tidemark' AND datname = current_database()");
  const ProcessResult interrupted = apply.Wait();
  EXPECT_EQ(interrupted.exit_code, 1) << Describe(interrupted);
  EXPECT_THAT(interrupted.err, HasSubstr("DatabaseUnavailable: lost the database connection"));
  ExpectConvergesAfter(dsn, "terminated");
}

TEST_F(FaultTest, TableLockHeldPastLockTimeout) {
  const std::string dsn = NewDatabase();
  WritePlan(StepSetPlan("locked", kSteps, "", "lockTimeout: 200ms"));
  ASSERT_EQ(RunProcess(TidemarkArgv(dsn, {"apply", "--target", "r.0050"})).exit_code, 0);
  // Step 0051 adds a column to the table of step 0050, locked for 8 s, far past lockTimeout;
  // then the fault is gone.
  BackgroundProcess locking({"psql", dsn, "-c",
                             "BEGIN; LOCK TABLE r_t50 IN ACCESS EXCLUSIVE MODE; SELECT "
                             "pg_sleep(8); COMMIT;"});
  const std::string holder =
      "SELECT pid FROM pg_locks WHERE relation = to_regclass('r_t50') AND mode = "
      "'AccessExclusiveLock' AND granted";
  ASSERT_TRUE(Eventually([&] { return !server().QueryValue(dsn, holder).empty(); }));
  const ProcessResult blocked = RunProcess(TidemarkArgv(dsn, {"run"}));
  EXPECT_EQ(blocked.exit_code, 1) << Describe(blocked);
  EXPECT_THAT(blocked.out, HasSubstr("type: Reconciling"));
  EXPECT_THAT(blocked.out,
              HasSubstr("step r.0051 at statement 3 `ALTER TABLE r_t50 ADD COLUMN c51 int DEFAULT "
                        "51` could not take its locks within lockTimeout 200ms (3 attempts; "
                        "rolled back each time); will retry"));
  EXPECT_EQ(AppliedSteps(dsn), 50);
  EXPECT_EQ(locking.Wait().exit_code, 0);
  ExpectConvergesAfter(dsn, "table lock");
}

TEST_F(FaultTest, StatementTimeout) {
  constexpr int kShort = 12;
  const std::string dsn = NewDatabase();
  WritePlan(StepSetPlan("slow", kShort, "", "statementTimeout: 100ms", /*sleep_seconds=*/0.3));
  const ProcessResult timed_out = RunProcess(TidemarkArgv(dsn, {"run"}));
  EXPECT_EQ(timed_out.exit_code, 1) << Describe(timed_out);
  EXPECT_THAT(timed_out.out, HasSubstr("reason: MigrationFailed"));
  EXPECT_THAT(timed_out.out, HasSubstr("57014 canceling statement due to statement timeout"));
  EXPECT_EQ(Join(StepSetProblems(dsn, kShort, /*converged=*/false)), "");
  EXPECT_EQ(AppliedSteps(dsn), 0);
  // The fault gone: a budget the statements fit in.
  WritePlan(StepSetPlan("slow", kShort, "", "statementTimeout: 10s", /*sleep_seconds=*/0.3));
  const ProcessResult again = RunProcess(TidemarkArgv(dsn, {"apply"}));
  EXPECT_EQ(again.exit_code, 0) << Describe(again);
  const std::string problems = Join(StepSetProblems(dsn, kShort, /*converged=*/true));
  EXPECT_EQ(problems, "");
  Figure("survived", again.exit_code == 0 && problems.empty() && !HasFailure() ? "1/1" : "0/1");
}

// The tables go to a tablespace on a 1 MiB tmpfs (the suite runs as root, as CI does): the
// step that meets the full disk rolls back; once the disk grows, the plan goes on.
TEST_F(FaultTest, DiskFull) {
  const std::string mount_point = dir_ + "/tiny";
  // The server's user (postgres, when the tests run as root) reaches it through dir_.
  std::filesystem::permissions(dir_, std::filesystem::perms(0755));
  std::filesystem::create_directories(mount_point);
  const ProcessResult owner = RunProcess({"id", "-u", "postgres"});
  const std::string uid =
      owner.exit_code == 0 ? owner.out.substr(0, owner.out.find('\n')) : std::to_string(getuid());
  const std::string options = "size=1m,mode=0700,uid=" + uid;
  ASSERT_EQ(mount("tmpfs", mount_point.c_str(), "tmpfs", 0, options.c_str()), 0)
      << "mounting a tmpfs for the tablespace needs root (as CI runs): " << std::strerror(errno);
  const std::string dsn = NewDatabase();
  const std::string db = server().QueryValue(dsn, "SELECT current_database()");
  server().Query(dsn, "CREATE TABLESPACE tiny LOCATION '" + mount_point + "'");
  WritePlan(StepSetPlan("disk", kSteps, ""));
  ASSERT_EQ(RunProcess(TidemarkArgv(dsn, {"apply", "--target", "r.0001"})).exit_code, 0);
  server().Query(dsn, "ALTER DATABASE \"" + db + "\" SET default_tablespace = tiny");
  const ProcessResult full = RunProcess(TidemarkArgv(dsn, {"run"}));
  EXPECT_EQ(full.exit_code, 1) << Describe(full);
  EXPECT_THAT(full.out, HasSubstr("reason: MigrationFailed"));
  EXPECT_THAT(full.out, HasSubstr("53100"));
  EXPECT_THAT(full.out, HasSubstr("No space left on device"));
  EXPECT_GT(AppliedSteps(dsn), 1);
  EXPECT_LT(AppliedSteps(dsn), kSteps);
  // The disk grows.
  ASSERT_EQ(mount("tmpfs", mount_point.c_str(), "tmpfs", MS_REMOUNT,
                  ("size=64m,mode=0700,uid=" + uid).c_str()),
            0)
      << std::strerror(errno);
  ExpectConvergesAfter(dsn, "disk full");
  DropDatabase(dsn);
  server().Query(server().Dsn(), "DROP TABLESPACE tiny");
  EXPECT_EQ(umount(mount_point.c_str()), 0) << std::strerror(errno);
}

// While the controller reconciles the step set, the API server drops every watch, compacts
// its history (the watches come back to 410 Expired) and answers 409 to status writes and
// 500 to lists.
TEST_F(FaultTest, ApiServerDropsWatchesAndAnswersErrors) {
  const std::string dsn = NewDatabase();
  CreateDsnSecret("api", dsn);
  StartOperator();
  ApplyPlan(StepSetPlan("api", kSteps, "{dsnFrom: {secretKeyRef: {name: api, key: dsn}}}"));
  ASSERT_TRUE(Eventually([&] { return AppliedSteps(dsn) >= 10; }));
  cluster_->server().FailNextRequests("PATCH", "/status", 3, 409);
  // The controller's lists and watches of plans, not this test's reads of one plan.
  cluster_->server().FailNextRequests("GET", "migrationplans$", 2, 500);
  cluster_->server().DropWatches();
  cluster_->server().Compact();
  cluster_->server().FailNextRequests("GET", "migrationplans$", 1, 410);
  EXPECT_TRUE(WaitReady("api"));
  const std::string problems = Join(StepSetProblems(dsn, kSteps, /*converged=*/true));
  EXPECT_EQ(problems, "");
  EXPECT_FALSE(operators_.back()->Poll()) << "the operator died";
  Figure("survived", problems.empty() && !HasFailure() ? "1/1" : "0/1");
}

}  // namespace
}  // namespace tidemark::testing
