// What the test API server knows about each resource it serves: names, scope,
// subresources, the rules that differ between built-in and custom resources, the schema
// and printer columns; and the documents derived from them (discovery, OpenAPI v3,
// tables). Values only; thread-safe as long as nobody mutates a shared instance.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "tests/support/kube_schema.h"

namespace tidemark::testing {

struct ResourceType {
  std::string group{};  // "" for core
  std::string version{};
  std::string plural{};
  std::string singular{};
  std::string kind{};
  std::string list_kind{};
  bool namespaced = true;
  std::vector<std::string> short_names{};
  std::vector<std::string> categories{};
  bool status_subresource = false;
  bool custom = false;          // served from a CRD: strict field validation, 415 for SMP
  bool has_generation = false;  // metadata.generation follows spec changes
  bool allow_unconditional_update = true;  // PUT without metadata.resourceVersion allowed
  // Objects live under this key; two types sharing one (core/v1 and events.k8s.io/v1
  // Events) are two views of the same objects.
  std::string storage{};
  OpenApiSchema schema{};
  nlohmann::json printer_columns = nlohmann::json::array();  // additionalPrinterColumns
  std::vector<std::string> field_labels{};  // beyond metadata.name / metadata.namespace

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "migrationplans.tidemark.dev" or "configmaps": how error messages name the resource.
  std::string qualified_plural() const { return group.empty() ? plural : plural + "." + group; }
  // "MigrationPlan.tidemark.dev" or "ConfigMap": how 422 messages name the kind.
  std::string qualified_kind() const { return group.empty() ? kind : kind + "." + group; }
};
using ResourceTypePtr = std::shared_ptr<const ResourceType>;

// Namespaces, ConfigMaps, Secrets, Events (core and events.k8s.io), Leases, CRDs, and the
// kinds tidemark ships (ServiceAccounts, Services, Deployments, RBAC): their top-level
// fields are checked, their specs are not.
std::vector<ResourceTypePtr> BuiltinResourceTypes();
// One type per served version of a CustomResourceDefinition object.
Result<std::vector<ResourceTypePtr>> ResourceTypesFromCrd(const nlohmann::json& crd);

// Discovery: the APIResource entries (resource and subresources) of one type.
std::vector<nlohmann::json> DiscoveryEntries(const ResourceType& type);
// The OpenAPI v3 document of one group-version (paths with the patch operation and its
// fieldValidation parameter that kubectl looks for, and the kinds' schemas).
nlohmann::json OpenApiDocument(const std::string& group_version,
                               const std::vector<ResourceTypePtr>& types);

// A meta.k8s.io/v1 Table of `objects` with the type's printer columns. `include_object`
// is the request's includeObject ("None", "Metadata" or "Object").
nlohmann::json MakeTable(const ResourceType& type, const std::vector<nlohmann::json>& objects,
                         bool with_headers, const std::string& include_object,
                         std::chrono::system_clock::time_point now);

}  // namespace tidemark::testing
