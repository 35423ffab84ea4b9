// The MigrationPlan reconciler against fakes: no API server, no database, no process. What
// it writes to the cluster (status, events) and the Action it returns for each outcome.
#include "operator/plan_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <vector>

#include "tests/support/memory_store.h"

namespace tidemark::op {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct RecordedEvent {
  runtime::EventType type;
  std::string reason, note;
};

class FakeSink : public PlanSink {
 public:
  Status PatchStatus(const std::string& ns, const std::string& name, const json& status) override {
    patches.push_back({{"plan", ns + "/" + name}, {"status", status}});
    return patch_answer;
  }
  void RecordEvent(const json&, runtime::EventType type, const std::string& reason,
                   const std::string&, const std::string& note) override {
    events.push_back({type, reason, note});
  }

  Status patch_answer = Status::Ok();
  std::vector<json> patches;
  std::vector<RecordedEvent> events;
};

class NoObjects : public resource::ObjectSource {
 public:
  Result<std::map<std::string, std::string>> ConfigMapData(const std::string&,
                                                           const std::string& name) override {
    return Status::NotFound("ConfigMap " + name + " not found");
  }
  Result<std::string> SecretValue(const std::string&, const std::string& name,
                                  const std::string&) override {
    return Status::NotFound("Secret " + name + " not found");
  }
  Result<std::map<std::string, std::string>> SecretData(const std::string&,
                                                        const std::string& name) override {
    return Status::NotFound("Secret " + name + " not found");
  }
};

// The gate's verdict as the test sets it; records what was asked.
class FakeRollouts : public RolloutSource {
 public:
  GateVerdict Judge(const std::string& ns,
                    const std::vector<plan::WorkloadRef>& workloads) override {
    asked.push_back(ns + "/" + (workloads.empty() ? "" : workloads.front().name));
    return verdict;
  }
  GateVerdict verdict;
  std::vector<std::string> asked;
};

// Sessions that fail as told.
class FailingSessions : public SessionSource {
 public:
  explicit FailingSessions(Status status) : status_(std::move(status)) {}
  Result<ledger::StorePtr> Connect(const plan::MigrationPlan&) override {
    ++connects;
    return status_;
  }
  int connects = 0;

 private:
  Status status_;
};

// Sessions on an in-memory database.
class MemorySessions : public SessionSource {
 public:
  Result<ledger::StorePtr> Connect(const plan::MigrationPlan&) override {
    return database.Connect();
  }
  testing::MemoryDatabase database;
};

json Plan(json spec) {
  return {{"apiVersion", "tidemark.dev/v1alpha1"},
          {"kind", "MigrationPlan"},
          {"metadata", {{"name", "shop"}, {"namespace", "prod"}, {"generation", 3}}},
          {"spec", std::move(spec)}};
}

json OneStep() {
  return {{"database", {{"dsn", "host=/nowhere dbname=shop"}}},
          {"migrations", json::array({{{"app", "shop"},
                                       {"name", "0001_initial"},
                                       {"forward", "CREATE TABLE t (id int);"}}})}};
}

std::string Condition(const json& status, const std::string& type) {
  for (const json& condition : status["conditions"]) {
    if (condition["type"] == type) {
      return condition["status"].get<std::string>() + "/" + condition["reason"].get<std::string>();
    }
  }
  return "missing";
}

class PlanReconcilerTest : public ::testing::Test {
 protected:
  Action Reconcile(const json& object, SessionSource& sessions) {
    PlanReconciler reconciler(sink_, objects_, sessions, rollouts_, index_, metrics_, options_);
    return reconciler.Reconcile(object, {});
  }

  FakeSink sink_;
  NoObjects objects_;
  FakeRollouts rollouts_;
  PlanIndex index_;
  metrics::Metrics metrics_{"test"};
  ReconcilerOptions options_;
};

TEST_F(PlanReconcilerTest, AnUnreachableDatabaseIsReconcilingAndRetried) {
  FailingSessions sessions(Status::Unavailable("connection refused"));
  const Action action = Reconcile(Plan(OneStep()), sessions);
  EXPECT_EQ(action, Action::Retry());
  ASSERT_EQ(sink_.patches.size(), 1u);
  const json& status = sink_.patches[0]["status"];
  EXPECT_EQ(sink_.patches[0]["plan"], "prod/shop");
  EXPECT_EQ(Condition(status, "Reconciling"), "True/DatabaseUnavailable");
  EXPECT_EQ(Condition(status, "Ready"), "False/DatabaseUnavailable");
  EXPECT_EQ(status["observedGeneration"], 3);
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].type, runtime::EventType::kWarning);
  EXPECT_EQ(sink_.events[0].reason, "DatabaseUnavailable");
  EXPECT_THAT(sink_.events[0].note, HasSubstr("connection refused"));
}

