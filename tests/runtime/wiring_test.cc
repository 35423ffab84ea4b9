// The runtime wired the way the operator wires it (docs/kube-runtime.md): leader election
// starts a runtime::Controller; events go from the watchers through the caches to the work
// queue; workers reconcile and carry out each Action (back-off, requeue after a delay);
// a change to a watched kind requeues the primary objects that name it; a deletion reaches
// Deleted(); stopping releases the lease. ConfigMaps stand in for MigrationPlans and
// Secrets for the objects they name.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "runtime/controller.h"
#include "runtime/event_recorder.h"
#include "runtime/leader_election.h"
#include "server_fixture.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Records what it was asked; "billing" fails its first try; "retried" asks to be looked at
// again after 50 ms until its third reconcile.
class RecordingReconciler : public Reconciler {
 public:
  explicit RecordingReconciler(EventRecorder& events) : events_(events) {}

  Action Reconcile(const json& object, std::stop_token) override {
    const std::string name = object["metadata"]["name"];
    int attempt;
    {
      std::lock_guard lock(mutex_);
      attempt = ++attempts_[name];
    }
    if (name == "billing" && attempt == 1) return Action::Retry();
    if (name == "retried" && attempt < 3) return Action::RequeueAfter(milliseconds(50));
    events_.Record(object, EventType::kNormal, "UpToDate", "Reconcile", "at target");
    return Action::Done(std::chrono::hours(1));
  }
  void Deleted(const std::string& key) override {
    std::lock_guard lock(mutex_);
    deleted_.insert(key);
  }

  int Attempts(const std::string& name) {
    std::lock_guard lock(mutex_);
    return attempts_[name];
  }
  bool WasDeleted(const std::string& key) {
    std::lock_guard lock(mutex_);
    return deleted_.count(key) > 0;
  }

 private:
  EventRecorder& events_;
  std::mutex mutex_;
  std::map<std::string, int> attempts_;  // guarded by mutex_
  std::set<std::string> deleted_;        // guarded by mutex_
};

class WiringTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    CreateNamespace("prod");
    CreateNamespace("tidemark-system");
  }
  // A stand-in plan; `secret` is the Secret it names.
  void CreatePlan(const std::string& name, const std::string& secret = "") {
    json object{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"namespace", "prod"}}},
                {"data", {{"secret", secret}}}};
    ASSERT_TRUE(client_->Create(kube::resources::kConfigMaps, "prod", object).ok());
  }
  void CreateSecret(const std::string& name) {
    json object{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", name}, {"namespace", "prod"}}},
                {"data", {{"dsn", "ZHNuPTE="}}}};
    ASSERT_TRUE(client_->Create(kube::resources::kSecrets, "prod", object).ok());
  }
  void ChangeSecret(const std::string& name) {
    auto patched = client_->Patch(kube::resources::kSecrets, "prod", name, kube::PatchType::kMerge,
                                  {{"data", {{"dsn", "ZHNuPTI="}}}});
    ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  }
  bool Reconciled(const std::string& name) {
    auto list = client_->List(kube::resources::kEvents, "prod");
    if (!list.ok()) return false;
    for (const json& event : list->items) {
      if (event["regarding"]["name"] == name && event["reason"] == "UpToDate") return true;
    }
    return false;
  }
};

