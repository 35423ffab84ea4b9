// The shipped RBAC grants the controller exactly the calls SPEC section 4 needs, checked the
// way the API server's authorizer decides (RbacPolicy), for manifests/ and for the chart in
// its watch-namespaces mode.
#include "tests/shipping/rbac_policy.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

ApiRequest Call(std::string verb, std::string group, std::string resource, std::string ns,
                std::string name = "") {
  return {std::move(verb), std::move(group), std::move(resource), std::move(ns), std::move(name)};
}

class ManifestRbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<RbacPolicy> policy =
        RbacPolicy::Load({SourcePath("manifests/core/rbac.yaml")}, "tidemark-system", "tidemark");
    ASSERT_TRUE(policy.ok()) << policy.status().ToString();
    policy_ = std::move(policy).value();
  }

  void ExpectAllowed(const ApiRequest& request) {
    EXPECT_TRUE(policy_.Allows(request)) << RbacPolicy::Describe(request);
  }
  void ExpectDenied(const ApiRequest& request) {
    EXPECT_FALSE(policy_.Allows(request)) << RbacPolicy::Describe(request);
  }

  RbacPolicy policy_;
};

TEST_F(ManifestRbacTest, WhatTheControllerDoes) {
  for (const char* verb : {"list", "watch"}) {
    ExpectAllowed(Call(verb, "tidemark.dev", "migrationplans", ""));
    ExpectAllowed(Call(verb, "", "configmaps", ""));
    ExpectAllowed(Call(verb, "", "secrets", ""));
    // spec.rollout's gate reads the app's workloads, their ReplicaSets, revisions and pods.
    ExpectAllowed(Call(verb, "", "pods", ""));
    for (const char* resource :
         {"deployments", "statefulsets", "replicasets", "controllerrevisions"}) {
      ExpectAllowed(Call(verb, "apps", resource, ""));
    }
  }
  ExpectAllowed(Call("get", "tidemark.dev", "migrationplans", "prod", "shop"));
  ExpectAllowed(Call("get", "", "secrets", "prod", "shop-db"));
  ExpectAllowed(Call("patch", "tidemark.dev", "migrationplans/status", "prod", "shop"));
  ExpectAllowed(Call("update", "tidemark.dev", "migrationplans/status", "prod", "shop"));
  ExpectAllowed(Call("create", "events.k8s.io", "events", "prod"));
  ExpectAllowed(Call("patch", "events.k8s.io", "events", "prod", "shop.17f3a"));
  ExpectAllowed(Call("get", "coordination.k8s.io", "leases", "tidemark-system", "tidemark"));
  ExpectAllowed(Call("create", "coordination.k8s.io", "leases", "tidemark-system"));
  ExpectAllowed(Call("update", "coordination.k8s.io", "leases", "tidemark-system", "tidemark"));
  // Python steps as Jobs, and the log of a failed one's pod.
  for (const char* verb : {"list", "watch"}) ExpectAllowed(Call(verb, "batch", "jobs", ""));
  ExpectAllowed(Call("create", "batch", "jobs", "prod"));
  ExpectAllowed(Call("patch", "batch", "jobs", "prod", "shop-apply-0123456789"));
  ExpectAllowed(Call("update", "tidemark.dev", "migrationplans/finalizers", "prod", "shop"));
  ExpectAllowed(Call("list", "", "pods", "prod"));
  ExpectAllowed(Call("get", "", "pods/log", "prod", "shop-apply-0123456789-x7k2p"));
}