TEST_F(PlanReconcilerTest, AMissingSecretStallsNamingIt) {
  FailingSessions sessions(Status::NotFound("Secret shop-db (namespace prod) not found"));
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions), Action::Retry());
  ASSERT_EQ(sink_.patches.size(), 1u);
  EXPECT_EQ(Condition(sink_.patches[0]["status"], "Stalled"), "True/SecretNotFound");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_THAT(sink_.events[0].note, HasSubstr("shop-db"));
}

TEST_F(PlanReconcilerTest, AnInvalidSpecStallsWithoutTouchingTheDatabase) {
  FailingSessions sessions(Status::Internal("must not be called"));
  json spec = OneStep();
  spec["migrations"][0].erase("name");
  EXPECT_EQ(Reconcile(Plan(spec), sessions), Action::Retry());
  EXPECT_EQ(sessions.connects, 0);
  ASSERT_EQ(sink_.patches.size(), 1u);
  const json& status = sink_.patches[0]["status"];
  EXPECT_EQ(Condition(status, "Stalled"), "True/InvalidSpec");
}

TEST_F(PlanReconcilerTest, ASuspendedPlanWaitsForAChange) {
  FailingSessions sessions(Status::Internal("must not be called"));
  json spec = OneStep();
  spec["suspend"] = true;
  EXPECT_EQ(Reconcile(Plan(spec), sessions), Action::AwaitChange());
  EXPECT_EQ(sessions.connects, 0);
}

TEST_F(PlanReconcilerTest, AnUnchangedStatusIsNotWrittenAgain) {
  FailingSessions sessions(Status::Unavailable("connection refused"));
  (void)Reconcile(Plan(OneStep()), sessions);
  ASSERT_EQ(sink_.patches.size(), 1u);
  json stored = Plan(OneStep());
  stored["status"] = sink_.patches[0]["status"];
  (void)Reconcile(stored, sessions);
  EXPECT_EQ(sink_.patches.size(), 1u);  // the same status: no second write
}

TEST_F(PlanReconcilerTest, AppliedStepsMakeThePlanReadyWithOneEventAndAResync) {
  MemorySessions sessions;
  const Action action = Reconcile(Plan(OneStep()), sessions);
  EXPECT_EQ(action, Action::Done(options_.requeue.resync));
  EXPECT_EQ(sessions.database.LedgerRows(), (std::set<plan::StepId>{{"shop", "0001_initial"}}));
  ASSERT_EQ(sink_.patches.size(), 1u);
  const json& status = sink_.patches[0]["status"];
  EXPECT_EQ(Condition(status, "Ready"), "True/UpToDate");
  EXPECT_EQ(status["lastApplied"]["migration"], "shop.0001_initial");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].type, runtime::EventType::kNormal);
  EXPECT_EQ(sink_.events[0].reason, "Applied");
  EXPECT_THAT(sink_.events[0].note, HasSubstr("the ledger now matches the plan"));
}

TEST_F(PlanReconcilerTest, AnApprovalNoLongerAskedForIsRemovedFromTheStatus) {
  MemorySessions sessions;
  json spec = OneStep();
  spec["policy"] = json::object({{"approval", "Required"}});
  EXPECT_EQ(Reconcile(Plan(spec), sessions), Action::Done(options_.requeue.resync));
  EXPECT_TRUE(sessions.database.LedgerRows().empty());
  const json waiting = sink_.patches.at(0)["status"];
  EXPECT_EQ(Condition(waiting, "Ready"), "False/WaitingForApproval");
  const std::string digest = waiting["approval"]["digest"];
  EXPECT_EQ(waiting["approval"]["approved"], false);

  spec["approvedDigest"] = digest;
  json approved = Plan(spec);
  approved["status"] = waiting;
  EXPECT_EQ(Reconcile(approved, sessions), Action::Done(options_.requeue.resync));
  EXPECT_EQ(sessions.database.LedgerRows(), (std::set<plan::StepId>{{"shop", "0001_initial"}}));
  const json done = sink_.patches.at(1)["status"];
  EXPECT_EQ(Condition(done, "Ready"), "True/UpToDate");
  // A merge patch: null removes the stored approval.
  ASSERT_TRUE(done.contains("approval"));
  EXPECT_TRUE(done["approval"].is_null());
}

