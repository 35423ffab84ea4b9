// The graph and the desired-state diff: Django's semantics, table by table.
#include "plan/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tidemark::plan {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

StepId Id(const std::string& text) { return *ParseStepId(text); }

Step MakeStep(const std::string& id, std::vector<std::string> deps = {},
              std::vector<std::string> replaces = {}) {
  Step step;
  step.id = Id(id);
  for (const auto& d : deps) step.dependencies.push_back(Id(d));
  for (const auto& r : replaces) step.replaces.push_back(Id(r));
  step.origin = "spec.migrations[" + id + "]";
  return step;
}

std::set<StepId> Ledger(std::vector<std::string> ids) {
  std::set<StepId> out;
  for (const auto& id : ids) out.insert(Id(id));
  return out;
}

// "apply shop.0001" lines of a diff, for compact assertions.
std::vector<std::string> Actions(const DiffOrProblem& result) {
  std::vector<std::string> out;
  const Diff& diff = std::get<Diff>(result);
  for (const Action& a : diff.actions) {
    out.push_back(std::string(ActionName(a.kind)) + " " + a.step->id.ToString());
  }
  return out;
}

Problem ProblemOf(const DiffOrProblem& result) { return std::get<Problem>(result); }

// auth <- shop <- orders, with a second shop step that orders does not need.
std::vector<Step> ShopSteps() {
  return {MakeStep("auth.0001_initial"),
          MakeStep("auth.0002_email", {"auth.0001_initial"}),
          MakeStep("shop.0001_initial", {"auth.0001_initial"}),
          MakeStep("shop.0002_price", {"shop.0001_initial"}),
          MakeStep("shop.0003_stock", {"shop.0002_price"}),
          MakeStep("orders.0001_initial", {"shop.0002_price", "auth.0002_email"})};
}

TEST(GraphTest, EmptyLedgerAppliesEverythingInDjangoOrder) {
  const auto steps = ShopSteps();
  // Django: leaves sorted (auth.0002, orders.0001, shop.0003), each with its ancestors
  // first, larger parents visited first.
  EXPECT_THAT(
      Actions(ComputeDiff(steps, {}, {}, {})),
      ElementsAre("apply auth.0001_initial", "apply auth.0002_email", "apply shop.0001_initial",
                  "apply shop.0002_price", "apply orders.0001_initial", "apply shop.0003_stock"));
}

TEST(GraphTest, FullyAppliedLedgerIsANoOp) {
  const auto steps = ShopSteps();
  const auto ledger = Ledger({"auth.0001_initial", "auth.0002_email", "shop.0001_initial",
                              "shop.0002_price", "shop.0003_stock", "orders.0001_initial"});
  auto result = ComputeDiff(steps, {}, ledger, {});
  EXPECT_TRUE(std::get<Diff>(result).actions.empty());
  EXPECT_EQ(std::get<Diff>(result).applied.size(), 6u);
}

TEST(GraphTest, TargetBackRevertsDependentsFirst) {
  const auto steps = ShopSteps();
  const auto ledger = Ledger({"auth.0001_initial", "auth.0002_email", "shop.0001_initial",
                              "shop.0002_price", "shop.0003_stock", "orders.0001_initial"});
  auto result = ComputeDiff(steps, {{"shop", "0001_initial"}, {"orders", "zero"}}, ledger, {});
  EXPECT_THAT(Actions(result), ElementsAre("revert orders.0001_initial", "revert shop.0003_stock",
                                           "revert shop.0002_price"));
}

TEST(GraphTest, TargetZeroRevertsTheWholeApp) {
  const auto steps = ShopSteps();
  const auto ledger = Ledger({"auth.0001_initial", "shop.0001_initial", "shop.0002_price"});
  auto result = ComputeDiff(steps, {{"shop", "zero"}, {"orders", "zero"}}, ledger, {});
  EXPECT_THAT(Actions(result), ElementsAre("revert shop.0002_price", "revert shop.0001_initial",
                                           "apply auth.0002_email"));
}

TEST(GraphTest, TargetAcceptsAUniquePrefixLikeDjango) {
  const auto steps = ShopSteps();
  auto result = ComputeDiff(steps, {{"shop", "0001"}, {"orders", "zero"}}, {}, {});
  EXPECT_THAT(Actions(result), ElementsAre("apply auth.0001_initial", "apply auth.0002_email",
                                           "apply shop.0001_initial"));
}

