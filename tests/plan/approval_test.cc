// The approval digest: one value for exactly the actions that would run, and a different
// one as soon as anything of them changes.
#include "plan/approval.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan/status.h"

namespace tidemark::plan {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

Step MakeStep(const std::string& name, const std::string& forward, const std::string& backward) {
  Step step;
  step.id = {"shop", name};
  step.forward = forward;
  step.backward = backward;
  return step;
}

class ApprovalDigestTest : public ::testing::Test {
 protected:
  std::string Digest(bool fake_all = false) const {
    std::vector<Action> actions;
    for (const Step& step : steps_) actions.push_back({ActionKind::kApply, &step});
    return ApprovalDigest(actions, fake_all);
  }

  std::vector<Step> steps_ = {MakeStep("0001_initial", "CREATE TABLE t (id int)", "DROP TABLE t"),
                              MakeStep("0002_label", "ALTER TABLE t ADD label text", "")};
};

TEST_F(ApprovalDigestTest, IsStableAndShapedAsDocumented) {
  const std::string digest = Digest();
  EXPECT_THAT(digest, MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_TRUE(IsApprovalDigest(digest));
  EXPECT_EQ(Digest(), digest);
  EXPECT_EQ(ApprovalDigest({}, false), "");
}

TEST_F(ApprovalDigestTest, ChangesWithAnythingThatWouldRun) {
  const std::string approved = Digest();
  std::set<std::string> seen = {approved};
  const auto changed = [&](const char* what) {
    const std::string digest = Digest();
    EXPECT_NE(digest, approved) << what;
    EXPECT_TRUE(seen.insert(digest).second) << what << " gave a digest seen before";
    steps_ = {MakeStep("0001_initial", "CREATE TABLE t (id int)", "DROP TABLE t"),
              MakeStep("0002_label", "ALTER TABLE t ADD label text", "")};
  };
  steps_[1].forward = "ALTER TABLE t ADD label varchar(10)";
  changed("the SQL of a step");
  steps_[1].forward += " ";
  changed("one more space in the SQL");
  std::swap(steps_[0], steps_[1]);
  changed("the order");
  steps_[1].id.name = "0002_title";
  changed("a step's name");
  steps_[1].id.app = "billing";
  changed("a step's app");
  steps_[1].atomic = false;
  changed("a step's transaction");
  steps_[1].python = true;
  changed("Python code");
  steps_[1].kind = StepKind::kBackfill;
  changed("running the SQL as a back-fill");
  steps_[1].kind = StepKind::kBackfill;
  steps_[1].backfill.batch_delay = std::chrono::seconds(1);
  changed("a back-fill's pause");
  steps_[1].kind = StepKind::kBackfill;
  steps_[1].backfill.max_batches = 10;
  changed("a back-fill's maxBatches");
  steps_.pop_back();
  changed("one action fewer");
  EXPECT_NE(Digest(/*fake_all=*/true), approved) << "recording instead of running";
  // Backward SQL is not run by an apply: changing it keeps the approval of the applies.
  steps_[0].backward = "DROP TABLE t CASCADE";
  EXPECT_EQ(Digest(), approved);
}

TEST_F(ApprovalDigestTest, ARevertIsBoundToItsBackwardSql) {
  std::vector<Action> reverts = {{ActionKind::kRevert, &steps_[0]}};
  const std::string approved = ApprovalDigest(reverts, false);
  EXPECT_NE(approved, ApprovalDigest({{ActionKind::kApply, &steps_[0]}}, false));
  steps_[0].backward = "DROP TABLE t CASCADE";
  EXPECT_NE(ApprovalDigest(reverts, false), approved);
}

TEST(ApprovalShapeTest, OnlyDigestsAsTidemarkPrintsThem) {
  EXPECT_FALSE(IsApprovalDigest(""));
  EXPECT_FALSE(IsApprovalDigest("sha256:"));
  EXPECT_FALSE(IsApprovalDigest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsApprovalDigest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(IsApprovalDigest("md5:" + std::string(64, 'a')));
  EXPECT_TRUE(IsApprovalDigest("sha256:" + std::string(64, 'a')));
}

TEST(ApprovalStatusTest, WaitingForApprovalIsNotStalled) {
  Outcome outcome;
  outcome.pending.push_back({RecordedAction::kApply, {"shop", "0002_label"}});
  outcome.idle_reason = Reason::kWaitingForApproval;
  outcome.approval = Approval{"sha256:" + std::string(64, 'b'), "sha256:" + std::string(64, 'a')};
  const PlanStatus status = ComputeStatus(outcome, 1, {}, "t");
  for (const char* type : {"Ready", "Reconciling", "Stalled"}) {
    ASSERT_NE(status.Find(type), nullptr) << type;
    EXPECT_EQ(status.Find(type)->status, "False") << type;
    EXPECT_EQ(status.Find(type)->reason, "WaitingForApproval") << type;
  }
  const std::string& message = status.Find("Ready")->message;
  EXPECT_THAT(message, HasSubstr("1 step pending, next: apply shop.0002_label"));
  EXPECT_THAT(message, HasSubstr("set spec.approvedDigest (CLI: apply --approve) to sha256:bbbb"));
  EXPECT_THAT(message, HasSubstr("the approved digest sha256:aaaa"));
  EXPECT_THAT(message, HasSubstr("is of other actions"));
  ASSERT_TRUE(status.approval);
  EXPECT_FALSE(status.approval->Approved());
}

}  // namespace
}  // namespace tidemark::plan
