// The runtime wired the way the operator wires it (docs/kube-runtime.md): leader election
// starts the watcher and the workers; events go from the watcher through the store to the
// work queue; workers reconcile, retry failures with back-off and record events; stopping
// releases the lease. ConfigMaps stand in for MigrationPlans.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/event_recorder.h"
#include "runtime/leader_election.h"
#include "runtime/store.h"
#include "runtime/watcher.h"
#include "runtime/work_queue.h"
#include "server_fixture.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;

class WiringTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    CreateNamespace("prod");
    CreateNamespace("tidemark-system");
  }
  void CreatePlan(const std::string& name) {
    json object{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"namespace", "prod"}}},
                {"data", {{"target", "0002"}}}};
    ASSERT_TRUE(client_->Create(kube::resources::kConfigMaps, "prod", object).ok());
  }
};

TEST_F(WiringTest, TheLeaderWatchesQueuesReconcilesRetriesAndRecords) {
  CreatePlan("shop");
  CreatePlan("billing");

  Store plans;
  WorkQueue queue;
  EventRecorderOptions recording;
  recording.reporting_instance = "pod-a";
  EventRecorder events(*client_, recording);
  std::mutex mutex;
  std::map<std::string, int> attempts;  // guarded by mutex

  // The reconciler: fails the first attempt at "prod/billing" to exercise the retry.
  const auto reconcile = [&](const std::string& key) -> Status {
    const ObjectPtr plan = plans.Get(key);
    if (!plan) return Status::Ok();  // deleted: nothing to do
    int attempt;
    {
      std::lock_guard lock(mutex);
      attempt = ++attempts[key];
    }
    if (key == "prod/billing" && attempt == 1) return Status::Unavailable("database down");
    events.Record(*plan, EventType::kNormal, "UpToDate", "Reconcile", "at target");
    return Status::Ok();
  };
  const auto worker = [&] {
    while (const std::optional<std::string> key = queue.Get()) {
      if (reconcile(*key).ok()) {
        queue.Forget(*key);
      } else {
        queue.AddRateLimited(*key);
      }
      queue.Done(*key);
    }
  };

  WatcherOptions watching;
  watching.ns = "prod";
  Watcher watcher(*client_, kube::resources::kConfigMaps, watching);
  std::stop_source stop_watching;
  std::vector<std::jthread> threads;
  LeaderElectionOptions election;
  election.lease_namespace = "tidemark-system";
  election.lease_name = "tidemark-controller";
  election.identity = "pod-a";
  election.on_started_leading = [&] {
    threads.emplace_back([&] {
      watcher.Run(
          [&](const WatcherEvent& event) {
            for (const std::string& key : plans.Apply(event)) queue.Add(key);
          },
          stop_watching.get_token());
    });
    for (int i = 0; i < 2; ++i) threads.emplace_back(worker);
  };
  election.on_stopped_leading = [&] {
    stop_watching.request_stop();
    queue.ShutDown();
  };
  ASSERT_TRUE(election.Validate().ok());
  LeaderElector elector(*client_, election);
  std::jthread leading([&](std::stop_token stop) { elector.Run(stop); });

  const auto reconciled = [&](const std::string& name) {
    auto list = client_->List(kube::resources::kEvents, "prod");
    if (!list.ok()) return false;
    for (const json& event : list->items) {
      if (event["regarding"]["name"] == name && event["reason"] == "UpToDate") return true;
    }
    return false;
  };
  ASSERT_TRUE(Eventually([&] { return reconciled("shop") && reconciled("billing"); }));
  EXPECT_TRUE(plans.HasSynced());
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(attempts["prod/billing"], 2);  // one failure, one retry
  }
  EXPECT_EQ(queue.NumRequeues("prod/billing"), 0u);  // forgotten after the success

  leading.request_stop();
  leading.join();
  threads.clear();  // joins the watcher and the workers
  auto lease = client_->Get(kube::resources::kLeases, "tidemark-system", "tidemark-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "");
}

}  // namespace
}  // namespace tidemark::runtime
