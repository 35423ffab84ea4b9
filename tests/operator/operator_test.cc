// `kubectl apply` a MigrationPlan and the database follows: the operator process against
// the test API server (driven by the real kubectl) and a real PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/metrics/exposition.h"
#include "tests/operator/operator_fixture.h"
#include "tests/shipping/rbac_policy.h"
#include "tests/support/kube_api_server.h"
#include "tests/support/operator_process.h"
#include "tests/support/pgbouncer.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The fields of spec.database, indented under it, that reach the test server of `dsn` as
// `user` with the password of the Secret db-password.
std::string PasswordFromFields(const std::string& dsn, const std::string& user) {
  return "    host: " + DsnField(dsn, "host") + "\n    port: " + DsnField(dsn, "port") +
         "\n    dbname: " + DsnField(dsn, "dbname") + "\n    user: " + user +
         "\n    passwordFrom: {secretKeyRef: {name: db-password, key: password}}";
}

TEST_F(OperatorTest, KubectlDrivesTheDatabase) {
  CreateDsnSecret();
  const int port = StartOperator({"--lease-namespace", "tidemark-system", "--leader-elect"});
  const ProcessResult applied = Kubectl({"apply", "-f", ExampleFile("shop")});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;

  const ProcessResult waited =
      Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=90s"});
  ASSERT_EQ(waited.exit_code, 0) << waited.out << waited.err;
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "7");

  const ProcessResult listed = Kubectl({"get", "mplan"});
  EXPECT_THAT(listed.out, HasSubstr("NAME   READY   APPLIED   PENDING   REASON     AGE"));
  EXPECT_THAT(listed.out, HasSubstr("shop   True    7         0         UpToDate"));

  const ProcessResult described = Kubectl({"describe", "mplan", "shop"});
  EXPECT_THAT(described.out, HasSubstr("Applied"));
  EXPECT_THAT(described.out, HasSubstr("7 steps in"));
  // One event tells what the run did and that it reached the target.
  EXPECT_THAT(described.out, HasSubstr("ms, the ledger now matches the plan: "));

  // Editing the target with kubectl apply reverts (the rollback plan allows it).
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("rollback/plan.yaml")}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return Jsonpath("shop", "{.status.summary.applied}") == "5"; }));
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "5");
  EXPECT_EQ(Jsonpath("shop", "{.status.observedGeneration}"), "2");
  EXPECT_EQ(ConditionReason("shop", "Ready"), "UpToDate");

  // Metrics moved with the steps, and promtool accepts them.
  const std::string metrics = Scrape(port);
  EXPECT_THAT(metrics, HasSubstr("tidemark_steps_total{action=\"apply\",result=\"success\"} 7"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_steps_total{action=\"revert\",result=\"success\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_plan_ready{namespace=\"default\",plan=\"shop\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_leader 1"));
  ProcessOptions input;
  input.input = metrics;
  const ProcessResult promtool = RunProcess({"promtool", "check", "metrics"}, input);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;

  // Deleting the plan leaves the database as it is.
  ASSERT_EQ(Kubectl({"delete", "mplan", "shop"}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return Scrape(port).find("plan=\"shop\"") == std::string::npos; }));
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "5");

  // Every call the controller made is allowed by the shipped RBAC, and nothing more is used.
  auto policy =
      RbacPolicy::Load({SourcePath("manifests/core/rbac.yaml")}, "tidemark-system", "tidemark");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  std::set<std::string> used;
  for (const RecordedRequest& request : cluster_->server().requests()) {
    if (request.user_agent != "tidemark") continue;  // kubectl's own calls
    const std::string path = request.target.substr(0, request.target.find('?'));
    std::vector<std::string> parts;
    for (size_t start = 1; start <= path.size();) {
      const size_t end = path.find('/', start);
      parts.push_back(path.substr(start, end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    ApiRequest api;
    size_t i = 0;
    if (parts[0] == "api") {
      i = 2;
    } else if (parts[0] == "apis" && parts.size() > 2) {
      api.group = parts[1];
      i = 3;
    } else {
      continue;  // discovery
    }
    if (i < parts.size() && parts[i] == "namespaces" && i + 2 < parts.size()) {
      api.ns = parts[i + 1];
      i += 2;
    }
    if (i >= parts.size()) continue;
    api.resource = parts[i];
    if (i + 1 < parts.size()) api.name = parts[i + 1];
    if (i + 2 < parts.size()) api.resource += "/" + parts[i + 2];
    const bool watch = request.target.find("watch=true") != std::string::npos;
    api.verb = RequestVerb(request.method, !api.name.empty(), watch);
    used.insert(RbacPolicy::Describe(api));
    EXPECT_TRUE(policy->Allows(api)) << "the controller called " << RbacPolicy::Describe(api)
                                     << ", which manifests/core/rbac.yaml does not allow";
  }
  EXPECT_FALSE(used.empty());
}

TEST_F(OperatorTest, BadPlansStallWhileOthersAreServed) {
  CreateDsnSecret();
  StartOperator();
  const std::string cycle = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: cyclic}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  migrations:
    - {app: a, name: "0001", dependencies: [b.0001], forward: "SELECT 1"}
    - {app: b, name: "0001", dependencies: [a.0001], forward: "SELECT 1"}
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: denied}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}, schema: public}
  ledger: {table: denied_ledger, historyTable: denied_history}
  migrations:
    - {app: c, name: "0001", forward: "CREATE TABLE c1 (id int)", backward: "DROP TABLE c1"}
  targets: [{app: c, migration: zero}]
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: nosecret}
spec:
  database: {passwordFrom: {secretKeyRef: {name: absent, key: password}}, host: /tmp}
  migrations: [{app: d, name: "0001", forward: "SELECT 1"}]
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: broken}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  ledger: {table: broken_ledger, historyTable: broken_history}
  migrations: [{app: e, name: "0001", forward: "INSERT INTO nowhere VALUES (1)"}]
)y";
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, cycle).exit_code, 0);
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=90s"}).exit_code, 0);
  EXPECT_TRUE(
      Eventually([&] { return ConditionReason("cyclic", "Stalled") == "DependencyCycle"; }));
  EXPECT_THAT(Jsonpath("cyclic", "{.status.conditions[?(@.type==\"Stalled\")].message}"),
              HasSubstr("a.0001 -> b.0001 -> a.0001"));
  EXPECT_TRUE(
      Eventually([&] { return ConditionReason("nosecret", "Stalled") == "SecretNotFound"; }));
  EXPECT_THAT(Jsonpath("nosecret", "{.status.conditions[?(@.type==\"Stalled\")].message}"),
              HasSubstr("Secret absent (namespace default) does not exist"));
  EXPECT_TRUE(
      Eventually([&] { return ConditionReason("broken", "Stalled") == "MigrationFailed"; }));
  EXPECT_EQ(Jsonpath("broken", "{.status.failure.sqlState}"), "42P01");
  // A revert the policy denies: apply first with a plan that wants c.0001, then target zero.
  EXPECT_TRUE(Eventually([&] { return ConditionReason("denied", "Ready") == "UpToDate"; }));
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "7");
  // Events say why, as kubectl describe shows them.
  EXPECT_THAT(Kubectl({"describe", "mplan", "broken"}).out, HasSubstr("MigrationFailed"));
}

