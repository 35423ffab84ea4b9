// `tidemark run --watch`: keeps reconciling as the files change, and serves /metrics.
#include <gmock/gmock.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;

bool EventuallyContains(int port, const std::string& text) {
  return Eventually([&] { return ScrapeMetrics(port).find(text) != std::string::npos; });
}

class WatchTest : public CliTest {};

TEST_F(WatchTest, FollowsFileChangesAndServesMetrics) {
  const std::string first =
      "    - {app: a, name: \"0001\", forward: \"CREATE TABLE t1 (id int)\"}\n";
  WriteSteps(first);
  const int port = FreeLoopbackPort();
  BackgroundProcess watch(TidemarkArgv({"run", "--watch", "--interval", "100ms", "--metrics-addr",
                                        "127.0.0.1:" + std::to_string(port)}));
  ASSERT_TRUE(
      EventuallyContains(port, "tidemark_plan_ready{namespace=\"default\",plan=\"shop\"} 1"));
  EXPECT_THAT(ScrapeMetrics(port),
              HasSubstr("tidemark_steps_total{action=\"apply\",result=\"success\"} 1"));

  WriteSteps(first +
             "    - {app: a, name: \"0002\", dependencies: [a.0001], forward: \"CREATE "
             "TABLE t2 (id int)\"}\n");
  ASSERT_TRUE(
      EventuallyContains(port, "tidemark_steps_total{action=\"apply\",result=\"success\"} 2"));
  EXPECT_TRUE(TableExists("t2"));

  ExpectValidExposition(ScrapeMetrics(port));

  watch.Kill(SIGTERM);
  const ProcessResult ended = watch.Wait();
  EXPECT_EQ(ended.exit_code, 0) << Describe(ended);
  EXPECT_THAT(ended.out, HasSubstr("reason: UpToDate"));
}

// `tidemark` itself links no HTTP or TLS code (that is what keeps one-shot commands small);
// serving /metrics is handed to tidemark-operator, and its absence is explained.
TEST_F(WatchTest, ServingMetricsNeedsTidemarkOperatorBesideTidemark) {
  const ProcessResult linked = RunProcess({"objdump", "-p", BuiltProgram("tidemark")});
  ASSERT_EQ(linked.exit_code, 0) << Describe(linked);
  EXPECT_THAT(linked.out, HasSubstr("NEEDED               libpq.so.5"));
  EXPECT_THAT(linked.out, ::testing::Not(HasSubstr("httplib")));
  EXPECT_THAT(linked.out, ::testing::Not(HasSubstr("libssl")));

  WriteSteps("    - {app: a, name: \"0001\", forward: \"CREATE TABLE t1 (id int)\"}\n");
  const std::string alone = dir_ + "/alone/tidemark";
  std::filesystem::create_directories(dir_ + "/alone");
  std::filesystem::copy_file(BuiltProgram("tidemark"), alone);
  std::vector<std::string> argv = TidemarkArgv({"run", "--watch", "--metrics-addr", "127.0.0.1:0"});
  argv[0] = alone;
  const ProcessResult refused = RunProcess(argv);
  EXPECT_EQ(refused.exit_code, 2) << Describe(refused);
  EXPECT_THAT(refused.err, HasSubstr("install tidemark-operator beside tidemark"));
  EXPECT_FALSE(TableExists("t1"));
}

}  // namespace
}  // namespace tidemark::testing
