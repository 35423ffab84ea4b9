// Protocol facts of the test API server, one by one, over raw HTTP (KUBE_API.md).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/kube_api_server/api_test_client.h"
#include "tests/support/kube_api_server.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;

const std::string kPlans = "/apis/tidemark.dev/v1alpha1/namespaces/default/migrationplans";
const std::string kConfigMaps = "/api/v1/namespaces/default/configmaps";

json Plan(const std::string& name, json labels = json::object()) {
  return {
      {"apiVersion", "tidemark.dev/v1alpha1"},
      {"kind", "MigrationPlan"},
      {"metadata", {{"name", name}, {"labels", labels}}},
      {"spec",
       {{"database", {{"dbname", "shop"}}},
        {"migrations", {{{"app", "shop"}, {"name", "0001_initial"}, {"forward", "SELECT 1;"}}}}}}};
}

json ConfigMap(const std::string& name, const std::string& ns = "default") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"data", {{"k", "v"}}}};
}

std::string Rv(const json& object) { return object["metadata"]["resourceVersion"]; }

std::vector<std::string> Names(const json& list) {
  std::vector<std::string> names;
  for (const auto& item : list["items"]) names.push_back(item["metadata"]["name"]);
  return names;
}

std::vector<std::string> CauseFields(const json& status) {
  std::vector<std::string> fields;
  for (const auto& cause : status["details"]["causes"]) fields.push_back(cause["field"]);
  return fields;
}

std::pair<int, std::string> Decode415(int port) {
  httplib::Client client("127.0.0.1", port);
  // A protobuf apps/v1 Deployment envelope: TypeMeta{apiVersion: apps/v1, kind: Deployment}.
  const std::string envelope =
      std::string("k8s\0", 4) + "\x0a\x15\x0a\x07" + "apps/v1" + "\x12\x0a" + "Deployment";
  const auto result =
      client.Post("/api/v1/namespaces", envelope, "application/vnd.kubernetes.protobuf");
  return result ? std::make_pair(result->status, result->body) : std::make_pair(0, std::string());
}

class KubeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(KubeApiServerOptions options) {
    options.crd_paths = {SourcePath("crds/migrationplans.tidemark.dev.yaml")};
    auto started = KubeApiServer::Start(options);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(*started);
    api_ = std::make_unique<ApiTestClient>(server_->port());
  }

  json Create(const std::string& collection, const json& object) {
    const auto response = api_->Post(collection, object);
    EXPECT_EQ(response.status, 201) << response.body.dump();
    return response.body;
  }

  void WaitForWatches(size_t count) {
    while (server_->open_watches() < count)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  std::unique_ptr<KubeApiServer> server_;
  std::unique_ptr<ApiTestClient> api_;
};

TEST_F(KubeApiServerTest, VersionAndDiscoveryNameTheResources) {
  EXPECT_EQ(api_->Get("/version").body["minor"], "32");
  const auto groups = api_->Get("/apis").body;
  EXPECT_EQ(groups["kind"], "APIGroupList");
  EXPECT_NE(groups.dump().find("\"tidemark.dev/v1alpha1\""), std::string::npos);
  const auto resources = api_->Get("/apis/tidemark.dev/v1alpha1").body;
  ASSERT_EQ(resources["kind"], "APIResourceList");
  ASSERT_EQ(resources["resources"].size(), 2u);
  EXPECT_EQ(resources["resources"][0]["name"], "migrationplans");
  EXPECT_EQ(resources["resources"][0]["kind"], "MigrationPlan");
  EXPECT_EQ(resources["resources"][0]["namespaced"], true);
  EXPECT_EQ(resources["resources"][0]["shortNames"], json::array({"mplan"}));
  EXPECT_EQ(resources["resources"][1]["name"], "migrationplans/status");
  const auto core = api_->Get("/api/v1").body;
  EXPECT_NE(core.dump().find("\"configmaps\""), std::string::npos);
  EXPECT_EQ(api_->Get("/apis/nothing.example/v1").status, 404);
}

