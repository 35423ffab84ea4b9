// The status as the CRD stores it, and the conditions read back from it.
#include "resource/status_codec.h"

#include <gtest/gtest.h>

namespace tidemark::resource {
namespace {

using plan::ComputeStatus;
using plan::Outcome;
using plan::PlanStatus;

TEST(StatusCodecTest, SummaryCountsEveryPendingStep) {
  Outcome outcome;
  for (int i = 0; i < 120; ++i)
    outcome.pending.push_back({plan::RecordedAction::kApply, {"a", std::to_string(i)}});
  outcome.idle_reason = plan::Reason::kDryRun;
  const nlohmann::ordered_json json = StatusToJson(ComputeStatus(outcome, 1, {}, "t"));
  EXPECT_EQ(json["summary"]["pending"], 120);
  EXPECT_EQ(json["pending"].size(), plan::kMaxPendingListed);
}

TEST(StatusCodecTest, ConditionsRoundTripKeepTransitionTimes) {
  Outcome stalled;
  stalled.stalled = plan::Problem{plan::Reason::kMigrationFailed, "x"};
  const PlanStatus stored = ComputeStatus(stalled, 2, {}, "2026-01-03T00:00:00Z");
  const auto restored = ConditionsFromJson(StatusToJson(stored));
  ASSERT_EQ(restored.size(), stored.conditions.size());
  EXPECT_EQ(restored[0].observed_generation, 2);
  EXPECT_EQ(ComputeStatus(stalled, 2, restored, "later").Find("Stalled")->last_transition_time,
            "2026-01-03T00:00:00Z");
  EXPECT_TRUE(ConditionsFromJson(nlohmann::ordered_json::array()).empty());
}

TEST(StatusCodecTest, DriftAndFailureReachTheJson) {
  Outcome outcome;
  outcome.drift.checksum_mismatches = {{"shop", "0001_initial"}};
  outcome.failure =
      plan::StepFailure{{"shop", "0002"}, 1, std::string(300, 'x'), "42P01", "no table", "t", 2};
  const nlohmann::ordered_json json = StatusToJson(ComputeStatus(outcome, 1, {}, "t"));
  EXPECT_EQ(json["drift"]["checksumMismatches"][0], "shop.0001_initial");
  EXPECT_EQ(json["failure"]["statement"]["index"], 1);
  EXPECT_EQ(json["failure"]["statement"]["text"].get<std::string>().size(), 200u);
  EXPECT_EQ(json["failure"]["sqlState"], "42P01");
  EXPECT_EQ(json["failure"]["attempts"], 2);
}

}  // namespace
}  // namespace tidemark::resource
