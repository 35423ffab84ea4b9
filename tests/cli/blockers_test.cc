// A step that waits for a table lock another session holds: tidemark names that session
// while the step waits (from a second session of its own) and in the failure once
// policy.lockTimeout ends the wait.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTable[] =
    "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE shop_item (id int)\"}\n";

TEST_F(CliTest, AStepWaitingForALockNamesTheSessionsHoldingIt) {
  WriteSteps(kTable);
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  // The application's report holds the table (ACCESS SHARE) for two minutes.
  BackgroundProcess holder({"/usr/bin/psql", dsn_ + " application_name=report-writer", "-c",
                            "BEGIN; LOCK TABLE shop_item IN ACCESS SHARE MODE; "
                            "SELECT pg_sleep(120)"});
  ASSERT_TRUE(Eventually([&] {
    return Value(
               "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
               "WHERE a.application_name = 'report-writer' AND l.granted "
               "AND l.relation = 'shop_item'::regclass") == "1";
  }));
  const std::string holder_pid =
      Value("SELECT pid FROM pg_stat_activity WHERE application_name = 'report-writer'");
  WriteSteps(std::string(kTable) +
                 "    - {app: shop, name: 0002_label, dependencies: [shop.0001_initial],\n"
                 "       forward: \"ALTER TABLE shop_item ADD COLUMN label text\"}\n",
             "  policy: {lockTimeout: 3s}\n");

  const ProcessResult waited = Tidemark({"apply"});
  EXPECT_EQ(waited.exit_code, 1) << Describe(waited);
  const std::string held_by = "pid " + holder_pid + " (application \"report-writer\", active, for ";
  EXPECT_THAT(waited.out, HasSubstr("waiting for a lock held by " + held_by)) << Describe(waited);
  EXPECT_THAT(waited.err, HasSubstr("; blocked by " + held_by)) << Describe(waited);
  EXPECT_EQ(Value("SELECT count(*) FROM pg_stat_activity "
                  "WHERE application_name = 'tidemark-blocker-watch'"),
            "0");

  EXPECT_EQ(Value("SELECT pg_terminate_backend(" + holder_pid + ")"), "t");
  ASSERT_TRUE(Eventually([&] {
    return Value(
               "SELECT count(*) FROM pg_stat_activity "
               "WHERE application_name = 'report-writer'") == "0";
  }));
  const ProcessResult applied = Tidemark({"apply"});
  EXPECT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_THAT(applied.out, Not(HasSubstr("waiting for a lock")));
}

}  // namespace
}  // namespace tidemark::testing