TEST(GraphTest, TargetConflictNamesTheStepThatNeedsMore) {
  const auto steps = ShopSteps();
  auto result = ComputeDiff(steps, {{"shop", "0001_initial"}}, {}, {});
  EXPECT_EQ(ProblemOf(result).reason, plan::Reason::kTargetConflict);
  EXPECT_THAT(ProblemOf(result).message, HasSubstr("orders.0001_initial needs shop.0002_price"));
}

TEST(GraphTest, TargetConflictNamesTheTargetsToAddForDjangosMeaning) {
  const auto steps = ShopSteps();
  auto result = ComputeDiff(steps, {{"shop", "0001_initial"}}, {}, {});
  EXPECT_THAT(ProblemOf(result).message,
              HasSubstr("; add {app: orders, migration: zero} to spec.targets (what `manage.py "
                        "migrate shop 0001_initial` reverts), or move the target of shop"));
  // A dependent app that another target already holds is named, not rewritten.
  result = ComputeDiff(steps, {{"shop", "0001_initial"}, {"orders", "0001_initial"}}, {}, {});
  EXPECT_EQ(ProblemOf(result).reason, plan::Reason::kTargetConflict);
  EXPECT_THAT(ProblemOf(result).message, HasSubstr("add a target for app orders that does not "
                                                   "need it, or move the target of shop"));
}

// The command line's --target reads as `manage.py migrate APP NAME`: steps of other apps
// that need a step it reverts are reverted too, before it, and not applied.
struct WithDependentsCase {
  std::string name;
  std::vector<std::string> ledger;
  std::vector<Target> targets;
  std::vector<std::string> actions;  // or, when empty, the start of the conflict's message
  std::string conflict;
};
void PrintTo(const WithDependentsCase& c, std::ostream* out) { *out << c.name; }

class GraphWithDependentsTest : public ::testing::TestWithParam<WithDependentsCase> {};

TEST_P(GraphWithDependentsTest, Diff) {
  const WithDependentsCase& c = GetParam();
  const auto steps = ShopSteps();
  auto result = ComputeDiff(steps, c.targets, Ledger(c.ledger), {});
  if (!c.conflict.empty()) {
    EXPECT_EQ(ProblemOf(result).reason, plan::Reason::kTargetConflict);
    EXPECT_THAT(ProblemOf(result).message, HasSubstr(c.conflict));
    return;
  }
  EXPECT_THAT(Actions(result), ::testing::ElementsAreArray(c.actions));
}

const std::vector<std::string> kAllApplied = {"auth.0001_initial", "auth.0002_email",
                                              "shop.0001_initial", "shop.0002_price",
                                              "shop.0003_stock",   "orders.0001_initial"};

INSTANTIATE_TEST_SUITE_P(
    Table, GraphWithDependentsTest,
    ::testing::Values(
        WithDependentsCase{
            "DependentsOfTheRevertedStepsGoFirst",
            kAllApplied,
            {{"shop", "0001_initial", true}},
            {"revert orders.0001_initial", "revert shop.0003_stock", "revert shop.0002_price"},
            ""},
        WithDependentsCase{"AStepNotNeedingThemStays",
                           kAllApplied,
                           {{"shop", "0002_price", true}},
                           {"revert shop.0003_stock"},
                           ""},
        WithDependentsCase{
            "ZeroRevertsEveryDependentAcrossApps",
            kAllApplied,
            {{"auth", "zero", true}},
            {"revert shop.0003_stock", "revert orders.0001_initial", "revert shop.0002_price",
             "revert shop.0001_initial", "revert auth.0002_email", "revert auth.0001_initial"},
            ""},
        WithDependentsCase{"UnappliedDependentsAreNotApplied",
                           {"auth.0001_initial", "auth.0002_email", "shop.0001_initial"},
                           {{"shop", "0001_initial", true}},
                           {},
                           ""},
        WithDependentsCase{"TheRestOfAnAppNotDependingStillApplies",
                           {"auth.0001_initial", "shop.0001_initial", "shop.0002_price"},
                           {{"shop", "0002_price", true}},
                           {"apply auth.0002_email", "apply orders.0001_initial"},
                           ""},
        WithDependentsCase{"ATargetOfThePlanThatNeedsARevertedStepConflicts",
                           kAllApplied,
                           {{"orders", "0001_initial"}, {"shop", "0001_initial", true}},
                           {},
                           "spec.targets[0] wants app orders at 0001_initial, which needs a "
                           "step that the target shop.0001_initial reverts with its dependents"}),
    [](const ::testing::TestParamInfo<WithDependentsCase>& param) { return param.param.name; });

