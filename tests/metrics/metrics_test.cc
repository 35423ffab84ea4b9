#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/metrics/exposition.h"
#include "tests/support/process.h"

namespace tidemark::metrics {
namespace {

using testing::Exposition;
using testing::ParseExposition;

Exposition Scrape(const Metrics& metrics) { return ParseExposition(metrics.Serialize()); }

// Every family with the type SPEC section 6 gives it (the per-plan families show once a plan
// is known).
TEST(MetricsTest, ExportsEveryFamilyWithItsType) {
  Metrics metrics("1.2.3");
  metrics.SetPlanState("prod", "shop", 1, false);
  metrics.AddBackfillBatch("prod", "shop", "shop.0002_fill", 1000);
  const std::map<std::string, std::string> expected = {
      {"tidemark_backfill_rows_total", "counter"},
      {"tidemark_backfill_batches_total", "counter"},
      {"tidemark_reconcile_total", "counter"},
      {"tidemark_reconcile_duration_seconds", "histogram"},
      {"tidemark_steps_total", "counter"},
      {"tidemark_step_duration_seconds", "histogram"},
      {"tidemark_runner_steps_total", "counter"},
      {"tidemark_runner_step_duration_seconds", "histogram"},
      {"tidemark_plan_pending_steps", "gauge"},
      {"tidemark_plan_ready", "gauge"},
      {"tidemark_lock_wait_seconds", "histogram"},
      {"tidemark_post_deploy_wait_seconds", "histogram"},
      {"tidemark_drift", "gauge"},
      {"tidemark_step_blocking_sessions", "gauge"},
      {"tidemark_workqueue_depth", "gauge"},
      {"tidemark_watch_restarts_total", "counter"},
      {"tidemark_leader", "gauge"},
      {"tidemark_build_info", "gauge"},
  };
  EXPECT_EQ(Scrape(metrics).types, expected);
  std::vector<std::string> names;
  for (const auto& [name, type] : expected) names.push_back(name);
  std::vector<std::string> exported = FamilyNames();
  std::sort(exported.begin(), exported.end());
  EXPECT_EQ(exported, names);
}

TEST(MetricsTest, LabelValuesStartAtZeroBeforeAnyEvent) {
  Metrics metrics("1.2.3");
  const Exposition scrape = Scrape(metrics);
  for (const char* result : {"success", "error", "requeue"}) {
    EXPECT_EQ(scrape.Value(std::string("tidemark_reconcile_total{result=\"") + result + "\"}"), 0)
        << result;
  }
  for (const char* action : {"apply", "revert", "fake"}) {
    for (const char* result : {"success", "failure"}) {
      EXPECT_EQ(scrape.Value(std::string("tidemark_steps_total{action=\"") + action +
                             "\",result=\"" + result + "\"}"),
                0)
          << action << " " << result;
    }
  }
  for (const char* resource : {"migrationplans", "configmaps", "secrets", "leases", "deployments",
                               "statefulsets", "controllerrevisions", "pods", "replicasets"}) {
    EXPECT_EQ(
        scrape.Value(std::string("tidemark_watch_restarts_total{resource=\"") + resource + "\"}"),
        0)
        << resource;
  }
  EXPECT_EQ(scrape.Value("tidemark_reconcile_duration_seconds_count"), 0);
  EXPECT_EQ(scrape.Value("tidemark_step_duration_seconds_count"), 0);
  EXPECT_EQ(scrape.Value("tidemark_lock_wait_seconds_count"), 0);
  EXPECT_EQ(scrape.Value("tidemark_post_deploy_wait_seconds_count"), 0);
  EXPECT_EQ(scrape.Value("tidemark_workqueue_depth"), 0);
  EXPECT_EQ(scrape.Value("tidemark_leader"), 0);
  EXPECT_EQ(scrape.Value("tidemark_build_info{version=\"1.2.3\"}"), 1);
}

TEST(MetricsTest, ReconcilesAndStepsCount) {
  Metrics metrics("dev");
  metrics.RecordReconcile(ReconcileResult::kSuccess, 0.2);
  metrics.RecordReconcile(ReconcileResult::kSuccess, 0.3);
  metrics.RecordReconcile(ReconcileResult::kRequeue, 4);
  metrics.RecordStep(plan::ActionKind::kApply, true, 0.0005);
  metrics.RecordStep(plan::ActionKind::kApply, true, 120);
  metrics.RecordStep(plan::ActionKind::kRevert, false, 2);
  const Exposition scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_total{result=\"success\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_total{result=\"requeue\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_total{result=\"error\"}"), 0);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_duration_seconds_count"), 3);
  EXPECT_DOUBLE_EQ(*scrape.Value("tidemark_reconcile_duration_seconds_sum"), 4.5);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_duration_seconds_bucket{le=\"0.25\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_duration_seconds_bucket{le=\"+Inf\"}"), 3);