// A failure stays in the status while it stands and leaves it once the step succeeds.
TEST_F(OperatorTest, AFixedStepClearsTheFailureFromTheStatus) {
  CreateDsnSecret();
  StartOperator();
  const auto plan = [](const std::string& sql) {
    return "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: fixed}\n"
           "spec:\n  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}\n"
           "  migrations: [{app: e, name: \"0001\", forward: \"" +
           sql + "\"}]\n";
  };
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("INSERT INTO nowhere VALUES (1)")).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return ConditionReason("fixed", "Stalled") == "MigrationFailed"; }));
  EXPECT_EQ(Jsonpath("fixed", "{.status.failure.sqlState}"), "42P01");
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("CREATE TABLE nowhere (id int)")).exit_code, 0);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/fixed", "--timeout=90s"}).exit_code,
            0);
  EXPECT_EQ(Jsonpath("fixed", "{.status.failure}"), "");
  EXPECT_EQ(Jsonpath("fixed", "{.status.lastApplied.migration}"), "e.0001");
}

// A run that lasts says so in the status while it runs (a short one goes straight to Ready).
TEST_F(OperatorTest, ALongRunShowsApplyingUntilItEnds) {
  CreateDsnSecret();
  StartOperator();
  const std::string slow = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: slow}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  migrations:
    - {app: s, name: "0001_wait", forward: "SELECT pg_sleep(6)"}
    - {app: s, name: "0002_table", dependencies: [s.0001_wait], forward: "CREATE TABLE s2 (id int)"}
)y";
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, slow).exit_code, 0);
  ASSERT_TRUE(Eventually([&] { return ConditionReason("slow", "Reconciling") == "Applying"; }));
  EXPECT_THAT(Jsonpath("slow", "{.status.conditions[?(@.type==\"Reconciling\")].message}"),
              HasSubstr("2 steps to run, starting with s.0001_wait"));
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations WHERE app = 's'"), "0");
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/slow", "--timeout=60s"}).exit_code, 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations WHERE app = 's'"), "2");
}

