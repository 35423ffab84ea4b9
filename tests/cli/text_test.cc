// Text from the user comes back out valid and bounded: a failing statement with multi-byte
// characters where status and messages cut it, bytes that are not UTF-8, huge plans.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TextTest : public CliTest {};

// "é" is two bytes; after the 35 bytes of the prefix every odd offset starts one, so the
// message's cut (120 bytes) and the status's (200 bytes) both fall inside a character.
std::string FailingInsertWithAccents() {
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xC3\xA9";
  return "INSERT INTO missing_table VALUES ('" + accents + "')";
}

TEST_F(TextTest, MultiByteCharacterAtTheCutOfAFailingStatementGivesValidJson) {
  WriteSteps("    - {app: a, name: \"0001\", forward: \"" + FailingInsertWithAccents() + "\"}\n");
  ProcessResult run = Tidemark({"run", "-o", "json"});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  const auto document = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(document.is_discarded()) << run.out;
  const nlohmann::json& failure = document["status"]["failure"];
  const std::string text = failure["statement"]["text"].get<std::string>();
  EXPECT_LE(text.size(), 200u);
  // 35 + 2 * 81 bytes, then "...": the old cut at byte 200 split the 83rd "é".
  EXPECT_EQ(text, FailingInsertWithAccents().substr(0, 35 + 2 * 81) + "...");
  EXPECT_EQ(failure["sqlState"], "42P01");
  // The message quotes the statement's start, cut the same way; stderr is valid UTF-8 too.
  EXPECT_THAT(run.err, HasSubstr("MigrationFailed: step a.0001 failed at statement 1 `" +
                                 FailingInsertWithAccents().substr(0, 35 + 2 * 41) + "...`"));
  EXPECT_THAT(run.err, Not(HasSubstr("\xC3`")));
}

}  // namespace
}  // namespace tidemark::testing