TEST_F(KubeApiServerTest, OpenApiV3AnnouncesFieldValidationOnPatch) {
  const auto root = api_->Get("/openapi/v3").body;
  const std::string url = root["paths"]["apis/tidemark.dev/v1alpha1"]["serverRelativeURL"];
  const auto document = api_->Get(url).body;
  const auto& patch =
      document["paths"]["/apis/tidemark.dev/v1alpha1/namespaces/{namespace}/migrationplans/{name}"]
              ["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "MigrationPlan");
  EXPECT_NE(patch["parameters"].dump().find("\"fieldValidation\""), std::string::npos);
  EXPECT_FALSE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
  EXPECT_TRUE(document["components"]["schemas"].contains("dev.tidemark.v1alpha1.MigrationPlan"));
}

TEST_F(KubeApiServerTest, CreateSetsMetadataDropsStatusAndAppliesDefaults) {
  json plan = Plan("shop");
  plan["status"] = {{"observedGeneration", 7}};
  plan["spec"]["policy"] = json::object();
  const json created = Create(kPlans, plan);
  EXPECT_EQ(created["metadata"]["generation"], 1);
  EXPECT_FALSE(created["metadata"].value("uid", "").empty());
  EXPECT_FALSE(created["metadata"].value("creationTimestamp", "").empty());
  EXPECT_EQ(Rv(created), std::to_string(server_->resource_version()));
  // The status written is dropped; the CRD's default status takes its place, which kstatus
  // reads as in progress until the controller's first reconcile.
  EXPECT_EQ(created["status"], json({{"observedGeneration", -1}}));
  EXPECT_EQ(created["spec"]["database"]["schema"], "public");  // a default of a nested object
  // The steps' fields have no schema defaults (crds/: they would change the list on every
  // apply), so a step is stored as written.
  EXPECT_EQ(created["spec"]["migrations"], plan["spec"]["migrations"]);
  EXPECT_EQ(created["spec"]["policy"]["revert"], "Deny");
  EXPECT_EQ(created["spec"]["policy"]["lint"], "Warn");
  EXPECT_EQ(api_->Get(kPlans + "/shop").body, created);
}

TEST_F(KubeApiServerTest, CreateTwiceIsAlreadyExistsAndMissingNamespaceIsNotFound) {
  Create(kPlans, Plan("shop"));
  const auto again = api_->Post(kPlans, Plan("shop"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["reason"], "AlreadyExists");
  const auto elsewhere =
      api_->Post("/apis/tidemark.dev/v1alpha1/namespaces/nowhere/migrationplans", Plan("shop"));
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_EQ(elsewhere.body["message"], "namespaces \"nowhere\" not found");
}

TEST_F(KubeApiServerTest, SchemaViolationsAre422NamingEachField) {
  json plan = Plan("bad");
  plan["spec"]["database"] = {{"port", "5432"}, {"dsnFrom", json::object()}};
  plan["spec"]["migrations"][0]["app"] = "9shop";
  plan["spec"]["migrations"][0].erase("name");
  plan["spec"]["policy"] = {{"revert", "Maybe"}, {"lockTimeout", "5 seconds"}};
  plan["spec"]["resolve"] = {{{"migration", "shop.0001_initial"}, {"state", "done"}}};
  const auto response = api_->Post(kPlans, plan);
  ASSERT_EQ(response.status, 422) << response.body.dump();
  EXPECT_EQ(response.body["reason"], "Invalid");
  EXPECT_EQ(CauseFields(response.body),
            (std::vector<std::string>{"spec.database.dsnFrom", "spec.database.port",
                                      "spec.migrations[0].name", "spec.migrations[0].app",
                                      "spec.policy.lockTimeout", "spec.policy.revert",
                                      "spec.resolve[0].state"}));
  const std::string message = response.body["message"];
  EXPECT_NE(message.find("MigrationPlan.tidemark.dev \"bad\" is invalid: ["), std::string::npos);
  EXPECT_NE(message.find("spec.policy.revert: Unsupported value: \"Maybe\": supported values: "
                         "\"Deny\", \"Allow\""),
            std::string::npos);
  EXPECT_NE(message.find("spec.migrations[0].name: Required value"), std::string::npos);
  EXPECT_NE(message.find("spec.database.port in body must be of type integer: \"string\""),
            std::string::npos);
  EXPECT_EQ(api_->Get(kPlans + "/bad").status, 404);
}

TEST_F(KubeApiServerTest, ValueSourcesNeedExactlyOneSource) {
  json plan = Plan("sources");
  plan["spec"]["database"]["passwordFrom"] = {{"env", "PGPASSWORD"}, {"file", "/run/pw"}};
  auto response = api_->Post(kPlans, plan);
  ASSERT_EQ(response.status, 422);
  EXPECT_EQ(CauseFields(response.body), std::vector<std::string>{"spec.database.passwordFrom"});
  EXPECT_NE(response.body["message"].get<std::string>().find("oneOf"), std::string::npos);
  plan["spec"]["database"]["passwordFrom"] = {{"secretKeyRef", {{"name", "db"}}}};
  response = api_->Post(kPlans, plan);
  ASSERT_EQ(response.status, 422);
  EXPECT_EQ(CauseFields(response.body),
            std::vector<std::string>{"spec.database.passwordFrom.secretKeyRef.key"});
  plan["spec"]["database"]["passwordFrom"] = {{"secretKeyRef", {{"name", "db"}, {"key", "pw"}}}};
  EXPECT_EQ(api_->Post(kPlans, plan).status, 201);
}

TEST_F(KubeApiServerTest, UnknownFieldsAreRejectedWhenStrictAndPrunedWithAWarningOtherwise) {
  json plan = Plan("typo");
  plan["spec"]["database"]["hots"] = "db";
  const auto strict = api_->Post(kPlans + "?fieldValidation=Strict", plan);
  ASSERT_EQ(strict.status, 400);
  EXPECT_EQ(strict.body["reason"], "BadRequest");
  EXPECT_NE(strict.body["message"].get<std::string>().find(
                "strict decoding error: unknown field \"spec.database.hots\""),
            std::string::npos);
  const auto warned = api_->Post(kPlans, plan);
  ASSERT_EQ(warned.status, 201);
  EXPECT_EQ(warned.headers.find("Warning")->second,
            "299 - \"unknown field \\\"spec.database.hots\\\"\"");
  EXPECT_FALSE(warned.body["spec"]["database"].contains("hots"));
}

TEST_F(KubeApiServerTest, UnknownMetadataAndBuiltinFieldsAreCheckedToo) {
  json plan = Plan("meta");
  plan["metadata"]["label"] = {{"a", "b"}};
  const auto strict = api_->Post(kPlans + "?fieldValidation=Strict", plan);
  ASSERT_EQ(strict.status, 400);
  EXPECT_NE(strict.body["message"].get<std::string>().find("unknown field \"metadata.label\""),
            std::string::npos);
  json config = ConfigMap("settings");
  config["date"] = {{"k", "v"}};
  const auto refused = api_->Post(kConfigMaps + "?fieldValidation=Strict", config);
  ASSERT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body["message"],
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding "
            "error: unknown field \"date\"");
  const auto pruned = api_->Post(kConfigMaps, config);
  ASSERT_EQ(pruned.status, 201);
  EXPECT_FALSE(pruned.body.contains("date"));
  EXPECT_EQ(pruned.body["data"]["k"], "v");
}

TEST_F(KubeApiServerTest, PutNeedsTheCurrentResourceVersion) {
  json plan = Create(kPlans, Plan("shop"));
  json stale = plan;
  plan["spec"]["dryRun"] = true;
  const auto updated = api_->Put(kPlans + "/shop", plan);
  ASSERT_EQ(updated.status, 200);
  EXPECT_NE(Rv(updated.body), Rv(stale));
  stale["spec"]["suspend"] = true;
  const auto conflict = api_->Put(kPlans + "/shop", stale);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.body["reason"], "Conflict");
  EXPECT_EQ(conflict.body["message"],
            "Operation cannot be fulfilled on migrationplans.tidemark.dev \"shop\": the object "
            "has been modified; please apply your changes to the latest version and try again");
  json unversioned = updated.body;
  unversioned["metadata"].erase("resourceVersion");
  const auto invalid = api_->Put(kPlans + "/shop", unversioned);
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(CauseFields(invalid.body), std::vector<std::string>{"metadata.resourceVersion"});
  json missing = updated.body;
  missing["metadata"]["name"] = "absent";
  EXPECT_EQ(api_->Put(kPlans + "/absent", missing).status, 404);
  // Built-in kinds allow an unconditional update.
  json config = Create(kConfigMaps, ConfigMap("settings"));
  config["metadata"].erase("resourceVersion");
  config["data"]["k"] = "w";
  EXPECT_EQ(api_->Put(kConfigMaps + "/settings", config).status, 200);
}