TEST_F(PlanReconcilerTest, AFailingStepStallsNamingTheStatementAndIsRetried) {
  MemorySessions sessions;
  sessions.database.FailStatement("CREATE TABLE t (id int)",
                                  testing::StatementFailure::Error("42P07", "already exists"));
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions), Action::Retry());
  EXPECT_TRUE(sessions.database.LedgerRows().empty());
  const json& status = sink_.patches.at(0)["status"];
  EXPECT_EQ(Condition(status, "Stalled"), "True/MigrationFailed");
  EXPECT_EQ(status["failure"]["sqlState"], "42P07");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].reason, "MigrationFailed");
}

TEST_F(PlanReconcilerTest, ALedgerLockedElsewhereIsLookedAtAgainSoon) {
  MemorySessions sessions;
  auto other = sessions.database.Connect();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Lock(std::chrono::milliseconds(0)).ok());
  options_.lock_wait = std::chrono::milliseconds(10);
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions),
            Action::RequeueAfter(options_.requeue.lock_retry));
  EXPECT_EQ(Condition(sink_.patches.at(0)["status"], "Reconciling"), "True/WaitingForLock");
  EXPECT_EQ(sink_.events.at(0).type, runtime::EventType::kNormal);
}

TEST_F(PlanReconcilerTest, AStopBeforeTheNextStepLeavesTheRestForTheNextRun) {
  MemorySessions sessions;
  json spec = OneStep();
  spec["migrations"].push_back({{"app", "shop"},
                                {"name", "0002_more"},
                                {"dependencies", {"shop.0001_initial"}},
                                {"forward", "CREATE TABLE u (id int);"}});
  std::stop_source stop;
  stop.request_stop();
  PlanReconciler reconciler(sink_, objects_, sessions, rollouts_, index_, metrics_, options_);
  EXPECT_EQ(reconciler.Reconcile(Plan(spec), stop.get_token()), Action::Retry());
  EXPECT_TRUE(sessions.database.LedgerRows().empty());
  const json& status = sink_.patches.at(0)["status"];
  EXPECT_EQ(Condition(status, "Reconciling"), "True/Applying");
  EXPECT_EQ(status["summary"]["pending"], 2);
}

TEST_F(PlanReconcilerTest, TheIndexKnowsWhichSecretsAndConfigMapsAPlanNames) {
  FailingSessions sessions(Status::Unavailable("down"));
  json spec = OneStep();
  spec["database"] = {{"dsnFrom", {{"secretKeyRef", {{"name", "shop-db"}, {"key", "dsn"}}}}}};
  spec["migrationsFrom"] = {{{"configMapRef", {{"name", "shop-steps"}}}}};
  PlanReconciler reconciler(sink_, objects_, sessions, rollouts_, index_, metrics_, options_);
  (void)reconciler.Reconcile(Plan(spec), {});
  EXPECT_EQ(index_.PlansNaming(NamedKind::kSecret, "prod/shop-db"),
            std::vector<std::string>{"prod/shop"});
  EXPECT_EQ(index_.PlansNaming(NamedKind::kConfigMap, "prod/shop-steps"),
            std::vector<std::string>{"prod/shop"});
  EXPECT_TRUE(index_.PlansNaming(NamedKind::kSecret, "other/shop-db").empty());
  reconciler.Deleted("prod/shop");
  EXPECT_TRUE(index_.PlansNaming(NamedKind::kSecret, "prod/shop-db").empty());
}

// A pre-deploy step and a post-deploy step that depends on it, gated on Deployment web.
json GatedSpec() {
  json spec = OneStep();
  spec["migrations"].push_back({{"app", "shop"},
                                {"name", "0002_drop_old"},
                                {"dependencies", {"shop.0001_initial"}},
                                {"phase", "PostDeploy"},
                                {"forward", "DROP TABLE t;"}});
  spec["rollout"] = {{"workloads", {{{"kind", "Deployment"}, {"name", "web"}}}}};
  return spec;
}

