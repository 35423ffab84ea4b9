// Back-fill steps (kind: Backfill) as a user runs them with `tidemark apply` against a real
// PostgreSQL: batches of their own until one changes no row, the counts on the progress
// lines, a competing lock, a SIGKILL in the middle, and statements that are not one batch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "base/text.h"
#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 20,000 rows whose new column c the back-fill fills with id * 2, 1,000 rows a batch.
std::string Steps(const std::string& batch_delay) {
  return "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE shop_item (id int "
         "PRIMARY KEY, c int); INSERT INTO shop_item SELECT g FROM generate_series(1, 20000) "
         "g\"}\n"
         "    - {app: shop, name: 0002_fill_c, dependencies: [shop.0001_initial], kind: "
         "Backfill, batchDelay: " +
         batch_delay +
         ",\n"
         "       forward: \"UPDATE shop_item SET c = id * 2 WHERE id IN (SELECT id FROM "
         "shop_item WHERE c IS NULL ORDER BY id LIMIT 1000)\"}\n";
}

class BackfillCliTest : public CliTest {
 protected:
  // The back-fill's counts in its progress table: "rows/batches", or "" when it has none.
  std::string Progress() const {
    if (!TableExists("tidemark_history_backfill")) return "";
    return Value(
        "SELECT coalesce((SELECT rows || '/' || batches FROM tidemark_history_backfill WHERE "
        "app = 'shop' AND name = '0002_fill_c'), '')");
  }
  std::string Filled() const { return Value("SELECT count(c) FROM shop_item"); }
};

TEST_F(BackfillCliTest, TwentyThousandRowsInBatchesOfAThousandRecordedWhenDone) {
  WriteSteps(Steps("0"));
  const ProcessResult applied = Tidemark({"apply"});
  ASSERT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_THAT(applied.out, HasSubstr("[2/2] Applying shop.0002_fill_c...\n    back-fill: 1,000 "
                                     "rows in 1 batches, "))
      << Describe(applied);
  EXPECT_THAT(applied.out, HasSubstr("\n    back-fill done: 20,000 rows in 20 batches, "));
  EXPECT_THAT(applied.out, ::testing::ContainsRegex("rows/s\n    OK \\([0-9]+ ms\\)"));
  EXPECT_EQ(Value("SELECT count(*) FILTER (WHERE c = id * 2) FROM shop_item"), "20000");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("shop.0001_initial", "shop.0002_fill_c"));
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE name = '0002_fill_c'"), "1");
  EXPECT_EQ(Progress(), "");  // forgotten once recorded

  // Recorded: the next apply has nothing to do.
  const ProcessResult again = Tidemark({"apply"});
  EXPECT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No migrations to apply."));
}

TEST_F(BackfillCliTest, ALockHeldByAnotherSessionStopsTheBatchesUnrecorded) {
  WriteSteps(Steps("0"), "  policy: {lockTimeout: 300ms}\n");
  ASSERT_EQ(Tidemark({"apply", "--target", "shop.0001_initial"}).exit_code, 0);
  // A report holds the table in SHARE mode, which every UPDATE waits for.
  BackgroundProcess holder({"/usr/bin/psql", dsn_ + " application_name=report-writer", "-c",
                            "BEGIN; LOCK TABLE shop_item IN SHARE MODE; SELECT pg_sleep(120)"});
  ASSERT_TRUE(Eventually([&] {
    return Value(
               "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
               "WHERE a.application_name = 'report-writer' AND l.granted "
               "AND l.relation = 'shop_item'::regclass") == "1";
  }));
  const ProcessResult blocked = Tidemark({"apply"});
  EXPECT_EQ(blocked.exit_code, 1) << Describe(blocked);
  EXPECT_THAT(blocked.err,
              HasSubstr("step shop.0002_fill_c at statement 1 `UPDATE shop_item SET c = id * 2 "
                        "WHERE id IN"))
      << Describe(blocked);
  EXPECT_THAT(blocked.err,
              HasSubstr("could not take its locks within lockTimeout 300ms (3 attempts; each "
                        "batch that met it rolled back) (0 rows in 0 batches done so far stay "
                        "done; the next run goes on from there); will retry"));
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("shop.0001_initial"));
  EXPECT_EQ(Filled(), "0");

  EXPECT_EQ(Value("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                  "application_name = 'report-writer'"),
            "t");
  ASSERT_TRUE(Eventually([&] {
    return Value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
               "'report-writer'") == "0";
  }));
  const ProcessResult applied = Tidemark({"apply"});
  EXPECT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_EQ(Filled(), "20000");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("shop.0001_initial", "shop.0002_fill_c"));
}