TEST_F(OperatorTest, ConvergesThroughFaultsWithoutApplyingTwice) {
  StartOperator();
  // The plan comes before its Secret.
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  EXPECT_TRUE(Eventually([&] { return ConditionReason("shop", "Stalled") == "SecretNotFound"; }));
  // The API server drops watches, forgets old versions, and refuses status writes.
  cluster_->server().DropWatches();
  cluster_->server().Compact();
  cluster_->server().FailNextRequests("PATCH", "/status", 3, 409);
  cluster_->server().FailNextRequests("GET", "/configmaps", 2, 500);
  CreateDsnSecret();
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=120s"}).exit_code,
            0);
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "7");
  EXPECT_EQ(Sql("SELECT count(*) FROM tidemark_history WHERE action = 'apply'"), "7");
}

TEST_F(OperatorTest, DatabaseDownForAWhile) {
  CreateDsnSecret();
  StartOperator();
  PostgresServer::Get().Stop();
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  const bool waiting =
      Eventually([&] { return ConditionReason("shop", "Reconciling") == "DatabaseUnavailable"; });
  PostgresServer::Get().Start();
  EXPECT_TRUE(waiting);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=120s"}).exit_code,
            0);
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "7");
}

TEST_F(OperatorTest, StandbyTakesOverWhenTheLeaderDies) {
  CreateDsnSecret();
  // One replica named by flags, the other as the manifests name it: by the pod's
  // POD_NAME and POD_NAMESPACE (the downward API).
  const int port_a = StartOperator(
      {"--leader-elect", "--lease-namespace", "tidemark-system", "--identity", "replica-a"});
  const int port_b = StartOperator(
      {"--leader-elect"}, {{"POD_NAME", "replica-b"}, {"POD_NAMESPACE", "tidemark-system"}});
  auto lease_holder = [&] {
    return Kubectl({"get", "lease", "-n", "tidemark-system", "tidemark-controller", "-o",
                    "jsonpath={.spec.holderIdentity}"})
        .out;
  };
  ASSERT_TRUE(Eventually([&] { return !lease_holder().empty(); }));
  const std::string leader = lease_holder();
  const bool a_leads = leader == "replica-a";
  EXPECT_THAT(Scrape(a_leads ? port_a : port_b), HasSubstr("tidemark_leader 1"));
  EXPECT_THAT(Scrape(a_leads ? port_b : port_a), HasSubstr("tidemark_leader 0"));

  operators_[a_leads ? 0 : 1]->Kill(SIGKILL);
  EXPECT_TRUE(Eventually([&] { return lease_holder() == (a_leads ? "replica-b" : "replica-a"); },
                         std::chrono::seconds(60)));
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=90s"}).exit_code, 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "7");
}

TEST_F(OperatorTest, TwoControllersWithoutElectionStillApplyEachStepOnce) {
  CreateDsnSecret();
  StartOperator();
  StartOperator();
  std::string steps;
  for (int i = 1; i <= 20; ++i) {
    steps += "    - {app: a, name: \"" + std::to_string(1000 + i) + "\"" +
             (i > 1 ? ", dependencies: [a." + std::to_string(999 + i) + "]" : "") +
             ", forward: \"CREATE TABLE t" + std::to_string(i) +
             " (id int); SELECT pg_sleep(0.05)\"}\n";
  }
  const std::string plan =
      "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\n"
      "metadata: {name: race}\nspec:\n"
      "  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}\n"
      "  migrations:\n" +
      steps;
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan).exit_code, 0);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/race", "--timeout=120s"}).exit_code,
            0);
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "20");
  EXPECT_EQ(Sql("SELECT count(*) FROM tidemark_history WHERE action = 'apply'"), "20");
}

