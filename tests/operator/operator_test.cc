// `kubectl apply` a MigrationPlan and the database follows: the operator process against
// the test API server (driven by the real kubectl) and a real PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/metrics/exposition.h"
#include "tests/shipping/rbac_policy.h"
#include "tests/support/kube_api_server.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const char kKubectl[] = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kKubectl)) << kKubectl << " is missing";
    dir_ = fs::temp_directory_path() /
           ("tidemark-operator-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    KubeApiServerOptions options;
    options.crd_paths = {SourcePath("crds/migrationplans.tidemark.dev.yaml")};
    auto started = KubeApiServer::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
    kubeconfig_ = (dir_ / "kubeconfig").string();
    ASSERT_TRUE(server_->WriteKubeconfig(kubeconfig_).ok());
    dsn_ = PostgresServer::Get().CreateDatabase("operator");
  }

  void TearDown() override {
    operators_.clear();  // SIGKILL whatever still runs
    if (server_) server_->Stop();
    fs::remove_all(dir_);
  }

  ProcessResult Kubectl(std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {kKubectl, "--kubeconfig", kubeconfig_, "--cache-dir",
                                     (dir_ / "cache").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.input = input;
    options.timeout_seconds = 120;
    return RunProcess(argv, options);
  }

  void CreateDsnSecret(const std::string& name = "shop-db") {
    const ProcessResult created =
        Kubectl({"create", "secret", "generic", name, "--from-literal=dsn=" + dsn_});
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  // Starts `tidemark operator`; returns its metrics port.
  int StartOperator(std::vector<std::string> extra = {}) {
    if (std::find(extra.begin(), extra.end(), "--leader-elect") != extra.end() &&
        Kubectl({"get", "namespace", "tidemark-system"}).exit_code != 0) {
      // The Lease lives in the controller's namespace, as manifests/ create it.
      EXPECT_EQ(Kubectl({"create", "namespace", "tidemark-system"}).exit_code, 0);
    }
    const int port = FreeLoopbackPort();
    std::vector<std::string> argv = {BuiltProgram("tidemark"),
                                     "operator",
                                     "--kubeconfig",
                                     kubeconfig_,
                                     "--metrics-addr",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--workers",
                                     "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    operators_.push_back(std::make_unique<BackgroundProcess>(argv));
    EXPECT_TRUE(Eventually([&] {
      httplib::Client client("127.0.0.1", port);
      auto response = client.Get("/healthz");
      return response && response->status == 200;
    })) << "the operator never answered /healthz";
    return port;
  }

  std::string Jsonpath(const std::string& plan, const std::string& path) {
    return Kubectl({"get", "mplan", plan, "-o", "jsonpath=" + path}).out;
  }
  std::string ConditionReason(const std::string& plan, const std::string& type) {
    return Jsonpath(plan, "{.status.conditions[?(@.type==\"" + type + "\")].reason}");
  }
  std::string Sql(const std::string& query) {
    return PostgresServer::Get().QueryValue(dsn_, query);
  }

  std::string Scrape(int port) {
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get("/metrics");
    return response ? response->body : "";
  }

  fs::path dir_;
  std::unique_ptr<KubeApiServer> server_;
  std::string kubeconfig_;
  std::string dsn_;
  std::vector<std::unique_ptr<BackgroundProcess>> operators_;
};

std::string ExampleFile(const std::string& name) { return SourcePath("examples/" + name); }

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
  for (const RecordedRequest& request : server_->requests()) {
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
  server_->DropWatches();
  server_->Compact();
  server_->FailNextRequests("PATCH", "/status", 3, 409);
  server_->FailNextRequests("GET", "/configmaps", 2, 500);
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
  const std::vector<std::string> election = {"--leader-elect", "--lease-namespace",
                                             "tidemark-system"};
  std::vector<std::string> first = election, second = election;
  first.insert(first.end(), {"--identity", "replica-a"});
  second.insert(second.end(), {"--identity", "replica-b"});
  const int port_a = StartOperator(first);
  const int port_b = StartOperator(second);
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

TEST_F(OperatorTest, LogLevelWarnLeavesOutTheInfoLines) {
  CreateDsnSecret();
  const auto run_until_ready = [&](std::vector<std::string> flags) {
    StartOperator(std::move(flags));
    EXPECT_EQ(Kubectl({"apply", "-f", ExampleFile("shop")}).exit_code, 0);
    EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "--timeout=90s"}).exit_code,
              0);
    operators_.back()->Kill(SIGTERM);
    return operators_.back()->Wait().err;
  };
  const std::string quiet = run_until_ready({"--log-level", "warn"});
  EXPECT_THAT(quiet, Not(HasSubstr("\"msg\":\"reconciled\"")));
  EXPECT_THAT(quiet, Not(HasSubstr("\"msg\":\"controller started\"")));
  // Without the flag the operator logs at info: every reconcile, as JSON lines (stderr is
  // not a terminal here) carrying the plan and the reconcile id.
  const std::string lines = run_until_ready({});
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

}  // namespace
}  // namespace tidemark::testing