TEST_F(KubeApiServerTest, GenerationFollowsSpecChangesOnly) {
  json plan = Create(kPlans, Plan("shop"));
  plan["metadata"]["labels"] = {{"team", "payments"}};
  plan = api_->Put(kPlans + "/shop", plan).body;
  EXPECT_EQ(plan["metadata"]["generation"], 1);
  plan["spec"]["suspend"] = true;
  plan = api_->Put(kPlans + "/shop", plan).body;
  EXPECT_EQ(plan["metadata"]["generation"], 2);
  const auto same_rv = Rv(plan);
  plan = api_->Put(kPlans + "/shop", plan).body;  // nothing changes: no new version
  EXPECT_EQ(Rv(plan), same_rv);
}

TEST_F(KubeApiServerTest, StatusSubresourceChangesOnlyStatus) {
  json plan = Create(kPlans, Plan("shop"));
  json with_status = plan;
  with_status["status"] = {{"observedGeneration", 1}, {"summary", {{"applied", 2}}}};
  with_status["spec"]["suspend"] = true;                     // ignored on /status
  with_status["metadata"]["labels"] = {{"ignored", "yes"}};  // ignored on /status
  const auto written = api_->Put(kPlans + "/shop/status", with_status);
  ASSERT_EQ(written.status, 200) << written.body.dump();
  EXPECT_EQ(written.body["status"]["summary"]["applied"], 2);
  EXPECT_EQ(written.body["spec"]["suspend"], false);  // the schema's default
  EXPECT_FALSE(written.body["metadata"]["labels"].contains("ignored"));
  EXPECT_EQ(written.body["metadata"]["generation"], 1);
  // The main resource ignores status.
  json main = written.body;
  main["status"]["summary"]["applied"] = 99;
  main["spec"]["suspend"] = true;
  const auto updated = api_->Put(kPlans + "/shop", main);
  EXPECT_EQ(updated.body["status"]["summary"]["applied"], 2);
  EXPECT_EQ(updated.body["metadata"]["generation"], 2);
  // Status is validated too.
  const auto bad = api_->Patch(kPlans + "/shop/status",
                               R"({"status":{"conditions":[{"type":"Ready","status":"Yes"}]}})",
                               "application/merge-patch+json");
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(CauseFields(bad.body),
            (std::vector<std::string>{"status.conditions[0].lastTransitionTime",
                                      "status.conditions[0].reason", "status.conditions[0].message",
                                      "status.conditions[0].status"}));
}