// The controller's own status writes come back on the plans watch; they must not queue the
// plan again (its cache compares the cached plan with the new one), while a spec change must.
TEST_F(OperatorTest, ReconcilesOncePerSpecChangeNotPerStatusWrite) {
  CreateDsnSecret();
  const int port = StartOperator();
  // Ready: the caches are synced, so their first listings queue nothing after this.
  ASSERT_TRUE(Eventually([&] {
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get("/readyz");
    return response && response->status == 200;
  }));
  const auto plan = [](const std::string& lint) {
    return "apiVersion: tidemark.dev/v1alpha1\n"
           "kind: MigrationPlan\n"
           "metadata: {name: once, namespace: default}\n"
           "spec:\n"
           "  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}\n"
           "  ledger: {table: once_ledger, historyTable: once_history}\n"
           "  policy: {lint: " +
           lint +
           "}\n"
           "  migrations:\n"
           "    - {app: once, name: '0001', forward: 'CREATE TABLE once_a (id int)',\n"
           "       backward: 'DROP TABLE once_a'}\n";
  };
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("Warn")).exit_code, 0);
  ASSERT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/once", "--timeout=90s"}).exit_code, 0);
  // A spec change after the first reconcile's status writes: the watch delivers those first.
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("'Off'")).exit_code, 0);
  EXPECT_TRUE(Eventually([&] {
    return Jsonpath("once", "{.status.observedGeneration}") == "2" &&
           ConditionReason("once", "Ready") == "UpToDate";
  }));
  // The second reconcile is counted just after its status write: wait for it.
  const auto successes = [&] {
    return ParseExposition(Scrape(port))
        .Value("tidemark_reconcile_total{result=\"success\"}")
        .value_or(0);
  };
  EXPECT_TRUE(Eventually([&] { return successes() >= 2; }));
  EXPECT_EQ(successes(), 2);
}

// policy.approval: Required through kubectl: the status publishes the digest of the pending
// actions, an approval of older SQL runs nothing, and the current digest runs them.
TEST_F(OperatorTest, ApprovalIsBoundToTheSqlThatWillRun) {
  CreateDsnSecret();
  StartOperator();
  const auto plan = [](const std::string& column_type, const std::string& approved) {
    return "apiVersion: tidemark.dev/v1alpha1\n"
           "kind: MigrationPlan\n"
           "metadata: {name: reviewed, namespace: default}\n"
           "spec:\n"
           "  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}\n"
           "  policy: {approval: Required}\n"
           "  approvedDigest: '" +
           approved +
           "'\n"
           "  migrations:\n"
           "    - {app: rev, name: '0001', forward: 'CREATE TABLE reviewed (id " +
           column_type + ")'}\n";
  };
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("int", "")).exit_code, 0);
  EXPECT_TRUE(
      Eventually([&] { return ConditionReason("reviewed", "Ready") == "WaitingForApproval"; }));
  EXPECT_EQ(ConditionReason("reviewed", "Stalled"), "WaitingForApproval");
  EXPECT_EQ(Jsonpath("reviewed", "{.status.conditions[?(@.type==\"Stalled\")].status}"), "False");
  const std::string first = Jsonpath("reviewed", "{.status.approval.digest}");
  ASSERT_THAT(first, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(Jsonpath("reviewed", "{.status.approval.approved}"), "false");
  EXPECT_EQ(Jsonpath("reviewed", "{.status.pending[0].migration}"), "rev.0001");
  EXPECT_THAT(Jsonpath("reviewed", "{.status.conditions[?(@.type==\"Ready\")].message}"),
              HasSubstr("set spec.approvedDigest (CLI: apply --approve) to " + first));

  // The SQL changed after the review: the approval of the first digest runs nothing.
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("bigint", first)).exit_code, 0);
  EXPECT_TRUE(Eventually([&] {
    return Jsonpath("reviewed", "{.status.observedGeneration}") == "2" &&
           ConditionReason("reviewed", "Ready") == "WaitingForApproval";
  }));
  const std::string second = Jsonpath("reviewed", "{.status.approval.digest}");
  EXPECT_NE(second, first);
  EXPECT_THAT(Jsonpath("reviewed", "{.status.conditions[?(@.type==\"Ready\")].message}"),
              HasSubstr("the approved digest " + first + " is of other actions"));
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_class WHERE relname = 'reviewed'"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations"), "0");

  // A digest that is no digest is refused by the API server, before the controller.
  const ProcessResult malformed = Kubectl({"apply", "-f", "-"}, plan("bigint", "LGTM"));
  EXPECT_NE(malformed.exit_code, 0);
  EXPECT_THAT(malformed.err, HasSubstr("spec.approvedDigest"));

  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan("bigint", second)).exit_code, 0);
  ASSERT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/reviewed", "--timeout=90s"}).exit_code,
            0);
  EXPECT_EQ(Sql("SELECT format_type(atttypid, -1) FROM pg_attribute WHERE attrelid = "
                "'reviewed'::regclass AND attname = 'id'"),
            "bigint");
  // Nothing pending: nothing to approve, and the status no longer shows an approval.
  EXPECT_TRUE(Eventually([&] { return Jsonpath("reviewed", "{.status.approval}").empty(); }));
}

