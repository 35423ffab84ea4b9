// Crash: `tidemark apply` and `tidemark operator` killed with SIGKILL at random points of a
// long apply. Right after each kill the ledger, the history and the schema agree (nothing
// half-applied), and the restart converges with every step applied exactly once.
#include <gmock/gmock.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "tests/reliability/cluster_fixture.h"
#include "tests/reliability/step_set.h"

namespace tidemark::testing {
namespace {

constexpr int kSteps = 150;

using Clock = std::chrono::steady_clock;

int ElapsedMs(Clock::time_point since) {
  return static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

// The steps in the ledger, read over one session so that it can be polled every few
// milliseconds however busy the machine (a snapshot of StepSetProblems takes far longer, in
// which a controller applies dozens of steps); 0 while the ledger does not exist.
class LedgerCount {
 public:
  explicit LedgerCount(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {}
  ~LedgerCount() { PQfinish(conn_); }
  LedgerCount(const LedgerCount&) = delete;
  LedgerCount& operator=(const LedgerCount&) = delete;
  int Get() {
    PGresult* result = PQexec(conn_, "SELECT count(*) FROM django_migrations WHERE app = 'r'");
    const int count =
        PQresultStatus(result) == PGRES_TUPLES_OK ? std::atoi(PQgetvalue(result, 0, 0)) : 0;
    PQclear(result);
    return count;
  }

 private:
  PGconn* conn_;
};

class CrashTest : public ReliabilityTest {};

// 100 kills, two per database: the first run is killed, then its restart, at a random
// point of what is left; a third run goes to the end. After every kill the database is
// consistent; after the last restart it has converged.
TEST_F(CrashTest, ApplyKilledAtRandomPointsConvergesEachTime) {
  constexpr int kKills = 100, kKillsPerDatabase = 2;
  WritePlan(StepSetPlan("crash", kSteps, ""));
  // One apply undisturbed: how long the kills have to land in.
  const std::string calibration = NewDatabase();
  const auto start = Clock::now();
  const ProcessResult clean = RunProcess(TidemarkArgv(calibration, {"apply"}));
  const int full_ms = ElapsedMs(start);
  ASSERT_EQ(clean.exit_code, 0) << Describe(clean);
  ASSERT_EQ(Join(StepSetProblems(calibration, kSteps, /*converged=*/true)), "");
  DropDatabase(calibration);
  Figure("full apply ms", std::to_string(full_ms));

  int consistent = 0, mid_run = 0, converged = 0;
  const int databases = kKills / kKillsPerDatabase;
  for (int round = 0; round < databases; ++round) {
    const std::string dsn = NewDatabase();
    std::string context = "round " + std::to_string(round);
    for (int kill = 0; kill < kKillsPerDatabase; ++kill) {
      // Within what is left of the apply, with its start-up.
      const int left_ms = 50 + full_ms * (kSteps - AppliedSteps(dsn)) / kSteps;
      const int delay_ms = Uniform(0, left_ms);
      context += ", killed after " + std::to_string(delay_ms) + " ms";
      BackgroundProcess apply(TidemarkArgv(dsn, {"apply", "--lock-wait", "60s"}));
      usleep(delay_ms * 1000);
      apply.Kill(SIGKILL);
      if (apply.Wait().exit_code == 128 + SIGKILL) ++mid_run;
      // The killed session's backend may still be finishing a statement: what it shows is
      // consistent all the same.
      const std::string problems = Join(StepSetProblems(dsn, kSteps, /*converged=*/false));
      EXPECT_EQ(problems, "") << context;
      if (problems.empty()) ++consistent;
    }
    const ProcessResult restart = RunProcess(TidemarkArgv(dsn, {"apply", "--lock-wait", "60s"}));
    const std::vector<std::string> problems = StepSetProblems(dsn, kSteps, /*converged=*/true);
    if (restart.exit_code == 0 && problems.empty()) {
      ++converged;
    } else {
      ADD_FAILURE() << context << ": the restart did not converge\n"
                    << Join({problems.begin(),
                             problems.begin() + std::min<size_t>(problems.size(), 5)})
                    << Describe(restart);
    }
    DropDatabase(dsn);
  }
  Figure("kills", std::to_string(kKills) + " (" + std::to_string(mid_run) + " mid-run)");
  Figure("consistent after a kill", std::to_string(consistent) + "/" + std::to_string(kKills));
  Figure("converged", std::to_string(converged) + "/" + std::to_string(databases));
  EXPECT_EQ(converged, databases);
  // Kills that all landed after the end (or before the start) would prove nothing; about
  // 60 of 100 land mid-run (the restart's kill often comes after its shorter run ended).
  EXPECT_GT(mid_run, kKills / 3);
}

// The controller killed while it reconciles the step set, restarted each time: 100 kills,
// four per plan (each plan its own database), each at a random point of what is left of
// its reconcile (a random count of steps in the ledger), then one restart that goes to the
// end. After every kill the database is
// consistent; the last restart makes the plan Ready with every step applied once.
class ControllerCrashTest : public ClusterTest {};

TEST_F(ControllerCrashTest, KilledMidReconcileConvergesEachTime) {
  constexpr int kKills = 100, kKillsPerPlan = 4;
  auto plan_of = [](const std::string& name) {
    return StepSetPlan(name, kSteps, "{dsnFrom: {secretKeyRef: {name: " + name + ", key: dsn}}}");
  };
  const auto test_start = Clock::now();
  // One reconcile undisturbed, for the figures: from the controller's /healthz (the plan
  // there before it started) to its last step in the ledger.
  const std::string calibration = NewDatabase();
  CreateDsnSecret("calibration", calibration);
  ApplyPlan(plan_of("calibration"));
  StartOperator();
  const auto start = Clock::now();
  while (AppliedSteps(calibration) < kSteps && ElapsedMs(start) < 120'000) usleep(5'000);
  const int full_ms = ElapsedMs(start);
  ASSERT_TRUE(WaitReady("calibration"));
  ASSERT_EQ(Join(StepSetProblems(calibration, kSteps, /*converged=*/true)), "");
  DeletePlan("calibration");
  DropDatabase(calibration);
  KillOperators();
  Figure("full reconcile ms", std::to_string(full_ms));

  // mid_reconcile: steps were left when it was killed; applying: and it had applied some
  // since its start (not killed in its start-up).
  int converged = 0, consistent = 0, mid_reconcile = 0, applying = 0;
  const int plans = kKills / kKillsPerPlan;
  for (int round = 0; round < plans; ++round) {
    const std::string name = "crash-" + std::to_string(round);
    const std::string dsn = NewDatabase();
    CreateDsnSecret(name, dsn);
    ApplyPlan(plan_of(name));
    std::string context = "plan " + name;
    LedgerCount ledger(dsn);
    for (int kill = 0; kill < kKillsPerPlan; ++kill) {
      StartOperator();
      // At a random point of what is left: once the ledger holds a random number of steps
      // between what it had (a kill in the start-up) and all but one, the controller in the
      // statements of the step after (the check's polling sets where in them).
      const int applied = std::max(AppliedSteps(dsn), 0);
      const int target = Uniform(std::min(applied, kSteps - 1), kSteps - 1);
      context += ", killed at " + std::to_string(target) + " steps";
      const auto waiting = Clock::now();
      while (ledger.Get() < target && ElapsedMs(waiting) < 120'000) usleep(1'000);
      KillOperators();
      const int applied_at_kill = AppliedSteps(dsn);
      if (applied_at_kill < kSteps) ++mid_reconcile;
      if (applied_at_kill < kSteps && applied_at_kill > applied) ++applying;
      const std::string problems = Join(StepSetProblems(dsn, kSteps, /*converged=*/false));
      EXPECT_EQ(problems, "") << context;
      if (problems.empty()) ++consistent;
    }
    StartOperator();
    const bool ready = WaitReady(name);
    const std::vector<std::string> left = StepSetProblems(dsn, kSteps, /*converged=*/true);
    if (ready && left.empty()) {
      ++converged;
    } else {
      const nlohmann::json plan = GetPlan(name);
      ADD_FAILURE() << context << ": not converged; Stalled: " << TrueCondition(name, "Stalled")
                    << "\n"
                    << (plan.is_object() ? plan.value("status", nlohmann::json()) : plan)
                           .dump()
                           .substr(0, 2000)
                    << "\n"
                    << Join({left.begin(), left.begin() + std::min<size_t>(left.size(), 5)});
    }
    KillOperators();
    DeletePlan(name);
    DropDatabase(dsn);
  }
  Figure("kills", std::to_string(kKills) + " (" + std::to_string(mid_reconcile) +
                      " with steps left to apply, " + std::to_string(applying) +
                      " of them after applying some)");
  Figure("consistent after a kill", std::to_string(consistent) + "/" + std::to_string(kKills));
  Figure("converged", std::to_string(converged) + "/" + std::to_string(plans));
  Figure("test seconds", std::to_string(ElapsedMs(test_start) / 1000));
  EXPECT_EQ(converged, plans);
  // Kills that landed once the plan was done would prove nothing: the poll (1 ms) is
  // quicker than a step, so 100 of 100 land with steps left.
  EXPECT_GE(mid_reconcile, kKills * 9 / 10);
}

}  // namespace
}  // namespace tidemark::testing