TEST_F(PlanReconcilerTest, PostDeployStepsWaitForTheRolloutAndAreReleasedWithAnEvent) {
  MemorySessions sessions;
  rollouts_.verdict = {false, "Deployment web: 1 pod of an older ReplicaSet left (terminating)"};
  const auto epoch_seconds = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double before = epoch_seconds();
  EXPECT_EQ(Reconcile(Plan(GatedSpec()), sessions), Action::Done(options_.requeue.resync));
  const double after = epoch_seconds();
  EXPECT_EQ(rollouts_.asked, std::vector<std::string>{"prod/web"});
  // The pre-deploy step ran at once; the post-deploy one waits, and the plan is Ready.
  EXPECT_EQ(sessions.database.LedgerRows(), (std::set<plan::StepId>{{"shop", "0001_initial"}}));
  json stored = Plan(GatedSpec());
  stored["status"] = sink_.patches.at(0)["status"];
  const json& status = stored["status"];
  EXPECT_EQ(Condition(status, "Ready"), "True/WaitingForRollout");
  EXPECT_EQ(Condition(status, "Reconciling"), "False/WaitingForRollout");
  EXPECT_EQ(Condition(status, "PostDeployPending"), "True/WaitingForRollout");
  EXPECT_THAT(status.dump(), HasSubstr("waiting for Deployment web: 1 pod of an older ReplicaSet "
                                       "left (terminating)"));
  EXPECT_EQ(index_.PlansNaming(NamedKind::kDeployment, "prod/web"),
            std::vector<std::string>{"prod/shop"});
  // While held, a gauge says since when (the condition's time, to the second).
  const std::string held =
      "\ntidemark_post_deploy_pending_since_seconds{namespace=\"prod\","
      "plan=\"shop\"} ";
  const std::string exported = metrics_.Serialize();
  const size_t at = exported.find(held);
  ASSERT_NE(at, std::string::npos) << exported;
  const double since = std::stod(exported.substr(at + held.size()));
  EXPECT_GE(since, std::floor(before));
  EXPECT_LE(since, after);

  // The gate opens: the step is applied, an event says so and the wait is measured.
  rollouts_.verdict = {true, ""};
  sink_.events.clear();
  EXPECT_EQ(Reconcile(stored, sessions), Action::Done(options_.requeue.resync));
  EXPECT_EQ(sessions.database.LedgerRows(),
            (std::set<plan::StepId>{{"shop", "0001_initial"}, {"shop", "0002_drop_old"}}));
  EXPECT_EQ(Condition(sink_.patches.back()["status"], "Ready"), "True/UpToDate");
  EXPECT_EQ(Condition(sink_.patches.back()["status"], "PostDeployPending"), "missing");
  ASSERT_EQ(sink_.events.size(), 2u);
  EXPECT_EQ(sink_.events[0].reason, "RolloutComplete");
  EXPECT_THAT(sink_.events[0].note, HasSubstr("the post-deploy steps are released"));
  EXPECT_EQ(sink_.events[1].reason, "Applied");
  EXPECT_THAT(metrics_.Serialize(), HasSubstr("tidemark_post_deploy_wait_seconds_count 1"));
  EXPECT_THAT(metrics_.Serialize(), Not(HasSubstr("tidemark_post_deploy_pending_since_seconds{")));
}

TEST_F(PlanReconcilerTest, WithoutRolloutPostDeployStepsRunWithTheRest) {
  MemorySessions sessions;
  rollouts_.verdict = {false, "must not be asked"};
  json spec = GatedSpec();
  spec.erase("rollout");
  (void)Reconcile(Plan(spec), sessions);
  EXPECT_TRUE(rollouts_.asked.empty());
  EXPECT_EQ(sessions.database.LedgerRows().size(), 2u);
  EXPECT_EQ(Condition(sink_.patches.at(0)["status"], "Ready"), "True/UpToDate");
}

TEST_F(PlanReconcilerTest, AStatusThatCannotBeWrittenIsAnError) {
  FailingSessions sessions(Status::Unavailable("connection refused"));
  sink_.patch_answer = Status::Unavailable("API server down");
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions), Action::Error());
}

TEST_F(PlanReconcilerTest, APlanDeletedDuringItsReconcileKeepsItsEventsAndLeavesNoSeries) {
  MemorySessions sessions;
  sink_.patch_answer = Status::NotFound("migrationplans.tidemark.dev \"shop\" not found");
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions), Action::AwaitChange());
  EXPECT_EQ(sessions.database.LedgerRows(), (std::set<plan::StepId>{{"shop", "0001_initial"}}));
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].reason, "Applied");
  EXPECT_THAT(metrics_.Serialize(), Not(HasSubstr("plan=\"shop\"")));
}

}  // namespace
}  // namespace tidemark::op
