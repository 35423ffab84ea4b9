// Phases (SPEC 4, docs/plan-format.md): `apply --phase pre` before the deploy, `--phase post`
// after it, `check --phase pre` as the deploy's gate, and the phase shown by status and plan.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class PhaseTest : public CliTest {
 protected:
  bool ColumnExists(const std::string& column) const {
    return Value(
               "SELECT count(*) FROM information_schema.columns WHERE table_name = "
               "'shop_item' AND column_name = '" +
               column + "'") == "1";
  }
};

TEST_F(PhaseTest, PreThenPostAroundTheDeploy) {
  WriteSteps(kExpandContractSteps);
  ProcessResult status = Tidemark({"status"});
  ASSERT_EQ(status.exit_code, 0) << Describe(status);
  EXPECT_THAT(status.out, HasSubstr("shop\n [ ] 0001_initial\n [ ] 0002_item_title\n"
                                    " [ ] 0003_drop_label (post-deploy)\n"));
  ProcessResult plan = Tidemark({"plan"});
  EXPECT_THAT(plan.out, HasSubstr("  apply shop.0002_item_title\n"
                                  "  apply shop.0003_drop_label (post-deploy)\n"));
  EXPECT_EQ(Tidemark({"check", "--phase", "pre"}).exit_code, 1);

  ProcessResult pre = Tidemark({"apply", "--phase", "pre"});
  ASSERT_EQ(pre.exit_code, 0) << Describe(pre);
  EXPECT_THAT(pre.out, HasSubstr("[2/2] Applying shop.0002_item_title... OK"));
  EXPECT_THAT(pre.out, HasSubstr("  1 held for the other --phase:\n"
                                 "    apply shop.0003_drop_label (post-deploy)\n"));
  EXPECT_THAT(LedgerRows(), ElementsAre("shop.0001_initial", "shop.0002_item_title"));
  EXPECT_TRUE(ColumnExists("label")) << "the old pods still read it";

  // The deploy's gate: the pre-deploy part is done, the whole plan is not.
  ProcessResult gate = Tidemark({"check", "--phase", "pre"});
  EXPECT_EQ(gate.exit_code, 0) << Describe(gate);
  EXPECT_THAT(gate.out, HasSubstr("default/shop: 0 pending\n  1 held for the other --phase:\n"));
  EXPECT_EQ(Tidemark({"check"}).exit_code, 1);
  EXPECT_EQ(Tidemark({"check", "--phase", "post"}).exit_code, 1);
  ProcessResult again = Tidemark({"apply", "--phase", "pre"});
  EXPECT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.out, HasSubstr("No migrations to apply."));

  ProcessResult post = Tidemark({"apply", "--phase", "post"});
  ASSERT_EQ(post.exit_code, 0) << Describe(post);
  EXPECT_THAT(post.out, HasSubstr("[1/1] Applying shop.0003_drop_label... OK"));
  EXPECT_THAT(post.out, Not(HasSubstr("held")));
  EXPECT_FALSE(ColumnExists("label"));
  ProcessResult done = Tidemark({"check"});
  EXPECT_EQ(done.exit_code, 0) << Describe(done);
}

TEST_F(PhaseTest, PostBeforePreIsRefusedWithNothingDone) {
  WriteSteps(kExpandContractSteps);
  ProcessResult post = Tidemark({"apply", "--phase", "post"});
  EXPECT_EQ(post.exit_code, 1) << Describe(post);
  EXPECT_THAT(post.err, HasSubstr("PhaseOrder: --phase post: apply pre-deploy step "
                                  "shop.0001_initial first: run `tidemark apply --phase pre` "
                                  "before, or --phase all"));
  EXPECT_THAT(LedgerRows(), IsEmpty());
  EXPECT_FALSE(TableExists("shop_item"));
}

TEST_F(PhaseTest, AllIsTheDefault) {
  WriteSteps(kExpandContractSteps);
  ProcessResult all = Tidemark({"apply", "--phase", "all"});
  ASSERT_EQ(all.exit_code, 0) << Describe(all);
  EXPECT_THAT(all.out, HasSubstr("[3/3] Applying shop.0003_drop_label... OK"));
  ProcessResult json = Tidemark({"status", "-o", "json"});
  const auto doc = nlohmann::json::parse(json.out);
  ASSERT_EQ(doc["steps"].size(), 3u);
  EXPECT_EQ(doc["steps"][0]["phase"], "PreDeploy");
  EXPECT_EQ(doc["steps"][2]["phase"], "PostDeploy");
}

TEST_F(PhaseTest, PreDeployRevertWaitsForPostDeployReverts) {
  WriteSteps(kExpandContractSteps);
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  // Going back to 0001 reverts the post-deploy 0003 before the pre-deploy 0002.
  ProcessResult pre =
      Tidemark({"apply", "--phase", "pre", "--target", "shop.0001_initial", "--allow-revert"});
  EXPECT_EQ(pre.exit_code, 1) << Describe(pre);
  EXPECT_THAT(pre.err, HasSubstr("PhaseOrder: --phase pre: revert post-deploy step "
                                 "shop.0003_drop_label first: run `tidemark apply --phase post`"));
  EXPECT_EQ(LedgerRows().size(), 3u);
}

TEST_F(PhaseTest, BadPhasesAreInvalidInput) {
  WriteSteps(
      "    - {app: shop, name: 0001_initial, phase: PostDeploy, forward: \"SELECT 1\"}\n"
      "    - {app: shop, name: 0002_next, dependencies: [shop.0001_initial], forward: \"SELECT "
      "1\"}\n");
  ProcessResult invalid = Tidemark({"apply"});
  EXPECT_EQ(invalid.exit_code, 2) << Describe(invalid);
  EXPECT_THAT(invalid.err,
              HasSubstr("InvalidSpec: spec.migrations[1].dependencies: pre-deploy step "
                        "shop.0002_next depends on post-deploy step shop.0001_initial"));
  EXPECT_FALSE(TableExists("django_migrations"));

  WriteSteps("    - {app: shop, name: 0001_initial, phase: Later, forward: \"SELECT 1\"}\n");
  ProcessResult unknown = Tidemark({"check"});
  EXPECT_EQ(unknown.exit_code, 2) << Describe(unknown);
  EXPECT_THAT(unknown.err, HasSubstr("spec.migrations[0].phase: must be one of PreDeploy, "
                                     "PostDeploy (got \"Later\")"));

  WriteSteps(kExpandContractSteps);
  ProcessResult flag = Tidemark({"apply", "--phase", "later"});
  EXPECT_EQ(flag.exit_code, 2) << Describe(flag);
  EXPECT_THAT(flag.err, HasSubstr("--phase"));
  EXPECT_THAT(LedgerRows(), IsEmpty());
}

}  // namespace
}  // namespace tidemark::testing