TEST_F(OperatorTest, LogLevelWarnLeavesOutTheInfoLines) {
  CreateDsnSecret();
  // Each operator runs until it has reconciled the plan's `generation`: a plan Ready from an
  // earlier operator must not end the next one's run before it looked.
  const auto run_until_reconciled = [&](std::vector<std::string> flags,
                                        const std::string& generation) {
    StartOperator(std::move(flags));
    EXPECT_TRUE(Eventually([&] {
      return Jsonpath("shop", "{.status.observedGeneration}") == generation &&
             ConditionReason("shop", "Ready") == "UpToDate";
    }));
    operators_.back()->Kill(SIGTERM);
    return operators_.back()->Wait().err;
  };
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  const std::string quiet = run_until_reconciled({"--log-level", "warn"}, "1");
  EXPECT_THAT(quiet, Not(HasSubstr("\"msg\":\"reconciled\"")));
  EXPECT_THAT(quiet, Not(HasSubstr("\"msg\":\"controller started\"")));
  // Without the flag the operator logs at info: every reconcile, as JSON lines (stderr is
  // not a terminal here) carrying the plan and the reconcile id. A spec change (generation 2)
  // gives it a reconcile of its own.
  ASSERT_EQ(Kubectl({"patch", "mplan", "shop", "--type=merge", "-p",
                     R"({"spec":{"policy":{"lockTimeout":"6s"}}})"})
                .exit_code,
            0);
  const std::string lines = run_until_reconciled({}, "2");
  EXPECT_THAT(lines, HasSubstr("\"msg\":\"reconciled\""));
  std::istringstream stream(lines);
  bool saw_reconcile = false;
  for (std::string line; std::getline(stream, line);) {
    const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << "not a JSON line: " << line;
    EXPECT_TRUE(entry.contains("time") && entry.contains("level") && entry.contains("msg"));
    if (entry.value("msg", "") == "reconciled") {
      saw_reconcile = true;
      EXPECT_EQ(entry.value("plan", ""), "default/shop");
      EXPECT_FALSE(entry.value("reconcile", "").empty());
      EXPECT_EQ(entry.value("result", ""), "success");
    }
  }
  EXPECT_TRUE(saw_reconcile) << lines;
}