TEST_F(BackfillCliTest, KilledMidwayItGoesOnFromTheExactCountsAndIsRecordedOnce) {
  WriteSteps(Steps("200ms"));  // 20 batches: about 4 s
  BackgroundProcess apply(TidemarkArgv({"apply"}));
  ASSERT_TRUE(Eventually([&] {
    const std::string progress = Progress();
    return !progress.empty() && std::stoi(progress.substr(progress.find('/') + 1)) >= 3;
  }));
  apply.Kill(SIGKILL);
  apply.Wait();
  // Whatever the moment, the counts are those of the committed batches: exact.
  ASSERT_TRUE(Eventually([&] {
    return Value(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND pid <> pg_backend_pid() AND state <> 'idle'") == "0";
  }));
  const std::string progress = Progress();
  ASSERT_FALSE(progress.empty());
  const int rows = std::stoi(progress.substr(0, progress.find('/')));
  const int batches = std::stoi(progress.substr(progress.find('/') + 1));
  EXPECT_EQ(rows, batches * 1000);
  EXPECT_LT(batches, 20);
  EXPECT_EQ(Filled(), std::to_string(rows));
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("shop.0001_initial"));

  const ProcessResult resumed = Tidemark({"apply", "--lock-wait", "60s"});
  ASSERT_EQ(resumed.exit_code, 0) << Describe(resumed);
  EXPECT_THAT(resumed.out, HasSubstr("back-fill done: 20,000 rows in 20 batches, "));
  EXPECT_THAT(resumed.out, HasSubstr("\n    went on from an earlier run's " +
                                     GroupThousands(static_cast<size_t>(rows)) + " rows in " +
                                     std::to_string(batches) + " batches"));
  EXPECT_EQ(Value("SELECT count(*) FILTER (WHERE c = id * 2) FROM shop_item"), "20000");
  EXPECT_THAT(LedgerRows(), ::testing::ElementsAre("shop.0001_initial", "shop.0002_fill_c"));
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE name = '0002_fill_c' AND "
                  "action = 'apply'"),
            "1");
  EXPECT_EQ(Progress(), "");
}

TEST_F(BackfillCliTest, WhatIsNotOneBatchStatementIsRefusedNamingTheStep) {
  const std::string prefix =
      "error: InvalidSpec: step shop.0002_fill (spec.migrations[1]) forward: a back-fill "
      "(kind: Backfill) runs exactly one UPDATE, DELETE or INSERT ... SELECT, again in "
      "transactions of its own until it changes no row; found ";
  const std::pair<std::string, std::string> cases[] = {
      {"UPDATE t SET c = 1 WHERE c IS NULL; UPDATE t SET d = 1", "2 statements"},
      {"ALTER TABLE t ADD COLUMN d int", "`ALTER TABLE t ADD COLUMN d int`"},
      {"BEGIN; UPDATE t SET c = 1; COMMIT", "3 statements"},
  };
  for (const auto& [forward, found] : cases) {
    WriteSteps(
        "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE t (c int, d int)\"}\n"
        "    - {app: shop, name: 0002_fill, dependencies: [shop.0001_initial], kind: Backfill,\n"
        "       forward: \"" +
        forward + "\"}\n");
    const ProcessResult refused = Tidemark({"apply"});
    EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
    EXPECT_THAT(refused.err, HasSubstr(prefix + found +
                                       ". Put other SQL (DDL, several "
                                       "statements, BEGIN/COMMIT) in a step of "
                                       "its own"))
        << Describe(refused);
    EXPECT_FALSE(TableExists("t")) << forward;  // refused before the first step
  }
  WriteSteps("    - {app: shop, name: 0001_fill, kind: Backfill}\n");
  const ProcessResult missing = Tidemark({"apply"});
  EXPECT_EQ(missing.exit_code, 2) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("spec.migrations[0].forward: required for kind: Backfill: "
                                     "the batch statement, run until it changes no row"));
}

// `run --watch --metrics-addr` counts a back-fill's rows and batches, as the controller does.
TEST_F(BackfillCliTest, RunWatchExportsTheBackfillCounters) {
  WriteSteps(Steps("0"));
  const int port = FreeLoopbackPort();
  BackgroundProcess watch(TidemarkArgv({"run", "--watch", "--interval", "100ms", "--metrics-addr",
                                        "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(Eventually([&] {
    return ScrapeMetrics(port).find("tidemark_plan_ready{namespace=\"default\",plan=\"shop\"} 1") !=
           std::string::npos;
  }));
  const std::string metrics = ScrapeMetrics(port);
  EXPECT_THAT(metrics, HasSubstr("tidemark_backfill_rows_total{migration=\"shop.0002_fill_c\","
                                 "namespace=\"default\",plan=\"shop\"} 20000"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_backfill_batches_total{migration=\"shop.0002_fill_c\","
                                 "namespace=\"default\",plan=\"shop\"} 20"));
  ExpectValidExposition(metrics);
  watch.Kill(SIGTERM);
  const ProcessResult ended = watch.Wait();
  EXPECT_EQ(ended.exit_code, 0) << Describe(ended);
  EXPECT_THAT(ended.err, HasSubstr("back-fill done: 20,000 rows in 20 batches, "));
}

TEST_F(BackfillCliTest, PlanShowsTheBackfillAndLintLetsItsUpdateBe) {
  WriteSteps(
      "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE t (id int, c int)\"}\n"
      "    - {app: shop, name: 0002_add_d, dependencies: [shop.0001_initial],\n"
      "       forward: \"ALTER TABLE t ADD COLUMN d int\"}\n"
      "    - {app: shop, name: 0003_fill_d, dependencies: [shop.0002_add_d], kind: Backfill,\n"
      "       forward: \"UPDATE t SET d = c WHERE id IN (SELECT id FROM t WHERE d IS NULL "
      "LIMIT 500)\"}\n");
  const ProcessResult planned = Tidemark({"plan"});
  EXPECT_EQ(planned.exit_code, 0) << Describe(planned);
  EXPECT_THAT(planned.out, HasSubstr("shop.0003_fill_d (back-fill: batches of their own until "
                                     "none changes a row, 100ms apart)"))
      << Describe(planned);
  const ProcessResult linted = Tidemark({"lint"});
  EXPECT_THAT(linted.out + linted.err, Not(HasSubstr("0003_fill_d"))) << Describe(linted);
}

}  // namespace
}  // namespace tidemark::testing