  EXPECT_EQ(scrape.Value("tidemark_steps_total{action=\"apply\",result=\"success\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_steps_total{action=\"revert\",result=\"failure\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_steps_total{action=\"fake\",result=\"success\"}"), 0);
  // Step buckets run from 1 ms to 1 h.
  EXPECT_EQ(scrape.Value("tidemark_step_duration_seconds_bucket{le=\"0.001\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_step_duration_seconds_bucket{le=\"60\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_step_duration_seconds_bucket{le=\"3600\"}"), 3);
  EXPECT_EQ(scrape.Value("tidemark_step_duration_seconds_count"), 3);
}

TEST(MetricsTest, ValuesOutsideTheirSetAreDroppedNotExported) {
  Metrics metrics("dev");
  const std::string before = metrics.Serialize();
  metrics.IncWatchRestart("daemonsets");  // never watched
  EXPECT_EQ(metrics.Serialize(), before);
}

TEST(MetricsTest, PlanStateAndDrift) {
  Metrics metrics("dev");
  metrics.SetPlanState("prod", "shop", 4, false);
  metrics.SetDrift("prod", "shop", 2, 1);
  metrics.SetPlanState("staging", "shop", 0, true);
  Exposition scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_plan_pending_steps{namespace=\"prod\",plan=\"shop\"}"), 4);
  EXPECT_EQ(scrape.Value("tidemark_plan_ready{namespace=\"prod\",plan=\"shop\"}"), 0);
  EXPECT_EQ(scrape.Value("tidemark_drift{kind=\"checksum_mismatch\",namespace=\"prod\",plan="
                         "\"shop\"}"),
            2);
  EXPECT_EQ(
      scrape.Value("tidemark_drift{kind=\"unknown_applied\",namespace=\"prod\",plan=\"shop\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_plan_ready{namespace=\"staging\",plan=\"shop\"}"), 1);
  // A plan's drift series exist (at 0) as soon as the plan is known.
  EXPECT_EQ(scrape.Value("tidemark_drift{kind=\"checksum_mismatch\",namespace=\"staging\","
                         "plan=\"shop\"}"),
            0);

  metrics.SetBlockingSessions("prod", "shop", 2);
  scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_step_blocking_sessions{namespace=\"prod\",plan=\"shop\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_step_blocking_sessions{namespace=\"staging\",plan=\"shop\"}"),
            0);

  metrics.SetPlanState("prod", "shop", 0, true);
  metrics.SetDrift("prod", "shop", 0, 0);
  metrics.SetBlockingSessions("prod", "shop", 0);
  scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_plan_pending_steps{namespace=\"prod\",plan=\"shop\"}"), 0);
  EXPECT_EQ(scrape.Value("tidemark_plan_ready{namespace=\"prod\",plan=\"shop\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_drift{kind=\"checksum_mismatch\",namespace=\"prod\",plan="
                         "\"shop\"}"),
            0);
}

TEST(MetricsTest, BackfillCountersAddUpByMigrationAndGoWithTheirPlan) {
  Metrics metrics("dev");
  EXPECT_EQ(metrics.Serialize().find("tidemark_backfill"), std::string::npos);  // none yet
  metrics.AddBackfillBatch("prod", "shop", "shop.0002_fill", 1000);
  metrics.AddBackfillBatch("prod", "shop", "shop.0002_fill", 500);
  metrics.AddBackfillBatch("prod", "shop", "shop.0003_fill", 7);
  metrics.AddBackfillBatch("staging", "shop", "shop.0002_fill", 3);
  Exposition scrape = Scrape(metrics);
  EXPECT_EQ(scrape.types.at("tidemark_backfill_rows_total"), "counter");
  EXPECT_EQ(scrape.Value("tidemark_backfill_rows_total{migration=\"shop.0002_fill\",namespace="
                         "\"prod\",plan=\"shop\"}"),
            1500);
  EXPECT_EQ(scrape.Value("tidemark_backfill_batches_total{migration=\"shop.0002_fill\","
                         "namespace=\"prod\",plan=\"shop\"}"),
            2);
  EXPECT_EQ(scrape.Value("tidemark_backfill_rows_total{migration=\"shop.0003_fill\",namespace="
                         "\"prod\",plan=\"shop\"}"),
            7);
  EXPECT_EQ(scrape.Value("tidemark_backfill_rows_total{migration=\"shop.0002_fill\",namespace="
                         "\"staging\",plan=\"shop\"}"),
            3);
  metrics.ForgetPlan("prod", "shop");
  const std::string text = metrics.Serialize();
  EXPECT_EQ(text.find("namespace=\"prod\""), std::string::npos) << text;
  EXPECT_NE(text.find("namespace=\"staging\""), std::string::npos) << text;
}

