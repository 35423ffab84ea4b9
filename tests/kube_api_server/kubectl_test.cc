// The real kubectl (1.32) against the test API server: what users type must work.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/kube_api_server/api_test_client.h"
#include "tests/support/kubectl_cluster.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kPlans = "/apis/tidemark.dev/v1alpha1/namespaces/prod/migrationplans";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tidemark-kubectl-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    KubeApiServerOptions options;
    options.bookmark_interval = std::chrono::minutes(10);  // no bookmark moves kubectl's version
    auto started = KubectlCluster::Start(dir_.string(), options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    cluster_ = std::move(*started);
    api_ = std::make_unique<ApiTestClient>(cluster_->server().port());
  }
  void TearDown() override {
    cluster_.reset();
    fs::remove_all(dir_);
  }

  std::vector<std::string> Command(const std::vector<std::string>& args) const {
    return cluster_->Command(args);
  }

  ProcessResult Kubectl(const std::vector<std::string>& args, const std::string& input = "") {
    return cluster_->Kubectl(args, input);
  }

  // Installs the CRD and the namespace the way a user does.
  void Install() {
    const auto crd = Kubectl({"apply", "-f", SourcePath("crds/migrationplans.tidemark.dev.yaml")});
    ASSERT_EQ(crd.exit_code, 0) << crd.err;
    EXPECT_EQ(
        crd.out,
        "customresourcedefinition.apiextensions.k8s.io/migrationplans.tidemark.dev created\n");
    const auto ns = Kubectl({"apply", "-f", "-"},
                            R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}})");
    ASSERT_EQ(ns.exit_code, 0) << ns.err;
  }

  void ApplyShop() {
    const auto applied =
        Kubectl({"apply", "-f", SourcePath("tests/kube_api_server/testdata/shop-plan.yaml")});
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
    EXPECT_EQ(applied.out, "migrationplan.tidemark.dev/shop created\n");
  }

  void SetReady(const std::string& status, const std::string& reason) {
    const json plan = api_->Get(kPlans + "/shop").body;
    const json patch = {
        {"status",
         {{"observedGeneration", plan["metadata"]["generation"]},
          {"summary", {{"total", 4}, {"applied", 3}, {"pending", 1}, {"toRevert", 0}}},
          {"conditions",
           {{{"type", "Ready"},
             {"status", status},
             {"reason", reason},
             {"message", ""},
             {"observedGeneration", plan["metadata"]["generation"]},
             {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
    const auto written =
        api_->Patch(kPlans + "/shop/status", patch.dump(), "application/merge-patch+json");
    ASSERT_EQ(written.status, 200) << written.body.dump();
  }

  fs::path dir_;
  std::unique_ptr<KubectlCluster> cluster_;
  std::unique_ptr<ApiTestClient> api_;
};

TEST_F(KubectlTest, ApplyCreatesThenMergePatchesWithStrictValidation) {
  Install();
  ApplyShop();
  std::string changed = ReadFile(SourcePath("tests/kube_api_server/testdata/shop-plan.yaml"));
  changed.replace(changed.find("lockTimeout: 5s"), 15, "lockTimeout: 9s");
  const auto again = Kubectl({"apply", "-f", "-"}, changed);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "migrationplan.tidemark.dev/shop configured\n");
  const json plan = api_->Get(kPlans + "/shop").body;
  EXPECT_EQ(plan["spec"]["policy"]["lockTimeout"], "9s");
  EXPECT_EQ(plan["metadata"]["generation"], 2);
  EXPECT_TRUE(
      plan["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));
  bool strict_patch = false;
  for (const auto& request : cluster_->server().requests()) {
    if (request.method == "PATCH" && request.content_type == "application/merge-patch+json" &&
        request.target.find("fieldValidation=Strict") != std::string::npos) {
      strict_patch = true;
    }
  }
  EXPECT_TRUE(strict_patch);
  const auto unchanged = Kubectl({"apply", "-f", "-"}, changed);
  EXPECT_EQ(unchanged.out, "migrationplan.tidemark.dev/shop unchanged\n");
}

// A hand-written plan leaves the steps' atomic, python, phase and kind to what absent means.
// Were they schema defaults, the server would add them inside the list, and every apply (and
// every GitOps diff) would see a change to the whole list.
TEST_F(KubectlTest, ApplyingAPlanAgainIsUnchangedWhenItsStepsLeaveFieldsOut) {
  Install();
  const std::string plan =
      "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\n"
      "metadata: {name: terse, namespace: prod}\n"
      "spec:\n  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}\n"
      "  migrations: [{app: shop, name: '0001_initial', forward: 'CREATE TABLE t (id int)'}]\n";
  const auto created = Kubectl({"apply", "-f", "-"}, plan);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "migrationplan.tidemark.dev/terse created\n");
  const json stored = api_->Get(kPlans + "/terse").body;
  EXPECT_EQ(stored["spec"]["migrations"][0].size(), 3u) << stored["spec"]["migrations"][0].dump();
  const auto again = Kubectl({"apply", "-f", "-"}, plan);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "migrationplan.tidemark.dev/terse unchanged\n");
  EXPECT_EQ(api_->Get(kPlans + "/terse").body["metadata"]["generation"], 1);
}

TEST_F(KubectlTest, GetShowsThePrinterColumnsAndYaml) {
  Install();
  ApplyShop();
  SetReady("True", "UpToDate");
  const auto table = Kubectl({"get", "mplan", "-n", "prod"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  std::istringstream header_words(header), row_words(row);
  std::vector<std::string> columns, cells;
  for (std::string word; header_words >> word;) columns.push_back(word);
  for (std::string word; row_words >> word;) cells.push_back(word);
  EXPECT_EQ(columns,
            (std::vector<std::string>{"NAME", "READY", "APPLIED", "PENDING", "REASON", "AGE"}));
  ASSERT_EQ(cells.size(), 6u) << table.out;
  EXPECT_EQ((std::vector<std::string>(cells.begin(), cells.begin() + 5)),
            (std::vector<std::string>{"shop", "True", "3", "1", "UpToDate"}));
  const auto yaml = Kubectl({"get", "mplan", "shop", "-n", "prod", "-o", "yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_NE(yaml.out.find("kind: MigrationPlan"), std::string::npos);
  EXPECT_NE(yaml.out.find("migration: 0004_order_status"), std::string::npos);
  EXPECT_NE(yaml.out.find("reason: UpToDate"), std::string::npos);
}

TEST_F(KubectlTest, WaitSucceedsOnceReadyAndTimesOutOtherwise) {
  Install();
  ApplyShop();
  SetReady("False", "Applying");
  const auto timed_out =
      Kubectl({"wait", "--for=condition=Ready", "mplan/shop", "-n", "prod", "--timeout=2s"});
  EXPECT_EQ(timed_out.exit_code, 1);
  EXPECT_NE(timed_out.err.find("timed out waiting for the condition"), std::string::npos)
      << timed_out.err;
  ProcessOptions options;
  options.timeout_seconds = 120;
  BackgroundProcess waiting(
      Command({"wait", "--for=condition=Ready", "mplan/shop", "-n", "prod", "--timeout=90s"}),
      options);
  ASSERT_TRUE(Eventually([&] { return cluster_->server().open_watches() >= 1; }));
  SetReady("True", "UpToDate");
  const auto done = waiting.Wait();
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "migrationplan.tidemark.dev/shop condition met\n");
}

// kubectl (client-go's reflector) re-watches from the last version it saw; when that is
// compacted away it gets the 410 ERROR event and must re-list.
TEST_F(KubectlTest, WaitRelistsAfterADroppedWatchMeetsAnExpiredVersion) {
  Install();
  ApplyShop();
  SetReady("False", "Applying");
  ProcessOptions options;
  options.timeout_seconds = 120;
  BackgroundProcess waiting(
      Command({"wait", "--for=condition=Ready", "mplan/shop", "-n", "prod", "--timeout=90s"}),
      options);
  ASSERT_TRUE(Eventually([&] { return cluster_->server().open_watches() >= 1; }));
  const auto lists = [&] {
    int count = 0;
    for (const auto& request : cluster_->server().requests()) {
      const bool list = request.method == "GET" &&
                        request.target.find("/migrationplans?") != std::string::npos &&
                        request.target.find("watch=") == std::string::npos;
      count += list ? 1 : 0;
    }
    return count;
  };
  const int lists_before = lists();
  // Another object moves the version on; kubectl's watch (on shop only) sees nothing of it.
  std::string other = ReadFile(SourcePath("tests/kube_api_server/testdata/shop-plan.yaml"));
  other.replace(other.find("name: shop,"), 11, "name: other,");
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, other).exit_code, 0);
  cluster_->server().Compact();
  cluster_->server().DropWatches();
  ASSERT_TRUE(
      Eventually([&] { return lists() > lists_before && cluster_->server().open_watches() >= 1; }));
  SetReady("True", "UpToDate");
  const auto done = waiting.Wait();
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "migrationplan.tidemark.dev/shop condition met\n");
}

TEST_F(KubectlTest, DescribeShowsEventsK8sIoEvents) {
  Install();
  ApplyShop();
  const json plan = api_->Get(kPlans + "/shop").body;
  const auto event = api_->Post("/apis/events.k8s.io/v1/namespaces/prod/events",
                                {{"metadata", {{"name", "shop.17a0c0ffee"}}},
                                 {"eventTime", "2026-01-01T00:00:00.000000Z"},
                                 {"type", "Warning"},
                                 {"reason", "MigrationFailed"},
                                 {"action", "Apply"},
                                 {"note", "shop.0002_add_status failed: column exists"},
                                 {"reportingController", "tidemark.dev/operator"},
                                 {"reportingInstance", "tidemark-0"},
                                 {"regarding",
                                  {{"apiVersion", "tidemark.dev/v1alpha1"},
                                   {"kind", "MigrationPlan"},
                                   {"name", "shop"},
                                   {"namespace", "prod"},
                                   {"uid", plan["metadata"]["uid"]}}}});
  ASSERT_EQ(event.status, 201) << event.body.dump();
  const auto described = Kubectl({"describe", "mplan", "shop", "-n", "prod"});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_NE(described.out.find("Name:         shop"), std::string::npos) << described.out;
  const auto events_at = described.out.find("Events:");
  ASSERT_NE(events_at, std::string::npos) << described.out;
  const std::string events = described.out.substr(events_at);
  EXPECT_NE(events.find("Warning  MigrationFailed"), std::string::npos) << events;
  EXPECT_NE(events.find("tidemark.dev/operator  shop.0002_add_status failed: column exists"),
            std::string::npos)
      << events;
  const auto listed = Kubectl({"get", "events", "-n", "prod"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out.substr(0, listed.out.find('\n')),
            "LAST SEEN   TYPE      REASON            OBJECT               MESSAGE");
  EXPECT_NE(listed.out.find("Warning   MigrationFailed   migrationplan/shop   "
                            "shop.0002_add_status failed: column exists"),
            std::string::npos)
      << listed.out;
}

TEST_F(KubectlTest, DeleteWithAndWithoutFinalizers) {
  Install();
  ApplyShop();
  const auto patched = Kubectl({"patch", "mplan", "shop", "-n", "prod", "--type=merge", "-p",
                                R"({"metadata":{"finalizers":["tidemark.dev/ledger"]}})"});
  ASSERT_EQ(patched.exit_code, 0) << patched.err;
  const auto nowait = Kubectl({"delete", "mplan", "shop", "-n", "prod", "--wait=false"});
  ASSERT_EQ(nowait.exit_code, 0) << nowait.err;
  EXPECT_EQ(nowait.out, "migrationplan.tidemark.dev \"shop\" deleted\n");
  const json held = api_->Get(kPlans + "/shop").body;
  EXPECT_TRUE(held["metadata"].contains("deletionTimestamp"));
  // A waiting delete returns once the controller removes its finalizer.
  ProcessOptions options;
  options.timeout_seconds = 120;
  BackgroundProcess deleting(Command({"delete", "mplan", "shop", "-n", "prod", "--timeout=90s"}),
                             options);
  ASSERT_TRUE(Eventually([&] { return cluster_->server().open_watches() >= 1; }));
  ASSERT_EQ(api_->Patch(kPlans + "/shop", R"({"metadata":{"finalizers":[]}})",
                        "application/merge-patch+json")
                .status,
            200);
  const auto done = deleting.Wait();
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 404);
  // Without finalizers the object goes at once.
  ApplyShop();
  const auto plain = Kubectl({"delete", "mplan", "shop", "-n", "prod"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(Kubectl({"get", "mplan", "-n", "prod"}).err, "No resources found in prod namespace.\n");
}

TEST_F(KubectlTest, InvalidPlansAreRejectedNamingTheField) {
  Install();
  const auto invalid =
      Kubectl({"apply", "-f", SourcePath("tests/kube_api_server/testdata/invalid-plan.yaml")});
  EXPECT_NE(invalid.exit_code, 0);
  EXPECT_NE(invalid.err.find("The MigrationPlan \"broken\" is invalid"), std::string::npos)
      << invalid.err;
  EXPECT_NE(invalid.err.find("spec.policy.revert: Unsupported value: \"Sometimes\""),
            std::string::npos);
  EXPECT_NE(invalid.err.find("spec.migrations[0].name: Invalid value: \"0001-initial\""),
            std::string::npos);
  EXPECT_NE(invalid.err.find("spec.database.dsnFrom"), std::string::npos);
  const auto unknown = Kubectl(
      {"apply", "-f", SourcePath("tests/kube_api_server/testdata/unknown-field-plan.yaml")});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown field \"spec.database.hots\""), std::string::npos)
      << unknown.err;
  EXPECT_EQ(api_->Get(kPlans).body["items"].size(), 0u);
}

TEST_F(KubectlTest, GetWatchSeesAChange) {
  Install();
  ApplyShop();
  const std::string out_path = (dir_ / "watch.out").string();
  std::string command = "exec";
  for (const auto& arg : Command({"get", "mplan", "-n", "prod", "-w"})) command += " '" + arg + "'";
  ProcessOptions options;
  options.timeout_seconds = 120;
  BackgroundProcess watching({"/bin/sh", "-c", command + " > '" + out_path + "'"}, options);
  ASSERT_TRUE(Eventually([&] { return cluster_->server().open_watches() >= 1; }));
  SetReady("True", "UpToDate");
  EXPECT_TRUE(Eventually([&] { return ReadFile(out_path).find("UpToDate") != std::string::npos; }))
      << ReadFile(out_path);
  watching.Kill(SIGTERM);
  watching.Wait();
  const std::string out = ReadFile(out_path);
  EXPECT_EQ(out.find("NAME"), 0u) << out;
  EXPECT_EQ(out.find("NAME", 1), std::string::npos) << "headers printed once: " << out;
}

TEST_F(KubectlTest, ImperativeCreateSendsProtobufAndWorks) {
  ASSERT_EQ(Kubectl({"create", "namespace", "prod"}).exit_code, 0);
  const auto secret = Kubectl({"create", "secret", "generic", "shop-db", "-n", "prod",
                               "--from-literal=dsn=host=db dbname=shop"});
  ASSERT_EQ(secret.exit_code, 0) << secret.err;
  const auto config = Kubectl({"create", "configmap", "shop-migrations-0", "-n", "prod",
                               "--from-literal=steps.yaml=- {app: shop, name: 0001_initial}"});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  const json stored = api_->Get("/api/v1/namespaces/prod/secrets/shop-db").body;
  EXPECT_EQ(stored["data"]["dsn"], "aG9zdD1kYiBkYm5hbWU9c2hvcA==");
  EXPECT_EQ(stored["type"], "Opaque");
  EXPECT_EQ(
      api_->Get("/api/v1/namespaces/prod/configmaps/shop-migrations-0").body["data"]["steps.yaml"],
      "- {app: shop, name: 0001_initial}");
  bool protobuf = false;
  for (const auto& request : cluster_->server().requests()) {
    protobuf |= request.content_type == "application/vnd.kubernetes.protobuf";
  }
  EXPECT_TRUE(protobuf);
}

TEST_F(KubectlTest, TheDispatcherWorksAgainstTheServer) {
  const std::vector<std::string> base = {"/usr/bin/kubectl", "--kubeconfig", cluster_->kubeconfig(),
                                         "--cache-dir", (dir_ / "cache").string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), base.begin(), base.end());
    return RunProcess(args);
  };
  const auto version = with({"version", "-o", "json"});
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(json::parse(version.out)["serverVersion"]["minor"], "32");
  const auto namespaces = with({"get", "namespaces", "-o", "name"});
  ASSERT_EQ(namespaces.exit_code, 0) << namespaces.err;
  EXPECT_EQ(namespaces.out,
            "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\n"
            "namespace/kube-system\n");
}

TEST_F(KubectlTest, StandaloneProgramServesKubectlAndStopsOnSigterm) {
  const std::string kubeconfig = (dir_ / "standalone-kubeconfig").string();
  BackgroundProcess program({BuiltProgram("tidemark-test-apiserver"), "--crd",
                             SourcePath("crds/migrationplans.tidemark.dev.yaml"),
                             "--kubeconfig-out", kubeconfig});
  ASSERT_TRUE(Eventually([&] { return fs::exists(kubeconfig) && fs::file_size(kubeconfig) > 0; }));
  const auto listed = RunProcess({KubectlProgram(), "--kubeconfig", kubeconfig, "--cache-dir",
                                  (dir_ / "cache2").string(), "get", "mplan", "-A"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.err, "No resources found\n");
  program.Kill(SIGTERM);
  const auto stopped = program.Wait();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("listening on http://127.0.0.1:"), std::string::npos) << stopped.out;
}

}  // namespace
}  // namespace tidemark::testing