TEST_F(KubeApiServerTest, MergeAndJsonPatchesAndTheirConflicts) {
  const json plan = Create(kPlans, Plan("shop"));
  auto merged =
      api_->Patch(kPlans + "/shop", R"({"spec":{"dryRun":true}})", "application/merge-patch+json");
  ASSERT_EQ(merged.status, 200);
  EXPECT_EQ(merged.body["spec"]["dryRun"], true);
  EXPECT_EQ(merged.body["metadata"]["generation"], 2);
  auto patched =
      api_->Patch(kPlans + "/shop", R"([{"op":"replace","path":"/spec/dryRun","value":false}])",
                  "application/json-patch+json");
  ASSERT_EQ(patched.status, 200);
  EXPECT_EQ(patched.body["spec"]["dryRun"], false);
  const auto stale = api_->Patch(
      kPlans + "/shop", R"({"metadata":{"resourceVersion":")" + Rv(plan) + R"("},"spec":{}})",
      "application/merge-patch+json");
  EXPECT_EQ(stale.status, 409);
  const auto strategic = api_->Patch(kPlans + "/shop", R"({"spec":{"dryRun":true}})",
                                     "application/strategic-merge-patch+json");
  EXPECT_EQ(strategic.status, 415);
  EXPECT_EQ(strategic.body["reason"], "UnsupportedMediaType");
  EXPECT_EQ(api_->Patch(kPlans + "/absent", "{}", "application/merge-patch+json").status, 404);
  // Built-in kinds take strategic merge patches (kubectl apply sends them).
  Create(kConfigMaps, ConfigMap("settings"));
  const auto config =
      api_->Patch(kConfigMaps + "/settings", R"({"data":{"k":"w"},"$setElementOrder/x":[]})",
                  "application/strategic-merge-patch+json");
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(config.body["data"]["k"], "w");
}

TEST_F(KubeApiServerTest, ServerSideApplyCreatesUpdatesAndRemovesWhatTheManagerDropped) {
  const std::string yaml =
      "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: shop}\n"
      "spec:\n  database: {dbname: shop}\n  suspend: true\n";
  EXPECT_EQ(api_->Patch(kPlans + "/shop", yaml, "application/apply-patch+yaml").status, 422);
  const auto created =
      api_->Patch(kPlans + "/shop?fieldManager=ci", yaml, "application/apply-patch+yaml");
  ASSERT_EQ(created.status, 201) << created.body.dump();
  EXPECT_EQ(created.body["spec"]["suspend"], true);
  const auto other =
      api_->Patch(kPlans + "/shop", R"({"spec":{"dryRun":true}})", "application/merge-patch+json");
  ASSERT_EQ(other.status, 200);
  const auto reapplied =
      api_->Patch(kPlans + "/shop?fieldManager=ci",
                  "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: shop}\n"
                  "spec:\n  database: {dbname: shop2}\n",
                  "application/apply-patch+yaml");
  ASSERT_EQ(reapplied.status, 200) << reapplied.body.dump();
  EXPECT_EQ(reapplied.body["spec"]["database"]["dbname"], "shop2");
  EXPECT_EQ(reapplied.body["spec"]["suspend"], false);  // dropped by its manager: default again
  EXPECT_EQ(reapplied.body["spec"]["dryRun"], true);    // another writer's field stays
}

