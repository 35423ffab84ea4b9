// The MigrationPlan reconciler against fakes: no API server, no database, no process. What
// it writes to the cluster (status, events) and the Action it returns for each outcome.
#include "operator/plan_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

namespace tidemark::op {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct RecordedEvent {
  runtime::EventType type;
  std::string reason, note;
};

class FakeSink : public PlanSink {
 public:
  Status PatchStatus(const std::string& ns, const std::string& name, const json& status) override {
    patches.push_back({{"plan", ns + "/" + name}, {"status", status}});
    return fail_patches ? Status::Unavailable("API server down") : Status::Ok();
  }
  void RecordEvent(const json&, runtime::EventType type, const std::string& reason,
                   const std::string&, const std::string& note) override {
    events.push_back({type, reason, note});
  }

  bool fail_patches = false;
  std::vector<json> patches;
  std::vector<RecordedEvent> events;
};

class NoObjects : public spec::ObjectSource {
 public:
  Result<std::map<std::string, std::string>> ConfigMapData(const std::string&,
                                                           const std::string& name) override {
    return Status::NotFound("ConfigMap " + name + " not found");
  }
  Result<std::string> SecretValue(const std::string&, const std::string& name,
                                  const std::string&) override {
    return Status::NotFound("Secret " + name + " not found");
  }
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
    PlanReconciler reconciler(sink_, objects_, sessions, index_, metrics_, options_);
    return reconciler.Reconcile(object, {});
  }

  FakeSink sink_;
  NoObjects objects_;
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

TEST_F(PlanReconcilerTest, AStatusThatCannotBeWrittenIsAnError) {
  FailingSessions sessions(Status::Unavailable("connection refused"));
  sink_.fail_patches = true;
  EXPECT_EQ(Reconcile(Plan(OneStep()), sessions), Action::Error());
}

}  // namespace
}  // namespace tidemark::op
