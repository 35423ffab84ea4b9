// Races: four `tidemark apply` processes and two controllers without leader election work
// on one database at once, round after round. Each step is applied exactly once, and
// nobody meets an error other than waiting for the ledger's lock.
#include <gmock/gmock.h>
#include <signal.h>

#include <sstream>

#include "tests/reliability/cluster_fixture.h"
#include "tests/reliability/step_set.h"

namespace tidemark::testing {
namespace {

constexpr int kSteps = 150;

// The lines of a program's standard error that report an error or a warning (the command
// line's "error:", the controller's JSON log levels), lock waits left out.
std::vector<std::string> ErrorLines(const std::string& err) {
  std::vector<std::string> errors;
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    const bool error = line.rfind("error:", 0) == 0 || line.rfind("warning:", 0) == 0 ||
                       line.find("\"level\":\"error\"") != std::string::npos ||
                       line.find("\"level\":\"warn\"") != std::string::npos;
    const bool lock_wait = line.find("WaitingForLock") != std::string::npos ||
                           line.find("advisory lock") != std::string::npos;
    if (error && !lock_wait) errors.push_back(line);
  }
  return errors;
}

class RaceTest : public ClusterTest {};

TEST_F(RaceTest, FourAppliesAndTwoControllersApplyEachStepOnce) {
  constexpr int kRounds = 4;
  StartOperator();
  StartOperator();
  int exactly_once = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string name = "race-" + std::to_string(round);
    const std::string dsn = NewDatabase();
    CreateDsnSecret(name, dsn);
    // The same steps, from files for the command line and as an object for the controllers.
    WritePlan(StepSetPlan(name, kSteps, ""));
    std::vector<std::unique_ptr<BackgroundProcess>> applies;
    ApplyPlan(
        StepSetPlan(name, kSteps, "{dsnFrom: {secretKeyRef: {name: " + name + ", key: dsn}}}"));
    for (int i = 0; i < 4; ++i) {
      applies.push_back(
          std::make_unique<BackgroundProcess>(TidemarkArgv(dsn, {"apply", "--lock-wait", "120s"})));
    }
    bool clean = true;
    for (auto& apply : applies) {
      const ProcessResult result = apply->Wait();
      EXPECT_EQ(result.exit_code, 0) << "round " << round << "\n" << Describe(result);
      EXPECT_THAT(ErrorLines(result.err), ::testing::IsEmpty()) << Describe(result);
      clean = clean && result.exit_code == 0 && ErrorLines(result.err).empty();
    }
    EXPECT_TRUE(WaitReady(name)) << "round " << round;
    const std::string problems = Join(StepSetProblems(dsn, kSteps, /*converged=*/true));
    EXPECT_EQ(problems, "") << "round " << round;
    if (clean && problems.empty()) ++exactly_once;
    DeletePlan(name);
  }
  // The controllers' logs, once they are stopped: no error but lock waits.
  for (auto& controller : operators_) {
    controller->Kill(SIGTERM);
    const ProcessResult stopped = controller->Wait();
    EXPECT_THAT(ErrorLines(stopped.err), ::testing::IsEmpty());
  }
  operators_.clear();
  Figure("exactly once", std::to_string(exactly_once) + "/" + std::to_string(kRounds) + " rounds");
  EXPECT_EQ(exactly_once, kRounds);
}

}  // namespace
}  // namespace tidemark::testing