TEST_F(KubeApiServerTest, FinalizersHoldDeletionUntilRemoved) {
  json plan = Plan("shop");
  plan["metadata"]["finalizers"] = {"tidemark.dev/cleanup"};
  const json created = Create(kPlans, plan);
  const auto deleting = api_->Delete(kPlans + "/shop");
  ASSERT_EQ(deleting.status, 200);
  EXPECT_EQ(deleting.body["kind"], "MigrationPlan");
  EXPECT_TRUE(deleting.body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(deleting.body["metadata"]["generation"], 2);
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 200);
  const auto added = api_->Patch(kPlans + "/shop",
                                 R"({"metadata":{"finalizers":["tidemark.dev/cleanup","other"]}})",
                                 "application/merge-patch+json");
  EXPECT_EQ(added.status, 422);
  const auto released = api_->Patch(kPlans + "/shop", R"({"metadata":{"finalizers":null}})",
                                    "application/merge-patch+json");
  EXPECT_EQ(released.status, 200);
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 404);
  // Watchers see the deletionTimestamp arrive, then the removal (the refused write and the
  // write that empties the finalizers store nothing of their own, as in kube-apiserver).
  const auto events =
      api_->Watch(kPlans + "?watch=true&timeoutSeconds=1&resourceVersion=" + Rv(created), 3);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_TRUE(events[0]["object"]["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(events[1]["type"], "DELETED");
}

TEST_F(KubeApiServerTest, DeleteWithoutFinalizersRemovesAtOnceAndChecksPreconditions) {
  const json created = Create(kPlans, Plan("shop"));
  const auto wrong = api_->Delete(kPlans + "/shop", {{"preconditions", {{"uid", "nope"}}}});
  EXPECT_EQ(wrong.status, 409);
  const auto deleted = api_->Delete(kPlans + "/shop");
  ASSERT_EQ(deleted.status, 200);
  EXPECT_EQ(deleted.body["kind"], "Status");
  EXPECT_EQ(deleted.body["status"], "Success");
  EXPECT_EQ(deleted.body["details"]["uid"], created["metadata"]["uid"]);
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 404);
  EXPECT_EQ(api_->Delete(kPlans + "/shop").status, 404);
}

TEST_F(KubeApiServerTest, LabelAndFieldSelectors) {
  Create(kPlans, Plan("a", {{"tier", "web"}, {"env", "prod"}}));
  Create(kPlans, Plan("b", {{"tier", "db"}}));
  Create(kPlans, Plan("c", json::object()));
  Create("/api/v1/namespaces", {{"metadata", {{"name", "other"}}}});
  Create("/apis/tidemark.dev/v1alpha1/namespaces/other/migrationplans", Plan("a"));
  const auto names = [&](const std::string& query) {
    return Names(api_->Get(kPlans + "?" + query).body);
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("labelSelector=tier%3Dweb"), V{"a"});
  EXPECT_EQ(names("labelSelector=tier!%3Dweb"), (V{"b", "c"}));
  EXPECT_EQ(names("labelSelector=tier%20in%20(web,db)"), (V{"a", "b"}));
  EXPECT_EQ(names("labelSelector=tier%20notin%20(web)"), (V{"b", "c"}));
  EXPECT_EQ(names("labelSelector=env"), V{"a"});
  EXPECT_EQ(names("labelSelector=!tier"), V{"c"});
  EXPECT_EQ(names("labelSelector=tier,!env"), V{"b"});
  EXPECT_EQ(names("fieldSelector=metadata.name%3Db"), V{"b"});
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Db"), (V{"a", "c"}));
  const auto everywhere =
      api_->Get("/apis/tidemark.dev/v1alpha1/migrationplans?fieldSelector=metadata.name%3Da");
  ASSERT_EQ(everywhere.body["items"].size(), 2u);
  EXPECT_EQ(everywhere.body["items"][0]["metadata"]["namespace"], "default");
  EXPECT_EQ(everywhere.body["items"][1]["metadata"]["namespace"], "other");
  const auto only_other = api_->Get(
      "/apis/tidemark.dev/v1alpha1/migrationplans?fieldSelector=metadata.namespace%3Dother");
  EXPECT_EQ(Names(only_other.body), V{"a"});
  const auto unsupported = api_->Get(kPlans + "?fieldSelector=spec.suspend%3Dtrue");
  EXPECT_EQ(unsupported.status, 400);
  EXPECT_EQ(unsupported.body["message"], "field label not supported: spec.suspend");
}

