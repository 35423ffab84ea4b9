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

TEST(StatusCodecTest, AnUnfinishedBackfillShowsItsCounts) {
  Outcome outcome;
  EXPECT_FALSE(StatusToJson(ComputeStatus(outcome, 1, {}, "t")).contains("backfill"));
  outcome.backfill = plan::BackfillStatus{{"shop", "0002_fill"}, 12000, 12, 9876.5};
  const nlohmann::ordered_json json = StatusToJson(ComputeStatus(outcome, 1, {}, "t"));
  EXPECT_EQ(json["backfill"].dump(),
            R"({"migration":"shop.0002_fill","rows":12000,"batches":12,"rowsPerSecond":9876})");
}

TEST(StatusCodecTest, LintFindingsSayWhetherAndWhyTheyAreAccepted) {
  Outcome outcome;
  outcome.lint = {{{"shop", "0002"}, "ban-drop-column", plan::Severity::kWarning, "m", 0, ""},
                  {{"shop", "0003"},
                   "require-concurrent-index-creation",
                   plan::Severity::kError,
                   "m (accepted in lintAllow: 40 rows)",
                   0,
                   "40 rows"}};
  const nlohmann::ordered_json json = StatusToJson(ComputeStatus(outcome, 1, {}, "t"));
  ASSERT_EQ(json["lint"].size(), 2u);
  EXPECT_EQ(json["lint"][0]["accepted"], "");
  EXPECT_EQ(json["lint"][1]["migration"], "shop.0003");
  EXPECT_EQ(json["lint"][1]["severity"], "error");
  EXPECT_EQ(json["lint"][1]["accepted"], "40 rows");
}

}  // namespace
}  // namespace tidemark::resource