// A failing statement with a two-byte character where the status cuts it (byte 200) and the
// message cuts it (byte 120) once threw in the worker writing the status: the process died
// and restarted, again and again, for every plan it served.
TEST_F(OperatorTest, MultiByteTextAtTheCutOfAFailingStatementStallsOnlyItsPlan) {
  CreateDsnSecret();
  StartOperator();
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "\xC3\xA9";
  const std::string statement = "INSERT INTO missing_table VALUES ('" + accents + "')";
  const std::string accented = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: accented}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  ledger: {table: accented_ledger, historyTable: accented_history}
  migrations: [{app: e, name: "0001", forward: ")y" +
                               statement + R"y("}]
)y";
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, accented).exit_code, 0);
  ASSERT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=90s"}).exit_code, 0);
  EXPECT_TRUE(
      Eventually([&] { return ConditionReason("accented", "Stalled") == "MigrationFailed"; }));
  EXPECT_EQ(Jsonpath("accented", "{.status.failure.statement.text}"),
            statement.substr(0, 35 + 2 * 81) + "...");
  EXPECT_THAT(Jsonpath("accented", "{.status.conditions[?(@.type==\"Stalled\")].message}"),
              HasSubstr("`" + statement.substr(0, 35 + 2 * 41) + "...`"));
  EXPECT_THAT(Kubectl({"describe", "mplan", "accented"}).out, HasSubstr("MigrationFailed"));
  EXPECT_FALSE(operators_.back()->Poll()) << "the operator died";
}

// A password in the DSN's Secret and one read through passwordFrom, with steps whose errors
// quote it (the test server trusts local connections, so any password connects, and casting
// it to int makes PostgreSQL echo it): it shows in no status, event, log line or metric.
TEST_F(OperatorTest, PasswordsShowInNoStatusEventLogOrMetric) {
  const std::string password = "Tm-Pw-5e2d90";
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "dsn-with-password",
                     "--from-literal=dsn=" + dsn_ + " password=" + password})
                .exit_code,
            0);
  ASSERT_EQ(
      Kubectl({"create", "secret", "generic", "db-password", "--from-literal=password=" + password})
          .exit_code,
      0);
  const int port = StartOperator({"--log-level", "debug"});
  const std::string echo = "forward: \"SELECT '" + password + "'::int\"";
  const std::string plans = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: in-dsn}
spec:
  database: {dsnFrom: {secretKeyRef: {name: dsn-with-password, key: dsn}}}
  ledger: {table: dsn_ledger, historyTable: dsn_history}
  migrations:
    - {app: a, name: "0001", forward: "SELECT 1"}
    - {app: a, name: "0002", dependencies: [a.0001], )y" +
                            echo + R"y(}
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: password-from}
spec:
  database:
)y" + PasswordFromFields(dsn_, "postgres") +
                            R"y(
  ledger: {table: from_ledger, historyTable: from_history}
  migrations:
    - {app: b, name: "0001", )y" +
                            echo + R"y(}
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: unreachable}
spec:
  database:
    host: /nonexistent/socket
    dbname: shop
    user: app
    passwordFrom: {secretKeyRef: {name: db-password, key: password}}
  migrations: [{app: c, name: "0001", forward: "SELECT 1"}]
)y";
  const ProcessResult applied = Kubectl({"apply", "-f", "-"}, plans);
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  for (const std::string plan : {"in-dsn", "password-from"}) {
    EXPECT_TRUE(Eventually([&] { return ConditionReason(plan, "Stalled") == "MigrationFailed"; }))
        << plan;
    EXPECT_EQ(Jsonpath(plan, "{.status.failure.message}"),
              "invalid input syntax for type integer: \"***\"");
    EXPECT_EQ(Jsonpath(plan, "{.status.failure.statement.text}"), "SELECT '***'::int");
  }
  EXPECT_TRUE(Eventually(
      [&] { return ConditionReason("unreachable", "Reconciling") == "DatabaseUnavailable"; }));

  // The plans' specs hold the password (in their SQL): the statuses must not.
  const std::string statuses = Kubectl({"get", "mplan", "-o", "jsonpath={.items[*].status}"}).out;
  const std::string events = Kubectl({"get", "events", "-o", "json"}).out;
  const std::string metrics = Scrape(port);
  EXPECT_THAT(statuses, HasSubstr("integer: \\\"***\\\""));
  EXPECT_THAT(events, HasSubstr("MigrationFailed"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_"));
  operators_.back()->Kill(SIGTERM);
  const ProcessResult logs = operators_.back()->Wait();
  EXPECT_THAT(logs.err, HasSubstr("\"msg\":\"step failed\""));
  for (const std::string* seen : {&statuses, &events, &metrics, &logs.out, &logs.err}) {
    EXPECT_THAT(*seen, Not(HasSubstr(password)));
  }
}

// A role whose password the server checks (PostgresServer::PasswordRole), given a wrong,
// recognisable password in a DSN Secret and through passwordFrom: each plan says which
// login failed and what to check, in its status and an event; the password shows in no
// status, event, log line or metric. The right password in the Secret, the plan goes on.
TEST_F(OperatorTest, WrongPasswordSaysWhichLoginFailedAndShowsNowhere) {
  const std::string wrong = "Tm-Pw-77b3a1";
  const std::string as_app = PostgresServer::Get().PasswordRole(dsn_, "shop_app", "Right-Pw-9f");
  Sql("GRANT CREATE ON SCHEMA public TO shop_app");
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "dsn-with-password",
                     "--from-literal=dsn=" + as_app + " password=" + wrong})
                .exit_code,
            0);
  ASSERT_EQ(
      Kubectl({"create", "secret", "generic", "db-password", "--from-literal=password=" + wrong})
          .exit_code,
      0);
  const int port = StartOperator({"--log-level", "debug"});
  const std::string plans = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: in-dsn}