TEST(GraphTest, UnknownTargetAppAndStep) {
  const auto steps = ShopSteps();
  EXPECT_THAT(ProblemOf(ComputeDiff(steps, {{"billing", "zero"}}, {}, {})).message,
              HasSubstr("spec.targets[0].app"));
  EXPECT_THAT(ProblemOf(ComputeDiff(steps, {{"shop", "0009"}}, {}, {})).message,
              HasSubstr("app shop has no step \"0009\""));
  EXPECT_THAT(ProblemOf(ComputeDiff(steps, {{"shop", "000"}}, {}, {})).message,
              HasSubstr("matches several steps"));
}

TEST(GraphTest, DependencyCycleIsNamed) {
  const std::vector<Step> steps = {MakeStep("a.0001", {"b.0001"}), MakeStep("b.0001", {"a.0001"})};
  const Problem problem = ProblemOf(ComputeDiff(steps, {}, {}, {}));
  EXPECT_EQ(problem.reason, plan::Reason::kDependencyCycle);
  EXPECT_THAT(problem.message, HasSubstr("a.0001 -> b.0001 -> a.0001"));
}

TEST(GraphTest, UnknownDependencyIsNamed) {
  const std::vector<Step> steps = {MakeStep("a.0001", {"auth.0012_missing"})};
  const Problem problem = ProblemOf(ComputeDiff(steps, {}, {}, {}));
  EXPECT_EQ(problem.reason, plan::Reason::kUnknownDependency);
  EXPECT_THAT(problem.message, HasSubstr("a.0001 depends on auth.0012_missing"));
}

TEST(GraphTest, DuplicateStepIsInvalid) {
  const std::vector<Step> steps = {MakeStep("a.0001"), MakeStep("a.0001")};
  EXPECT_THAT(ProblemOf(ComputeDiff(steps, {}, {}, {})).message, HasSubstr("defined twice"));
}

TEST(GraphTest, TwoLeavesInOneAppConflict) {
  const std::vector<Step> steps = {MakeStep("a.0001"), MakeStep("a.0002_x", {"a.0001"}),
                                   MakeStep("a.0002_y", {"a.0001"})};
  const Problem problem = ProblemOf(ComputeDiff(steps, {}, {}, {}));
  EXPECT_EQ(problem.reason, plan::Reason::kInvalidSpec);
  EXPECT_THAT(problem.message, HasSubstr("0002_x, 0002_y in a"));
  EXPECT_THAT(problem.message, HasSubstr("--merge"));
}

TEST(GraphTest, FakeMarksApplies) {
  const std::vector<Step> steps = {MakeStep("a.0001"), MakeStep("a.0002", {"a.0001"})};
  EXPECT_THAT(Actions(ComputeDiff(steps, {}, {}, {Id("a.0001")})),
              ElementsAre("fake a.0001", "apply a.0002"));
}

// A squash replacing a.0001..a.0002, with a.0003 depending on the replaced a.0002.
std::vector<Step> SquashSteps() {
  return {MakeStep("a.0001"), MakeStep("a.0002", {"a.0001"}),
          MakeStep("a.0001_squashed_0002", {}, {"a.0001", "a.0002"}),
          MakeStep("a.0003", {"a.0002"})};
}

TEST(GraphTest, SquashStandsForItsStepsOnAFreshDatabase) {
  const auto steps = SquashSteps();
  auto result = ComputeDiff(steps, {}, {}, {});
  EXPECT_THAT(Actions(result), ElementsAre("apply a.0001_squashed_0002", "apply a.0003"));
}

TEST(GraphTest, SquashCountsAsAppliedWhenAllItReplacesAre) {
  const auto steps = SquashSteps();
  auto result = ComputeDiff(steps, {}, Ledger({"a.0001", "a.0002"}), {});
  EXPECT_THAT(Actions(result), ElementsAre("apply a.0003"));
  EXPECT_TRUE(std::get<Diff>(result).applied.count(Id("a.0001_squashed_0002")));
}