TEST_F(WiringTest, TheLeaderRunsTheControllerWhichCarriesOutEachAction) {
  CreateSecret("shop-db");
  CreatePlan("shop", "shop-db");
  CreatePlan("billing");
  CreatePlan("retried");

  EventRecorderOptions recording;
  recording.reporting_instance = "pod-a";
  EventRecorder events(*client_, recording);
  RecordingReconciler reconciler(events);
  ControllerOptions options;
  options.namespaces = {"prod"};
  options.workers = 2;
  std::atomic<int> restarts{0};
  options.hooks.on_watch_restart = [&](const std::string&) { ++restarts; };
  Controller controller(*client_, options);
  KindCache& plans = controller.For(kube::resources::kConfigMaps, "");
  // A Secret's change requeues the plans whose data names it.
  controller.Watches(kube::resources::kSecrets, [&plans](const std::string& key) {
    std::vector<std::string> named;
    for (const std::string& plan_key : plans.Keys()) {
      const ObjectPtr plan = plans.Get(plan_key);
      if (plan && "prod/" + (*plan)["data"].value("secret", "") == key) named.push_back(plan_key);
    }
    return named;
  });

  LeaderElectionOptions election;
  election.lease_namespace = "tidemark-system";
  election.lease_name = "tidemark-controller";
  election.identity = "pod-a";
  election.on_started_leading = [&] { controller.Start(reconciler); };
  election.on_stopped_leading = [&] { controller.Stop(); };
  ASSERT_TRUE(election.Validate().ok());
  LeaderElector elector(*client_, election);
  std::jthread leading([&](std::stop_token stop) { elector.Run(stop); });

  ASSERT_TRUE(Eventually(
      [&] { return Reconciled("shop") && Reconciled("billing") && Reconciled("retried"); }));
  EXPECT_TRUE(controller.Synced());
  EXPECT_EQ(reconciler.Attempts("billing"), 2);  // one Retry, then done
  EXPECT_EQ(reconciler.Attempts("retried"), 3);  // two RequeueAfter, then done
  EXPECT_EQ(reconciler.Attempts("shop"), 1);     // Done(1 h): not looked at again

  ChangeSecret("shop-db");  // the Secret shop names changes: shop, and only shop
  ASSERT_TRUE(Eventually([&] { return reconciler.Attempts("shop") == 2; }));
  EXPECT_EQ(reconciler.Attempts("billing"), 2);

  ASSERT_TRUE(client_->Delete(kube::resources::kConfigMaps, "prod", "billing").ok());
  ASSERT_TRUE(Eventually([&] { return reconciler.WasDeleted("prod/billing"); }));

  leading.request_stop();
  leading.join();
  auto lease = client_->Get(kube::resources::kLeases, "tidemark-system", "tidemark-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "");
  EXPECT_EQ(restarts, 0);
}

// "broken" throws from every reconcile, as a library's exception would; "thrower" throws a
// non-standard exception once. Neither may take the worker with it.
class ThrowingReconciler : public RecordingReconciler {
 public:
  using RecordingReconciler::RecordingReconciler;

  Action Reconcile(const json& object, std::stop_token stop) override {
    const std::string name = object["metadata"]["name"];
    if (name == "broken") {
      std::lock_guard lock(mutex_);
      ++broken_attempts_;
      (void)json(42).get<std::string>();  // throws json::type_error
    }
    if (name == "thrower" && thrown_.exchange(true) == false) throw 42;
    return RecordingReconciler::Reconcile(object, std::move(stop));
  }
  Action Threw(const json& object, const std::string& what) override {
    std::lock_guard lock(mutex_);
    threw_.push_back(object["metadata"]["name"].get<std::string>() + ": " + what);
    return Action::Error();
  }

  int BrokenAttempts() {
    std::lock_guard lock(mutex_);
    return broken_attempts_;
  }
  std::vector<std::string> Threws() {
    std::lock_guard lock(mutex_);
    return threw_;
  }

 private:
  std::mutex mutex_;
  int broken_attempts_ = 0;         // guarded by mutex_
  std::vector<std::string> threw_;  // guarded by mutex_
  std::atomic<bool> thrown_{false};
};

TEST_F(WiringTest, AReconcileThatThrowsIsRecordedAndRetriedWhileTheOthersAreServed) {
  CreatePlan("broken");
  CreatePlan("thrower");
  CreatePlan("shop");
  EventRecorderOptions recording;
  recording.reporting_instance = "pod-a";
  EventRecorder events(*client_, recording);
  ThrowingReconciler reconciler(events);
  ControllerOptions options;
  options.namespaces = {"prod"};
  options.workers = 1;  // one worker: had the exception ended it, nothing else would be served
  std::vector<Action> actions;
  std::mutex actions_mutex;
  options.hooks.on_reconciled = [&](const Action& action, double) {
    std::lock_guard lock(actions_mutex);
    actions.push_back(action);
  };
  Controller controller(*client_, options);
  controller.For(kube::resources::kConfigMaps, "");
  controller.Start(reconciler);

  ASSERT_TRUE(Eventually([&] { return Reconciled("shop") && Reconciled("thrower"); }));
  // The broken plan is retried with back-off (5 ms doubling), each time recorded.
  ASSERT_TRUE(Eventually([&] { return reconciler.BrokenAttempts() >= 3; }));
  controller.Stop();
  const std::vector<std::string> threws = reconciler.Threws();
  ASSERT_GE(threws.size(), 4u);
  EXPECT_EQ(std::count(threws.begin(), threws.end(), "thrower: an exception of unknown type"), 1);
  EXPECT_EQ(std::count(threws.begin(), threws.end(),
                       "broken: [json.exception.type_error.302] type must be string, but is "
                       "number"),
            static_cast<long>(threws.size()) - 1);
  EXPECT_EQ(reconciler.Attempts("thrower"), 1);  // its second reconcile went through
  std::lock_guard lock(actions_mutex);
  // Each exception counts as an error in tidemark_reconcile_total (the hook feeds it).
  EXPECT_EQ(std::count(actions.begin(), actions.end(), Action::Error()),
            static_cast<long>(threws.size()));
}

}  // namespace
}  // namespace tidemark::runtime
