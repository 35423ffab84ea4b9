// The child-process runner on its own: what it runs (command, appended words, env,
// workingDir), how it ends one that runs too long, and what it keeps of the output.
#include "cli/process_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "resource/objects.h"

namespace tidemark::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<ProcessRunner> Runner(plan::RunnerSpec spec) {
  plan::MigrationPlan plan;
  plan.runner = std::move(spec);
  resource::LoadedFiles files;
  auto runner = ProcessRunner::Make(plan, files);
  EXPECT_TRUE(runner.ok()) << runner.status().message();
  return runner.ok() ? std::move(runner).value() : nullptr;
}

plan::RunnerSpec Command(std::vector<std::string> command) {
  plan::RunnerSpec spec;
  spec.command = std::move(command);
  return spec;
}

plan::EnvVar Literal(std::string name, std::string value) {
  plan::EnvVar var;
  var.name = std::move(name);
  var.value.literal = std::move(value);
  return var;
}

plan::EnvVar From(std::string name, plan::ValueSource source) {
  plan::EnvVar var;
  var.name = std::move(name);
  var.value.from = std::move(source);
  return var;
}

const engine::RunnerTask kApply{engine::RunnerTask::Kind::kApply, {"shop", "0002_backfill"}};

plan::ValueSource EnvSource(std::string variable) {
  plan::ValueSource source;
  source.kind = plan::ValueSource::Kind::kEnv;
  source.env = std::move(variable);
  return source;
}

TEST(ProcessRunnerTest, RunsTheCommandWithTheTaskWordsEnvAndWorkingDir) {
  setenv("TIDEMARK_TEST_INHERITED", "inherited", 1);
  plan::RunnerSpec spec =
      Command({"sh", "-c", "echo \"$0 $* $PWD $ADDED $TIDEMARK_TEST_INHERITED\"", "step"});
  spec.working_dir = "/tmp";
  spec.env.push_back(Literal("ADDED", "added"));
  const engine::RunnerOutcome outcome = Runner(spec)->Run(kApply, {});
  EXPECT_TRUE(outcome.ok) << outcome.failure;
  EXPECT_EQ(outcome.output_tail, "step apply shop 0002_backfill /tmp added inherited");
  EXPECT_GT(outcome.duration_ms, 0);
}

TEST(ProcessRunnerTest, AFailureSaysHowItEnded) {
  EXPECT_EQ(Runner(Command({"sh", "-c", "exit 3"}))->Run(kApply, {}).failure, "exited with code 3");
  EXPECT_EQ(Runner(Command({"sh", "-c", "kill -KILL $$"}))->Run(kApply, {}).failure,
            "was killed by signal 9 (Killed)");
  EXPECT_THAT(Runner(Command({"/no/such/runner"}))->Run(kApply, {}).failure,
              HasSubstr("could not start `/no/such/runner`: No such file or directory; check "
                        "spec.runner.command and workingDir"));
  plan::RunnerSpec elsewhere = Command({"true"});
  elsewhere.working_dir = "/no/such/dir";
  EXPECT_THAT(Runner(elsewhere)->Run(kApply, {}).failure,
              HasSubstr("in /no/such/dir: No such file or directory"));
}

TEST(ProcessRunnerTest, ARunnerThatOutlivesItsTimeoutIsKilledWithWhatItStarted) {
  // The shell ignores SIGTERM: the kill has to come after the grace period.
  plan::RunnerSpec spec = Command({"sh", "-c", "trap '' TERM; echo started; sleep 60 & wait"});
  spec.timeout = std::chrono::milliseconds(300);
  const engine::RunnerOutcome outcome = Runner(spec)->Run(kApply, {});
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.failure, "timed out after 300ms (spec.runner.timeout) and was killed");
  EXPECT_EQ(outcome.output_tail, "started");
  EXPECT_LT(outcome.duration_ms, 1000.0 * static_cast<double>(ProcessRunner::kGrace.count() + 3));
}

TEST(ProcessRunnerTest, AStopRequestEndsTheRunner) {
  std::stop_source stop;
  stop.request_stop();
  const engine::RunnerOutcome outcome =
      Runner(Command({"sleep", "60"}))->Run(kApply, stop.get_token());
  EXPECT_EQ(outcome.failure, "was stopped: tidemark is shutting down");
}

TEST(ProcessRunnerTest, SecretsFromSourcesAreRedacted) {
  setenv("TIDEMARK_TEST_RUNNER_SECRET", "hunter2-secret", 1);
  plan::RunnerSpec spec = Command({"sh", "-c", "echo token=$TOKEN dsn=$DSN; exit 1"});
  spec.env.push_back(From("TOKEN", EnvSource("TIDEMARK_TEST_RUNNER_SECRET")));
  spec.env.push_back(Literal("DSN", "host=db password=plain"));
  const engine::RunnerOutcome outcome = Runner(spec)->Run(kApply, {});
  EXPECT_EQ(outcome.output_tail, "token=*** dsn=host=db password=***");
}

TEST(ProcessRunnerTest, AMissingEnvSourceIsReportedNamingTheField) {
  plan::MigrationPlan plan;
  plan.runner = Command({"true"});
  plan.runner->env.push_back(From("TOKEN", EnvSource("TIDEMARK_TEST_RUNNER_UNSET")));
  resource::LoadedFiles files;
  auto runner = ProcessRunner::Make(plan, files);
  ASSERT_FALSE(runner.ok());
  EXPECT_THAT(runner.status().message(), HasSubstr("spec.runner.env[0] (TOKEN)"));
}

TEST(OutputTailTest, KeepsTheLastLinesBoundedAndValidUtf8) {
  std::string output;
  for (int i = 1; i <= 30; ++i) output += "line " + std::to_string(i) + "\n";
  output += std::string(500, 'x') + "\n" + "bad \xff\xfe byte \xc3\xa9\n\n";
  const std::string tail = engine::OutputTail(output, {}, 5, 100);
  EXPECT_EQ(tail, "line 28\nline 29\nline 30\n" + std::string(97, 'x') +
                      "...\nbad \xef\xbf\xbd\xef\xbf\xbd byte \xc3\xa9");
  EXPECT_THAT(engine::OutputTail("a secret-value b", {"secret-value"}, 5, 100),
              Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace tidemark::cli
