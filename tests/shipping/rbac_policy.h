// RbacPolicy: Kubernetes RBAC evaluation of the shipped manifests, for tests that check the
// controller's real API calls against what its ServiceAccount may do.
//
// Load() reads Roles, ClusterRoles, RoleBindings and ClusterRoleBindings from YAML files (as
// in manifests/core/rbac.yaml or a rendered chart) and keeps the rules bound to one
// ServiceAccount; Allows() answers as the API server's RBAC authorizer would (a
// ClusterRoleBinding grants everywhere, a RoleBinding only in its namespace; "*" matches
// any group, resource or verb; resourceNames restrict to named objects). A request the
// test API server recorded becomes an ApiRequest with RequestVerb(). Immutable after Load:
// thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tidemark::testing {

struct ApiRequest {
  std::string verb;      // get, list, watch, create, update, patch, delete, deletecollection
  std::string group;     // "" for the core group
  std::string resource;  // plural, with "/subresource" when there is one: migrationplans/status
  std::string ns;        // empty: cluster-scoped, or a list/watch across all namespaces
  std::string name;      // empty for create, list, watch
};

// The RBAC verb of an HTTP request: GET is get (one object) or list (a collection) or watch
// (?watch=true), POST create, PUT update, PATCH patch, DELETE delete (or deletecollection).
std::string RequestVerb(std::string_view method, bool names_an_object, bool watch);

class RbacPolicy {
 public:
  static Result<RbacPolicy> Load(const std::vector<std::string>& yaml_paths,
                                 const std::string& account_namespace,
                                 const std::string& account_name);

  bool Allows(const ApiRequest& request) const;
  // "verb group/resource in ns" for assertion messages.
  static std::string Describe(const ApiRequest& request);

 private:
  struct Rule {
    std::vector<std::string> groups, resources, verbs, names;
  };
  struct Grant {
    std::string ns;  // empty: every namespace and cluster-scoped resources
    std::vector<Rule> rules;
  };
  std::vector<Grant> grants_;
};

}  // namespace tidemark::testing
