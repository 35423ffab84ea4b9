// What the audit history says about each step, from its rows in any order.
#include "ledger/history.h"

#include <gmock/gmock.h>

namespace tidemark::ledger {
namespace {

HistoryRow Row(int64_t id, const std::string& name, const std::string& action,
               const std::string& error = "") {
  HistoryRow row;
  row.id = id;
  row.step = {"shop", name};
  row.action = action;
  row.direction = action == "revert" ? "backward" : "forward";
  row.checksum = "sum-" + std::to_string(id);
  row.statement_index = static_cast<int>(id % 3);
  row.started_at = "t" + std::to_string(id);
  row.error = error;
  return row;
}

// The words both stores write for a run that succeeded, read back by Summarize.
TEST(HistoryTest, ARunIsNamedByItsDirectionAndWhetherItWasFaked) {
  StepRun run;
  EXPECT_STREQ(HistoryAction(run), "apply");
  run.fake = true;
  EXPECT_STREQ(HistoryAction(run), "fake");
  run.direction = Direction::kBackward;
  EXPECT_STREQ(HistoryAction(run), "fake-revert");
  run.fake = false;
  EXPECT_STREQ(HistoryAction(run), "revert");
  EXPECT_STREQ(HistoryDirection(Direction::kForward), "forward");
  EXPECT_STREQ(HistoryDirection(Direction::kBackward), "backward");
}

TEST(HistoryTest, TheLatestApplyGivesTheChecksum) {
  const History history =
      Summarize({Row(3, "0001", "apply"), Row(1, "0001", "apply"), Row(2, "0001", "revert")});
  EXPECT_EQ(history.checksums, (std::map<StepId, std::string>{{{"shop", "0001"}, "sum-3"}}));
  EXPECT_TRUE(history.dirty.empty());
  EXPECT_TRUE(history.failures.empty());
}

TEST(HistoryTest, ARevertOrAResolveLeavesNoChecksum) {
  const History history = Summarize({Row(1, "0001", "apply"), Row(2, "0001", "revert"),
                                     Row(3, "0002", "fake"), Row(4, "0002", "resolve")});
  EXPECT_TRUE(history.checksums.empty());
}

TEST(HistoryTest, AnUnfinishedStartIsDirtyWithItsLatestError) {
  const History history =
      Summarize({Row(1, "0001", "apply"), Row(2, "0001", "start"),
                 Row(3, "0001", "failure", "first"), Row(4, "0001", "failure", "second")});
  ASSERT_EQ(history.dirty.size(), 1u);
  const DirtyStep& dirty = history.dirty.at({"shop", "0001"});
  EXPECT_TRUE(dirty.forward);
  EXPECT_EQ(dirty.statement_index, 2);
  EXPECT_EQ(dirty.started_at, "t2");
  EXPECT_EQ(dirty.error, "second");
  EXPECT_TRUE(history.checksums.empty());  // the start is newer than the apply
  EXPECT_EQ(history.failures.at({"shop", "0001"}), 2);
}

TEST(HistoryTest, FailuresCountSinceTheLastSuccessOnly) {
  const History history =
      Summarize({Row(1, "0001", "failure"), Row(2, "0001", "failure"), Row(3, "0001", "apply"),
                 Row(4, "0001", "failure"), Row(5, "0002", "failure", "before"),
                 Row(6, "0002", "start"), Row(7, "0003", "failure"), Row(8, "0003", "resolve")});
  EXPECT_EQ(history.failures,
            (std::map<StepId, int>{{{"shop", "0001"}, 1}, {{"shop", "0002"}, 1}}));
  EXPECT_EQ(history.checksums, (std::map<StepId, std::string>{{{"shop", "0001"}, "sum-3"}}));
  // The failure before the start counts, but it is not why the started run stopped.
  EXPECT_TRUE(history.dirty.at({"shop", "0002"}).error.empty());
}

TEST(HistoryTest, AFinishedRunIsNoLongerDirty) {
  const History history = Summarize(
      {Row(1, "0001", "start"), Row(2, "0001", "failure", "x"), Row(3, "0001", "resolve")});
  EXPECT_TRUE(history.dirty.empty());
  EXPECT_TRUE(history.failures.empty());
}

// A non-atomic run that stopped clean (an index build out of its lock budget) is a failure
// that leaves the step as it was before its start, until the next start.
TEST(HistoryTest, AnAbandonedRunCountsAsAFailureButIsNotDirty) {
  const History history =
      Summarize({Row(1, "0001", "start"), Row(2, "0001", "abandoned", "x"), Row(3, "0002", "start"),
                 Row(4, "0002", "abandoned", "y"), Row(5, "0002", "start")});
  EXPECT_EQ(history.dirty.size(), 1u);
  EXPECT_EQ(history.dirty.count({"shop", "0002"}), 1u);
  EXPECT_EQ(history.failures.at({"shop", "0001"}), 1);
  EXPECT_EQ(history.failures.at({"shop", "0002"}), 1);
}

TEST(HistoryTest, ARunnerStartClaimsTheStepUntilItsNextRow) {
  HistoryRow start = Row(2, "0002", "runner-start");
  start.runner_run_id = "Job prod/j (uid 1)";
  start.plan = "prod/shop";
  History history = Summarize({Row(1, "0001", "apply"), start});
  ASSERT_EQ(history.claims.count({"shop", "0002"}), 1u);
  EXPECT_EQ(history.claims.at({"shop", "0002"}).run_id, "Job prod/j (uid 1)");
  EXPECT_EQ(history.claims.at({"shop", "0002"}).plan, "prod/shop");
  EXPECT_EQ(history.claims.at({"shop", "0002"}).since, "t2");
  EXPECT_TRUE(history.dirty.empty());
  for (const char* next : {"apply", "failure", "resolve", "runner-lost"}) {
    EXPECT_TRUE(Summarize({start, Row(3, "0002", next)}).claims.empty()) << next;
  }
  EXPECT_EQ(Summarize({start, Row(3, "0002", "runner-lost")}).failures.size(), 0u);
}

}  // namespace
}  // namespace tidemark::ledger
