// Approval bound to what will run (SPEC 5): `tidemark plan` prints the digest of the
// pending actions, and apply runs only the actions that digest approved.
#include <gmock/gmock.h>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;

class ApprovalTest : public CliTest {
 protected:
  // The digest `tidemark plan` printed, "" when it printed none.
  std::string PlannedDigest(std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), "plan");
    const ProcessResult planned = Tidemark(flags);
    EXPECT_EQ(planned.exit_code, 0) << Describe(planned);
    std::smatch match;
    static const std::regex kLine("Approval digest: (sha256:[0-9a-f]{64})\n");
    return std::regex_search(planned.out, match, kLine) ? match[1].str() : "";
  }

  static std::string Steps(const std::string& label_type) {
    return "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE item (id int)\"}\n"
           "    - {app: shop, name: 0002_label, dependencies: [shop.0001_initial],\n"
           "       forward: \"ALTER TABLE item ADD COLUMN label " +
           label_type + "\"}\n";
  }
};

TEST_F(ApprovalTest, ApplyRunsOnlyWhatTheDigestApproved) {
  WriteSteps(Steps("text"), "  policy: {approval: Required}\n");
  const std::string digest = PlannedDigest();
  ASSERT_FALSE(digest.empty());

  ProcessResult unapproved = Tidemark({"apply"});
  EXPECT_EQ(unapproved.exit_code, 1) << Describe(unapproved);
  EXPECT_THAT(unapproved.err, HasSubstr("not done: WaitingForApproval: waiting for approval of "
                                        "the pending actions"));
  EXPECT_THAT(unapproved.err, HasSubstr("to " + digest));
  EXPECT_FALSE(TableExists("item"));

  // The SQL changes after review: the digest approved before runs nothing.
  WriteSteps(Steps("varchar(20)"), "  policy: {approval: Required}\n");
  const std::string changed = PlannedDigest();
  EXPECT_NE(changed, digest);
  ProcessResult stale = Tidemark({"apply", "--approve", digest});
  EXPECT_EQ(stale.exit_code, 1) << Describe(stale);
  EXPECT_THAT(stale.err, HasSubstr("to " + changed + "; the approved digest " + digest +
                                   " is of other actions"));
  EXPECT_FALSE(TableExists("item"));
  EXPECT_TRUE(LedgerRows().empty());

  ProcessResult approved = Tidemark({"apply", "--approve", changed});
  EXPECT_EQ(approved.exit_code, 0) << Describe(approved);
  EXPECT_THAT(approved.out, HasSubstr("Applying shop.0002_label... OK"));
  EXPECT_EQ(LedgerRows().size(), 2u);
  EXPECT_EQ(PlannedDigest(), "");  // nothing pending, nothing to approve
  EXPECT_EQ(Tidemark({"apply"}).exit_code, 0);
}

TEST_F(ApprovalTest, TheSpecCarriesTheApprovalAndTheStatusTheDigest) {
  WriteSteps(Steps("text"), "  policy: {approval: Required}\n");
  const std::string digest = PlannedDigest();
  ProcessResult waiting = Tidemark({"run"});
  EXPECT_EQ(waiting.exit_code, 1) << Describe(waiting);
  EXPECT_THAT(waiting.out, HasSubstr("approval:\n    digest: " + digest + "\n    approved: false"));
  // Waiting for a person is no error: not Stalled (kstatus reads it as in progress).
  ProcessResult as_json = Tidemark({"run", "-o", "json"});
  const nlohmann::json status = nlohmann::json::parse(as_json.out, nullptr, false)["status"];
  ASSERT_TRUE(status.is_object()) << Describe(as_json);
  std::map<std::string, std::string> conditions;
  for (const nlohmann::json& condition : status["conditions"]) {
    conditions[condition["type"]] =
        condition["status"].get<std::string>() + "/" + condition["reason"].get<std::string>();
  }
  EXPECT_EQ(conditions["Ready"], "False/WaitingForApproval");
  EXPECT_EQ(conditions["Reconciling"], "False/WaitingForApproval");
  EXPECT_EQ(conditions["Stalled"], "False/WaitingForApproval");
  EXPECT_EQ(status["approval"]["digest"], digest);
  EXPECT_EQ(status["summary"]["pending"], 2);
  EXPECT_TRUE(LedgerRows().empty());

  WriteSteps(Steps("text"),
             "  policy: {approval: Required}\n  approvedDigest: \"" + digest + "\"\n");
  ProcessResult ran = Tidemark({"run"});
  EXPECT_EQ(ran.exit_code, 0) << Describe(ran);
  EXPECT_EQ(LedgerRows().size(), 2u);
  EXPECT_THAT(ran.out, HasSubstr("reason: UpToDate"));
}

TEST_F(ApprovalTest, TheDigestFollowsTheActionsOfThePhaseAndTarget) {
  WriteSteps(kExpandContractSteps);
  const std::string all = PlannedDigest();
  const std::string pre = PlannedDigest({"--phase", "pre"});
  const std::string first = PlannedDigest({"--target", "shop.0001_initial"});
  EXPECT_NE(all, pre);
  EXPECT_NE(pre, first);
  // --approve without policy.approval still checks: the digest of all phases is not the
  // digest of the pre-deploy ones.
  ProcessResult mismatched = Tidemark({"apply", "--phase", "pre", "--approve", all});
  EXPECT_EQ(mismatched.exit_code, 1) << Describe(mismatched);
  EXPECT_TRUE(LedgerRows().empty());
  ProcessResult applied = Tidemark({"apply", "--phase", "pre", "--approve", pre});
  EXPECT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_EQ(LedgerRows().size(), 2u);
}

TEST_F(ApprovalTest, SomethingThatIsNoDigestIsRefusedNamingTheField) {
  WriteSteps(Steps("text"));
  ProcessResult flag = Tidemark({"apply", "--approve", "yes"});
  EXPECT_EQ(flag.exit_code, 2) << Describe(flag);
  EXPECT_THAT(flag.err, HasSubstr("--approve yes: not a digest; copy the one `tidemark plan` "
                                  "prints"));
  WriteSteps(Steps("text"), "  approvedDigest: LGTM\n");
  ProcessResult field = Tidemark({"plan"});
  EXPECT_EQ(field.exit_code, 2) << Describe(field);
  EXPECT_THAT(field.err, HasSubstr("spec.approvedDigest: \"LGTM\" is not a digest"));
  WriteSteps(Steps("text"), "  policy: {approval: Always}\n");
  ProcessResult policy = Tidemark({"plan"});
  EXPECT_EQ(policy.exit_code, 2) << Describe(policy);
  EXPECT_THAT(policy.err, HasSubstr("spec.policy.approval"));
  EXPECT_TRUE(LedgerRows().empty());
}

}  // namespace
}  // namespace tidemark::testing