TEST(GraphTest, PartlyAppliedSquashFallsBackToTheReplacedSteps) {
  const auto steps = SquashSteps();
  auto result = ComputeDiff(steps, {}, Ledger({"a.0001"}), {});
  EXPECT_THAT(Actions(result), ElementsAre("apply a.0002", "apply a.0003"));
}

TEST(GraphTest, PartlyAppliedSquashWithoutReplacedStepsIsInvalid) {
  const std::vector<Step> steps = {MakeStep("a.0001_squashed_0002", {}, {"a.0001", "a.0002"})};
  EXPECT_THAT(ProblemOf(ComputeDiff(steps, {}, Ledger({"a.0001"}), {})).message,
              HasSubstr("partly applied"));
}

TEST(GraphTest, UnknownLedgerRowsOfThePlansAppsAreReported) {
  const auto steps = SquashSteps();
  // legacy.* belongs to another plan sharing the ledger (or to an app not managed here).
  auto result = ComputeDiff(steps, {}, Ledger({"a.0001", "a.0000_removed", "legacy.0001_old"}), {});
  EXPECT_THAT(std::get<Diff>(result).unknown_applied, ElementsAre(Id("a.0000_removed")));
}

TEST(GraphTest, DisplayOrderFollowsEachAppsGraph) {
  const auto steps = ShopSteps();
  const Diff diff = std::get<Diff>(ComputeDiff(steps, {}, {}, {}));
  std::vector<std::string> shown;
  for (const Step* step : diff.nodes) shown.push_back(step->id.ToString());
  EXPECT_THAT(shown, ElementsAre("auth.0001_initial", "auth.0002_email", "orders.0001_initial",
                                 "shop.0001_initial", "shop.0002_price", "shop.0003_stock"));
}

// Which phase may depend on which: only a pre-deploy step needing a post-deploy one (also
// through the squash that replaces it) is refused, naming both.
TEST(GraphTest, PreDeployStepCannotDependOnPostDeployStep) {
  struct Case {
    Phase dependency;
    Phase dependent;
    bool through_squash;
    bool valid;
  };
  const Case cases[] = {
      {Phase::kPreDeploy, Phase::kPreDeploy, false, true},
      {Phase::kPreDeploy, Phase::kPostDeploy, false, true},
      {Phase::kPostDeploy, Phase::kPostDeploy, false, true},
      {Phase::kPostDeploy, Phase::kPreDeploy, false, false},
      {Phase::kPostDeploy, Phase::kPreDeploy, true, false},
      {Phase::kPreDeploy, Phase::kPreDeploy, true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(PhaseName(c.dependency)) + " <- " + PhaseName(c.dependent) +
                 (c.through_squash ? " (squash)" : ""));
    // The squash stands alone once the steps it replaces are gone from the plan.
    std::vector<Step> steps;
    if (c.through_squash) {
      steps = {
          MakeStep("shop.0001_squashed_0002", {}, {"shop.0001_initial", "shop.0002_drop_old"})};
    } else {
      steps = {MakeStep("shop.0001_initial"),
               MakeStep("shop.0002_drop_old", {"shop.0001_initial"})};
    }
    steps.back().phase = c.dependency;
    steps.push_back(MakeStep("orders.0001_initial", {"shop.0002_drop_old"}));
    steps.back().phase = c.dependent;
    const DiffOrProblem result = ComputeDiff(steps, {}, {}, {});
    if (c.valid) {
      EXPECT_TRUE(std::holds_alternative<Diff>(result)) << ProblemOf(result).message;
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<Problem>(result));
    const Problem problem = ProblemOf(result);
    EXPECT_EQ(problem.reason, Reason::kInvalidSpec);
    const std::string dependency =
        c.through_squash ? "shop.0001_squashed_0002" : "shop.0002_drop_old";
    EXPECT_EQ(problem.message,
              "spec.migrations[orders.0001_initial].dependencies: pre-deploy step "
              "orders.0001_initial depends on post-deploy step " +
                  dependency +
                  ", which runs only after the app's rollout; make orders.0001_initial "
                  "PostDeploy too, or " +
                  dependency + " PreDeploy");
  }
}

TEST(ValidateTest, FakeMustNameAStep) {
  MigrationPlan plan;
  plan.migrations = {MakeStep("a.0001")};
  plan.fake = {Id("a.0002")};
  auto problem = Validate(plan);
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->message, HasSubstr("spec.fake[0]"));
}

}  // namespace
}  // namespace tidemark::plan