TEST_F(ManifestRbacTest, NothingMore) {
  // The spec and the objects a plan names are the users': never written.
  ExpectDenied(Call("update", "tidemark.dev", "migrationplans", "prod", "shop"));
  ExpectDenied(Call("patch", "tidemark.dev", "migrationplans", "prod", "shop"));
  ExpectDenied(Call("delete", "tidemark.dev", "migrationplans", "prod", "shop"));
  ExpectDenied(Call("create", "", "secrets", "prod"));
  ExpectDenied(Call("update", "", "configmaps", "prod", "shop-migrations-0"));
  // Events go through events.k8s.io only.
  ExpectDenied(Call("create", "", "events", "prod"));
  // Leases only in the controller's own namespace.
  ExpectDenied(Call("update", "coordination.k8s.io", "leases", "prod", "tidemark"));
  ExpectDenied(Call("list", "coordination.k8s.io", "leases", ""));
  ExpectDenied(Call("delete", "coordination.k8s.io", "leases", "tidemark-system", "tidemark"));
  // Jobs are deleted by the garbage collector with their plan, pods by their Job.
  ExpectDenied(Call("delete", "batch", "jobs", "prod", "shop-apply-0123456789"));
  ExpectDenied(Call("update", "batch", "jobs", "prod", "shop-apply-0123456789"));
  ExpectDenied(Call("delete", "", "pods", "prod", "shop-apply-0123456789-x7k2p"));
  // The app's workloads are read, never changed; nothing else of apps/v1 is read.
  ExpectDenied(Call("create", "", "pods", "prod"));
  ExpectDenied(Call("delete", "", "pods", "prod", "web-5d9c7b8f6-abcde"));
  ExpectDenied(Call("patch", "apps", "deployments", "prod", "web"));
  ExpectDenied(Call("update", "apps", "deployments/scale", "prod", "web"));
  ExpectDenied(Call("delete", "apps", "replicasets", "prod", "web-5d9c7b8f6"));
  ExpectDenied(Call("list", "apps", "daemonsets", ""));
}

TEST_F(ManifestRbacTest, OtherAccountsGetNothing) {
  Result<RbacPolicy> other =
      RbacPolicy::Load({SourcePath("manifests/core/rbac.yaml")}, "default", "tidemark");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->Allows(Call("list", "tidemark.dev", "migrationplans", "")));
}

TEST(RequestVerbTest, HttpToRbac) {
  EXPECT_EQ(RequestVerb("GET", true, false), "get");
  EXPECT_EQ(RequestVerb("GET", false, false), "list");
  EXPECT_EQ(RequestVerb("GET", false, true), "watch");
  EXPECT_EQ(RequestVerb("POST", false, false), "create");
  EXPECT_EQ(RequestVerb("PUT", true, false), "update");
  EXPECT_EQ(RequestVerb("PATCH", true, false), "patch");
  EXPECT_EQ(RequestVerb("DELETE", true, false), "delete");
  EXPECT_EQ(RequestVerb("DELETE", false, false), "deletecollection");
}

// With watchNamespaces, the chart binds the ClusterRole in those namespaces only: the
// controller must then list and watch per namespace, never cluster-wide.
TEST(ChartRbacTest, WatchNamespacesGrantOnlyThere) {
  const std::string values = ::testing::TempDir() + "tidemark-rbac-values.yaml";
  std::ofstream(values) << "watchNamespaces: [shop, billing]\n";
  const ProcessResult rendered = RunProcess(
      {"/usr/bin/python3", SourcePath("tools/chart_render.py"), SourcePath("charts/tidemark"),
       "--release", "mig", "--namespace", "ops", "-f", values});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  const std::string manifest = ::testing::TempDir() + "tidemark-rbac-rendered.yaml";
  std::ofstream(manifest) << rendered.out;

  Result<RbacPolicy> policy = RbacPolicy::Load({manifest}, "ops", "mig");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  EXPECT_TRUE(policy->Allows(Call("watch", "tidemark.dev", "migrationplans", "shop")));
  EXPECT_TRUE(policy->Allows(Call("list", "", "secrets", "billing")));
  EXPECT_TRUE(policy->Allows(Call("watch", "", "pods", "billing")));
  EXPECT_TRUE(policy->Allows(Call("watch", "apps", "replicasets", "shop")));
  EXPECT_TRUE(policy->Allows(Call("patch", "tidemark.dev", "migrationplans/status", "shop", "a")));
  EXPECT_TRUE(policy->Allows(Call("update", "coordination.k8s.io", "leases", "ops", "mig")));
  EXPECT_FALSE(policy->Allows(Call("watch", "tidemark.dev", "migrationplans", "")));
  EXPECT_FALSE(policy->Allows(Call("list", "", "secrets", "")));
  EXPECT_FALSE(policy->Allows(Call("list", "apps", "deployments", "")));
  EXPECT_FALSE(policy->Allows(Call("get", "", "secrets", "payments", "db")));
}

}  // namespace
}  // namespace tidemark::testing
