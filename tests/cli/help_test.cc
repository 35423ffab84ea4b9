// The help of both programs: `tidemark` lists `operator` but leaves its flags, --help
// included, to tidemark-operator, which declares them.
#include <gmock/gmock.h>

#include <string>

#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HelpTest, TidemarkListsTheOperatorCommand) {
  const ProcessResult help = RunProcess({BuiltProgram("tidemark"), "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, HasSubstr("Usage: tidemark [OPTIONS]"));
  EXPECT_THAT(help.out, HasSubstr("run the Kubernetes controller for MigrationPlans"));
}

TEST(HelpTest, TidemarkOperatorSaysItsOwnName) {
  const ProcessResult help = RunProcess({BuiltProgram("tidemark-operator"), "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, HasSubstr("Usage: tidemark-operator [OPTIONS]"));
  EXPECT_THAT(help.out, HasSubstr("tidemark-operator: declarative database migrations"));
}

// The same flags, whichever program is asked: `tidemark` hands the command over.
TEST(HelpTest, BothProgramsShowTheOperatorFlags) {
  for (const char* program : {"tidemark", "tidemark-operator"}) {
    const ProcessResult help = RunProcess({BuiltProgram(program), "operator", "--help"});
    EXPECT_EQ(help.exit_code, 0) << program << ": " << help.err;
    EXPECT_THAT(help.out, HasSubstr("--kubeconfig")) << program;
    EXPECT_THAT(help.out, HasSubstr("--leader-elect")) << program;
    EXPECT_THAT(help.out, HasSubstr("--log-format")) << program;
    EXPECT_THAT(help.out, Not(HasSubstr("--plan"))) << program;  // the one-shot commands' flag
  }
}

// Flags reach tidemark-operator unparsed, and its checks answer for them.
TEST(HelpTest, TidemarkHandsTheOperatorFlagsOver) {
  const ProcessResult refused =
      RunProcess({BuiltProgram("tidemark"), "operator", "--log-format", "xml"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("--log-format"));
  const ProcessResult bad_resync =
      RunProcess({BuiltProgram("tidemark"), "operator", "--resync", "soon"});
  EXPECT_EQ(bad_resync.exit_code, 2);
  EXPECT_THAT(bad_resync.err, HasSubstr("--resync: soon"));
}

}  // namespace
}  // namespace tidemark::testing
