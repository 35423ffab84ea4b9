#include "tests/shipping/rbac_policy.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace tidemark::testing {
namespace {

std::vector<std::string> Strings(const YAML::Node& node) {
  std::vector<std::string> values;
  if (node && node.IsSequence()) {
    for (const auto& item : node) values.push_back(item.as<std::string>());
  }
  return values;
}

bool Matches(const std::vector<std::string>& allowed, const std::string& value) {
  return std::any_of(allowed.begin(), allowed.end(),
                     [&value](const std::string& a) { return a == "*" || a == value; });
}

std::string Field(const YAML::Node& node, const char* key) {
  return node[key] ? node[key].as<std::string>() : "";
}

}  // namespace

std::string RequestVerb(std::string_view method, bool names_an_object, bool watch) {
  if (method == "GET") return watch ? "watch" : names_an_object ? "get" : "list";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return names_an_object ? "delete" : "deletecollection";
  return std::string(method);
}

Result<RbacPolicy> RbacPolicy::Load(const std::vector<std::string>& yaml_paths,
                                    const std::string& account_namespace,
                                    const std::string& account_name) {
  // (kind, namespace, name) -> rules of every Role and ClusterRole.
  using RoleKey = std::tuple<std::string, std::string, std::string>;
  std::map<RoleKey, std::vector<Rule>> roles;
  std::vector<YAML::Node> bindings;
  try {
    for (const std::string& path : yaml_paths) {
      for (const YAML::Node& doc : YAML::LoadAllFromFile(path)) {
        if (!doc || !doc.IsMap()) continue;
        const std::string kind = Field(doc, "kind");
        const std::string ns =
            kind == "Role" || kind == "RoleBinding" ? Field(doc["metadata"], "namespace") : "";
        if (kind == "Role" || kind == "ClusterRole") {
          std::vector<Rule>& rules = roles[{kind, ns, Field(doc["metadata"], "name")}];
          for (const auto& rule : doc["rules"]) {
            rules.push_back({Strings(rule["apiGroups"]), Strings(rule["resources"]),
                             Strings(rule["verbs"]), Strings(rule["resourceNames"])});
          }
        } else if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
          bindings.push_back(doc);
        }
      }
    }
    RbacPolicy policy;
    for (const YAML::Node& binding : bindings) {
      const bool cluster_wide = Field(binding, "kind") == "ClusterRoleBinding";
      const std::string binding_ns = cluster_wide ? "" : Field(binding["metadata"], "namespace");
      const bool names_account = std::any_of(
          binding["subjects"].begin(), binding["subjects"].end(), [&](const YAML::Node& s) {
            return Field(s, "kind") == "ServiceAccount" && Field(s, "name") == account_name &&
                   Field(s, "namespace") == account_namespace;
          });
      if (!names_account) continue;
      const std::string role_kind = Field(binding["roleRef"], "kind");
      const RoleKey role_key{role_kind, role_kind == "Role" ? binding_ns : "",
                             Field(binding["roleRef"], "name")};
      auto role = roles.find(role_key);
      if (role == roles.end()) {
        return Status::NotFound(Field(binding, "kind") + " " + Field(binding["metadata"], "name") +
                                " refers to a missing " + role_kind + " " + std::get<2>(role_key));
      }
      policy.grants_.push_back({binding_ns, role->second});
    }
    return policy;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("reading RBAC manifests: ") + e.what());
  }
}

bool RbacPolicy::Allows(const ApiRequest& request) const {
  for (const Grant& grant : grants_) {
    if (!grant.ns.empty() && grant.ns != request.ns) continue;
    for (const Rule& rule : grant.rules) {
      if (Matches(rule.groups, request.group) && Matches(rule.resources, request.resource) &&
          Matches(rule.verbs, request.verb) &&
          (rule.names.empty() || (!request.name.empty() && Matches(rule.names, request.name)))) {
        return true;
      }
    }
  }
  return false;
}

std::string RbacPolicy::Describe(const ApiRequest& request) {
  std::string text = request.verb + " " + (request.group.empty() ? "core" : request.group) + "/" +
                     request.resource;
  if (!request.name.empty()) text += " " + request.name;
  return text + (request.ns.empty() ? " (cluster-wide)" : " in " + request.ns);
}

}  // namespace tidemark::testing