spec:
  database: {dsnFrom: {secretKeyRef: {name: dsn-with-password, key: dsn}}}
  ledger: {table: dsn_ledger, historyTable: dsn_history}
  migrations: [{app: a, name: "0001", forward: "SELECT 1"}]
---
apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: password-from}
spec:
  database:
)y" + PasswordFromFields(dsn_, "shop_app") +
                            R"y(
  ledger: {table: from_ledger, historyTable: from_history}
  migrations: [{app: b, name: "0001", forward: "CREATE TABLE b_item (id int)"}]
)y";
  const ProcessResult applied = Kubectl({"apply", "-f", "-"}, plans);
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  const std::string target = DsnField(dsn_, "host") + ":" + DsnField(dsn_, "port") + "/" +
                             DsnField(dsn_, "dbname") + " as shop_app: ";
  for (const std::string plan : {"in-dsn", "password-from"}) {
    EXPECT_TRUE(Eventually([&] {
      return ConditionReason(plan, "Reconciling") == "DatabaseUnavailable";
    })) << plan;
    const std::string message =
        Jsonpath(plan, "{.status.conditions[?(@.type==\"Reconciling\")].message}");
    EXPECT_THAT(message, HasSubstr("cannot connect to " + target)) << message;
    EXPECT_THAT(message, HasSubstr("password authentication failed for user \"shop_app\""))
        << message;
    EXPECT_THAT(message, HasSubstr("the server refused the login: check the user and the "
                                   "password given"))
        << message;
    EXPECT_THAT(message, Not(HasSubstr("dbname="))) << message;
  }
  const std::string statuses = Kubectl({"get", "mplan", "-o", "jsonpath={.items[*].status}"}).out;
  const std::string events = Kubectl({"get", "events", "-o", "json"}).out;
  const std::string metrics = Scrape(port);
  EXPECT_THAT(events, HasSubstr("DatabaseUnavailable"));
  EXPECT_THAT(events, HasSubstr("password authentication failed"));
  EXPECT_THAT(metrics, HasSubstr("tidemark_"));

  // Told what to fix, a person fixes the Secret: the plan reads it again and connects.
  ASSERT_EQ(Kubectl({"patch", "secret", "db-password", "-p",
                     R"({"data":{"password":"UmlnaHQtUHctOWY="}})"})
                .exit_code,
            0);
  EXPECT_TRUE(Eventually([&] { return ConditionReason("password-from", "Ready") == "UpToDate"; }))
      << Jsonpath("password-from", "{.status.conditions}");
  EXPECT_EQ(Sql("SELECT count(*) FROM pg_tables WHERE tablename = 'b_item'"), "1");

  operators_.back()->Kill(SIGTERM);
  const ProcessResult logs = operators_.back()->Wait();
  EXPECT_THAT(logs.err, HasSubstr("password authentication failed"));
  for (const std::string* seen : {&statuses, &events, &metrics, &logs.out, &logs.err}) {
    EXPECT_THAT(*seen, Not(HasSubstr(wrong)));
    EXPECT_THAT(*seen, Not(HasSubstr("Right-Pw-9f")));
  }
}

}  // namespace
}  // namespace tidemark::testing