TEST_F(KubeApiServerTest, PaginationServesAConsistentSnapshotUntilCompaction) {
  for (const char* name : {"a", "b", "c", "d", "e"}) Create(kConfigMaps, ConfigMap(name));
  const auto first = api_->Get(kConfigMaps + "?limit=2").body;
  EXPECT_EQ(Names(first), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(first["metadata"]["remainingItemCount"], 3);
  const std::string list_rv = first["metadata"]["resourceVersion"];
  // Changes after the first page do not show in later pages.
  ASSERT_EQ(api_->Delete(kConfigMaps + "/c").status, 200);
  Create(kConfigMaps, ConfigMap("cc"));
  const std::string token = first["metadata"]["continue"];
  const auto second = api_->Get(kConfigMaps + "?limit=2&continue=" + token).body;
  EXPECT_EQ(Names(second), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(second["metadata"]["resourceVersion"], list_rv);
  const auto third = api_->Get(kConfigMaps + "?limit=2&continue=" +
                               second["metadata"]["continue"].get<std::string>())
                         .body;
  EXPECT_EQ(Names(third), std::vector<std::string>{"e"});
  EXPECT_FALSE(third["metadata"].contains("continue"));
  // resourceVersion=0 ignores limit.
  EXPECT_EQ(api_->Get(kConfigMaps + "?limit=2&resourceVersion=0").body["items"].size(), 5u);
  server_->Compact();
  const auto expired = api_->Get(kConfigMaps + "?limit=2&continue=" + token);
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(expired.body["reason"], "Expired");
  EXPECT_EQ(
      api_->Get(kConfigMaps + "?resourceVersion=" + list_rv + "&resourceVersionMatch=Exact").status,
      410);
}

TEST_F(KubeApiServerTest, WatchFromAListVersionSeesEveryChangeInOrder) {
  Create(kPlans, Plan("old"));
  const auto list = api_->Get(kPlans).body;
  const std::string list_rv = list["metadata"]["resourceVersion"];
  const json created = Create(kPlans, Plan("shop"));
  const auto modified =
      api_->Patch(kPlans + "/shop", R"({"spec":{"suspend":true}})", "application/merge-patch+json")
          .body;
  api_->Delete(kPlans + "/shop");
  int status = 0;
  const auto events = api_->Watch(kPlans + "?watch=true&resourceVersion=" + list_rv, 3, &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(Rv(events[0]["object"]), Rv(created));
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(Rv(events[1]["object"]), Rv(modified));
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "shop");
  EXPECT_GT(std::stoll(Rv(events[2]["object"])), std::stoll(Rv(modified)));
}

TEST_F(KubeApiServerTest, WatchWithoutVersionStartsWithTheCurrentObjects) {
  Create(kPlans, Plan("a"));
  Create(kPlans, Plan("b"));
  const auto events = api_->Watch(kPlans + "?watch=1&fieldSelector=metadata.name%3Db", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
}

TEST_F(KubeApiServerTest, SendInitialEventsEndsTheInitialEventsWithABookmark) {
  Create(kPlans, Plan("a"));
  const std::string now = std::to_string(server_->resource_version());
  EXPECT_EQ(api_->Get(kPlans + "?watch=true&sendInitialEvents=true").status, 422);
  const auto events = api_->Watch(kPlans +
                                      "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&"
                                      "resourceVersionMatch=NotOlderThan",
                                  2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "BOOKMARK");
  EXPECT_EQ(events[1]["object"]["metadata"]["resourceVersion"], now);
  EXPECT_EQ(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

TEST_F(KubeApiServerTest, WatchOfOneObjectByItsPath) {
  const json created = Create(kPlans, Plan("a"));
  Create(kPlans, Plan("b"));
  api_->Patch(kPlans + "/a", R"({"spec":{"suspend":true}})", "application/merge-patch+json");
  const auto events = api_->Watch(kPlans + "/a?watch=true&resourceVersion=" + Rv(created), 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "a");
}

TEST_F(KubeApiServerTest, ProtobufBodiesAreRefusedWithAHint) {
  const auto refused = Decode415(server_->port());
  EXPECT_EQ(refused.first, 415);
  EXPECT_NE(refused.second.find("send JSON"), std::string::npos);
}

TEST_F(KubeApiServerTest, WatchSelectorsTurnLeavingAndEnteringIntoDeletedAndAdded) {
  const json created = Create(kPlans, Plan("shop", {{"tier", "web"}}));
  api_->Patch(kPlans + "/shop", R"({"metadata":{"labels":{"tier":"db"}}})",
              "application/merge-patch+json");
  api_->Patch(kPlans + "/shop", R"({"metadata":{"labels":{"tier":"web"}}})",
              "application/merge-patch+json");
  const auto events = api_->Watch(
      kPlans + "?watch=true&labelSelector=tier%3Dweb&resourceVersion=" + Rv(created), 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "DELETED");
  EXPECT_EQ(events[1]["type"], "ADDED");
}

TEST_F(KubeApiServerTest, TooOldVersionIsAnExpiredErrorEventOnWatch) {
  const json created = Create(kPlans, Plan("shop"));
  api_->Patch(kPlans + "/shop", R"({"spec":{"suspend":true}})", "application/merge-patch+json");
  server_->Compact();
  int status = 0;
  const auto events =
      api_->Watch(kPlans + "?watch=true&resourceVersion=" + Rv(created), 10, &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(events.size(), 1u);  // then the stream ends
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["kind"], "Status");
  EXPECT_EQ(events[0]["object"]["reason"], "Expired");
  EXPECT_EQ(events[0]["object"]["code"], 410);
  // Watching from the current version still works after compaction.
  const std::string now = std::to_string(server_->resource_version());
  EXPECT_TRUE(
      api_->Watch(kPlans + "?watch=true&timeoutSeconds=1&resourceVersion=" + now, 1).empty());
}

TEST_F(KubeApiServerTest, BoundedHistoryExpiresOldVersions) {
  KubeApiServerOptions options;
  options.watch_history = 3;
  StartServer(options);
  const json created = Create(kConfigMaps, ConfigMap("settings"));
  for (int i = 0; i < 4; ++i) {
    api_->Patch(kConfigMaps + "/settings", R"({"data":{"k":")" + std::to_string(i) + R"("}})",
                "application/merge-patch+json");
  }
  auto events = api_->Watch(kConfigMaps + "?watch=true&resourceVersion=" + Rv(created), 10);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"]["code"], 410);
  const std::string recent = std::to_string(server_->resource_version() - 2);
  events = api_->Watch(kConfigMaps + "?watch=true&resourceVersion=" + recent, 2);
  EXPECT_EQ(events.size(), 2u);
}

TEST_F(KubeApiServerTest, BookmarksOnlyWhenAllowed) {
  Create(kPlans, Plan("shop"));
  const std::string now = std::to_string(server_->resource_version());
  std::vector<json> events;
  std::thread reader([&] {
    events = api_->Watch(kPlans + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + now, 1);
  });
  WaitForWatches(1);
  server_->SendBookmarks();
  reader.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "BOOKMARK");
  EXPECT_EQ(events[0]["object"]["kind"], "MigrationPlan");
  EXPECT_EQ(events[0]["object"]["apiVersion"], "tidemark.dev/v1alpha1");
  EXPECT_EQ(events[0]["object"]["metadata"]["resourceVersion"], now);
  // Without allowWatchBookmarks the same nudge sends nothing: the stream times out empty.
  std::thread quiet([&] {
    events = api_->Watch(kPlans + "?watch=true&timeoutSeconds=2&resourceVersion=" + now, 1);
  });
  WaitForWatches(1);
  server_->SendBookmarks();
  quiet.join();
  EXPECT_TRUE(events.empty());
}

TEST_F(KubeApiServerTest, DroppedWatchesEndAndTimeoutSecondsEndsTheStream) {
  const std::string now = std::to_string(server_->resource_version());
  std::vector<json> events;
  std::thread reader(
      [&] { events = api_->Watch(kPlans + "?watch=true&resourceVersion=" + now, 1); });
  WaitForWatches(1);
  server_->DropWatches();
  reader.join();
  EXPECT_TRUE(events.empty());
  int status = 0;
  EXPECT_TRUE(
      api_->Watch(kPlans + "?watch=true&timeoutSeconds=1&resourceVersion=" + now, 1, &status)
          .empty());
  EXPECT_EQ(status, 200);
}

TEST_F(KubeApiServerTest, InjectedFailuresAnswerTheNextMatchingRequests) {
  Create(kPlans, Plan("shop"));
  server_->FailNextRequests("GET", "/migrationplans/shop$", 2, 500);
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 500);
  EXPECT_EQ(api_->Get(kPlans).status, 200);  // the pattern does not match a list
  const auto second = api_->Get(kPlans + "/shop");
  EXPECT_EQ(second.status, 500);
  EXPECT_EQ(second.body["reason"], "InternalError");
  EXPECT_EQ(api_->Get(kPlans + "/shop").status, 200);
  server_->FailNextRequests("PUT", "migrationplans", 1, 409);
  const json plan = api_->Get(kPlans + "/shop").body;
  const auto conflict = api_->Put(kPlans + "/shop", plan);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.body["reason"], "Conflict");
  EXPECT_EQ(api_->Put(kPlans + "/shop", plan).status, 200);
}

// Sends `request` on the connection, reads one whole answer (headers and Content-Length
// bytes of body) and returns its status line.
std::string Exchange(int socket, const std::string& request) {
  EXPECT_EQ(send(socket, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[4096];
  const auto receive = [&] {
    const ssize_t got = recv(socket, buffer, sizeof buffer, 0);
    if (got > 0) answer.append(buffer, got);
    return got > 0;
  };
  while (answer.find("\r\n\r\n") == std::string::npos && receive()) {
  }
  const size_t body_start = answer.find("\r\n\r\n") + 4;
  const size_t length_at = answer.find("Content-Length: ");
  const size_t length =
      length_at < body_start ? std::stoul(answer.substr(length_at + 16)) : size_t{0};
  while (answer.size() < body_start + length && receive()) {
  }
  return answer.substr(0, answer.find("\r\n"));
}

TEST_F(KubeApiServerTest, AnInjectedFailureLeavesAKeepAliveConnectionUsable) {
  // A client that sends the body after the headers (as one with TCP_NODELAY may): the
  // refused request's body must not be read as the next request on the connection.
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(server_->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(socket, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  server_->FailNextRequests("POST", "/migrationplans$", 1, 500);
  const std::string body = Plan("shop").dump();
  const std::string head = "POST " + kPlans +
                           " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_EQ(send(socket, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Exchange(socket, body), "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(Exchange(socket, "GET " + kPlans + " HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            "HTTP/1.1 200 OK");
  close(socket);
}

TEST_F(KubeApiServerTest, ResponseDelayHoldsEveryAnswer) {
  server_->SetResponseDelay(std::chrono::milliseconds(1500));
  httplib::Client impatient("127.0.0.1", server_->port());
  impatient.set_read_timeout(0, 100000);
  EXPECT_FALSE(impatient.Get("/version"));
  server_->SetResponseDelay(std::chrono::milliseconds(0));
  EXPECT_EQ(api_->Get("/version").status, 200);
}

TEST_F(KubeApiServerTest, EventsK8sIoEventsAreServedAsCoreEventsToo) {
  Create("/apis/events.k8s.io/v1/namespaces/default/events",
         {{"metadata", {{"name", "shop.1"}}},
          {"eventTime", "2026-01-02T03:04:05.000000Z"},
          {"type", "Warning"},
          {"reason", "MigrationFailed"},
          {"action", "Apply"},
          {"note", "shop.0002 failed"},
          {"reportingController", "tidemark.dev/operator"},
          {"reportingInstance", "op-0"},
          {"regarding", {{"kind", "MigrationPlan"}, {"name", "shop"}, {"namespace", "default"}}}});
  const auto core = api_->Get(
      "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dshop,"
      "involvedObject.kind%3DMigrationPlan");
  ASSERT_EQ(core.body["items"].size(), 1u);
  const json& event = core.body["items"][0];
  EXPECT_EQ(event["apiVersion"], "v1");
  EXPECT_EQ(event["message"], "shop.0002 failed");
  EXPECT_EQ(event["involvedObject"]["name"], "shop");
  EXPECT_EQ(event["reportingComponent"], "tidemark.dev/operator");
  EXPECT_EQ(api_->Get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dother")
                .body["items"]
                .size(),
            0u);
  const auto back = api_->Get("/apis/events.k8s.io/v1/namespaces/default/events/shop.1").body;
  EXPECT_EQ(back["note"], "shop.0002 failed");
  EXPECT_EQ(back["regarding"]["name"], "shop");
}

TEST_F(KubeApiServerTest, TablesCarryThePrinterColumns) {
  Create(kPlans, Plan("shop"));
  api_->Patch(
      kPlans + "/shop/status",
      R"({"status":{"summary":{"applied":3,"pending":1},"conditions":[{"type":"Ready",)"
      R"("status":"False","reason":"Applying","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})",
      "application/merge-patch+json");
  const auto table =
      api_->Get(kPlans,
                {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}})
          .body;
  ASSERT_EQ(table["kind"], "Table");
  std::vector<std::string> columns;
  for (const auto& column : table["columnDefinitions"]) columns.push_back(column["name"]);
  EXPECT_EQ(columns,
            (std::vector<std::string>{"Name", "Ready", "Applied", "Pending", "Reason", "Age"}));
  const json& cells = table["rows"][0]["cells"];
  EXPECT_EQ(cells[0], "shop");
  EXPECT_EQ(cells[1], "False");
  EXPECT_EQ(cells[2], 3);
  EXPECT_EQ(cells[3], 1);
  EXPECT_EQ(cells[4], "Applying");
  EXPECT_EQ(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

TEST_F(KubeApiServerTest, LeasesSupportLeaderElectionWrites) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  const json lease =
      Create(leases, {{"metadata", {{"name", "tidemark"}}},
                      {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15}}}});
  json mine = lease, theirs = lease;
  mine["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z";
  EXPECT_EQ(api_->Put(leases + "/tidemark", mine).status, 200);
  theirs["spec"]["holderIdentity"] = "b";
  EXPECT_EQ(api_->Put(leases + "/tidemark", theirs).status, 409);
}

TEST_F(KubeApiServerTest, SecretsTurnStringDataIntoData) {
  const json secret = Create("/api/v1/namespaces/default/secrets",
                             {{"metadata", {{"name", "db"}}}, {"stringData", {{"dsn", "host=x"}}}});
  EXPECT_EQ(secret["data"]["dsn"], "aG9zdD14");
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_FALSE(secret.contains("stringData"));
}

TEST_F(KubeApiServerTest, DeletingANamespaceDeletesItsContents) {
  Create("/api/v1/namespaces", {{"metadata", {{"name", "tmp"}}}});
  const std::string plans = "/apis/tidemark.dev/v1alpha1/namespaces/tmp/migrationplans";
  json held = Plan("held");
  held["metadata"]["finalizers"] = {"tidemark.dev/cleanup"};
  Create(plans, held);
  Create(plans, Plan("free"));
  EXPECT_EQ(api_->Delete("/api/v1/namespaces/tmp").status, 200);
  EXPECT_EQ(api_->Get(plans + "/free").status, 404);
  EXPECT_TRUE(api_->Get(plans + "/held").body["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(api_->Get("/api/v1/namespaces/tmp").body["status"]["phase"], "Terminating");
  EXPECT_EQ(api_->Post(plans, Plan("late")).status, 403);
  api_->Patch(plans + "/held", R"({"metadata":{"finalizers":null}})",
              "application/merge-patch+json");
  EXPECT_EQ(api_->Get("/api/v1/namespaces/tmp").status, 404);
}

}  // namespace
}  // namespace tidemark::testing