TEST(MetricsTest, ForgetPlanRemovesOnlyThatPlansSeries) {
  Metrics metrics("dev");
  metrics.SetPlanState("prod", "shop", 3, false);
  metrics.SetDrift("prod", "shop", 1, 1);
  metrics.SetPlanState("prod", "billing", 1, false);
  metrics.ForgetPlan("prod", "shop");
  const std::string text = metrics.Serialize();
  EXPECT_EQ(text.find("plan=\"shop\""), std::string::npos) << text;
  const Exposition scrape = ParseExposition(text);
  EXPECT_EQ(scrape.Value("tidemark_plan_pending_steps{namespace=\"prod\",plan=\"billing\"}"), 1);
  // Forgetting an unknown plan is harmless; a forgotten plan can come back.
  metrics.ForgetPlan("prod", "nothing");
  metrics.SetPlanState("prod", "shop", 7, false);
  EXPECT_EQ(Scrape(metrics).Value("tidemark_plan_pending_steps{namespace=\"prod\",plan=\"shop\"}"),
            7);
}

TEST(MetricsTest, LockWaitQueueWatchAndLeader) {
  Metrics metrics("dev");
  metrics.ObserveLockWait(0.05);
  metrics.ObserveLockWait(45);
  metrics.SetWorkqueueDepth(12);
  metrics.IncWatchRestart("migrationplans");
  metrics.IncWatchRestart("migrationplans");
  metrics.IncWatchRestart("secrets");
  metrics.SetLeader(true);
  const Exposition scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_lock_wait_seconds_count"), 2);
  EXPECT_EQ(scrape.Value("tidemark_lock_wait_seconds_bucket{le=\"0.1\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_lock_wait_seconds_bucket{le=\"60\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_workqueue_depth"), 12);
  EXPECT_EQ(scrape.Value("tidemark_watch_restarts_total{resource=\"migrationplans\"}"), 2);
  EXPECT_EQ(scrape.Value("tidemark_watch_restarts_total{resource=\"secrets\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_leader"), 1);
  metrics.SetLeader(false);
  EXPECT_EQ(Scrape(metrics).Value("tidemark_leader"), 0);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Metrics metrics("dev");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      const std::string plan = "plan-" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        metrics.RecordReconcile(ReconcileResult::kSuccess, 0.01);
        metrics.RecordStep(plan::ActionKind::kApply, true, 0.01);
        metrics.SetPlanState("ns", plan, i, false);
        if (i % 100 == 0) metrics.ForgetPlan("ns", plan);
        (void)metrics.Serialize().size();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const Exposition scrape = Scrape(metrics);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_total{result=\"success\"}"), kThreads * kPerThread);
  EXPECT_EQ(scrape.Value("tidemark_steps_total{action=\"apply\",result=\"success\"}"),
            kThreads * kPerThread);
  EXPECT_EQ(scrape.Value("tidemark_plan_pending_steps{namespace=\"ns\",plan=\"plan-0\"}"),
            kPerThread - 1);
}

// The real Prometheus tooling accepts the output, lint included, with every family populated.
TEST(MetricsTest, PromtoolAcceptsTheOutput) {
  Metrics metrics("0.1.0");
  metrics.RecordReconcile(ReconcileResult::kSuccess, 0.2);
  metrics.RecordReconcile(ReconcileResult::kError, 0.1);
  metrics.RecordStep(plan::ActionKind::kApply, true, 1.5);
  metrics.RecordStep(plan::ActionKind::kFake, true, 0.001);
  metrics.SetPlanState("prod", "shop", 3, false);
  metrics.SetDrift("prod", "shop", 1, 0);
  metrics.AddBackfillBatch("prod", "shop", "shop.0002_fill", 1000);
  metrics.ObserveLockWait(0.5);
  metrics.SetWorkqueueDepth(2);
  metrics.IncWatchRestart("configmaps");
  metrics.SetLeader(true);
  const std::string text = metrics.Serialize();

  testing::ProcessOptions options;
  options.input = text;
  const testing::ProcessResult result =
      testing::RunProcess({"/usr/bin/promtool", "check", "metrics"}, options);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err << "\n" << text;
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "");
}

// promtool really complains: the check above can fail.
TEST(MetricsTest, PromtoolRejectsLintProblems) {
  testing::ProcessOptions options;
  options.input =
      "# HELP tidemark_things_count no unit\n# TYPE tidemark_things_count counter\n"
      "tidemark_things_count 1\n";
  const testing::ProcessResult result =
      testing::RunProcess({"/usr/bin/promtool", "check", "metrics"}, options);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.out + result.err, "");
}

}  // namespace
}  // namespace tidemark::metrics
