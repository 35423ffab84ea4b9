#include "tests/support/kube_resource_types.h"

#include <ctime>

#include "tests/support/kube_selectors.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

ResourceTypePtr Builtin(ResourceType type) {
  if (type.storage.empty()) type.storage = type.group + "/" + type.plural;
  if (type.list_kind.empty()) type.list_kind = type.kind + "List";
  return std::make_shared<const ResourceType>(std::move(type));
}

json GroupVersionKind(const ResourceType& type) {
  return {{"group", type.group}, {"version", type.version}, {"kind", type.kind}};
}

std::string SchemaName(const ResourceType& type) {
  // Reverse-domain like kube-apiserver: dev.tidemark.v1alpha1.MigrationPlan.
  std::string reversed;
  std::string group = type.group.empty() ? "io.k8s.api.core" : type.group;
  if (!type.group.empty()) {
    size_t end = group.size();
    while (true) {
      const size_t dot = group.rfind('.', end - 1);
      const size_t start = dot == std::string::npos ? 0 : dot + 1;
      reversed += (reversed.empty() ? "" : ".") + group.substr(start, end - start);
      if (dot == std::string::npos) break;
      end = dot;
    }
  } else {
    reversed = group;
  }
  return reversed + "." + type.version + "." + type.kind;
}

json QueryParameter(const std::string& name, const std::string& type = "string") {
  return {{"name", name}, {"in", "query"}, {"schema", {{"type", type}, {"uniqueItems", true}}}};
}

json Operation(const ResourceType& type, const std::string& action, const std::string& ref) {
  json operation = {{"x-kubernetes-action", action},
                    {"x-kubernetes-group-version-kind", GroupVersionKind(type)},
                    {"parameters", json::array()},
                    {"responses",
                     {{"200",
                       {{"description", "OK"},
                        {"content", {{"application/json", {{"schema", {{"$ref", ref}}}}}}}}}}}};
  return operation;
}

json PathItem(const ResourceType& type, const std::string& ref) {
  json item;
  item["get"] = Operation(type, "get", ref);
  item["put"] = Operation(type, "put", ref);
  item["delete"] = Operation(type, "delete", ref);
  json patch = Operation(type, "patch", ref);
  for (const char* name : {"dryRun", "fieldManager", "fieldValidation"}) {
    patch["parameters"].push_back(QueryParameter(name));
  }
  patch["parameters"].push_back(QueryParameter("force", "boolean"));
  // kubectl computes a strategic merge patch from OpenAPI only when the content type is
  // listed; built-in kinds leave it out so kubectl uses its compiled-in schemas instead.
  const json body_schema = {
      {"schema", {{"$ref", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}}};
  patch["requestBody"] = {{"content",
                           {{"application/apply-patch+yaml", body_schema},
                            {"application/json-patch+json", body_schema},
                            {"application/merge-patch+json", body_schema}}}};
  item["patch"] = patch;
  return item;
}

std::optional<std::chrono::system_clock::time_point> ParseTimestamp(const std::string& text) {
  std::tm tm{};
  if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

json Cell(const json& column, const json& object, std::chrono::system_clock::time_point now) {
  auto results = EvaluateJsonPath(object, column.value("jsonPath", ""));
  if (!results.ok() || results->empty() || results->front().is_null()) return nullptr;
  const json& value = results->front();
  const std::string type = column.value("type", "string");
  if (type == "date") {
    const auto at = value.is_string() ? ParseTimestamp(value.get<std::string>()) : std::nullopt;
    if (!at) return nullptr;
    return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *at));
  }
  if (type == "string") return value.is_string() ? value.get<std::string>() : value.dump();
  if (type == "integer" && !value.is_number_integer()) return nullptr;
  if (type == "number" && !value.is_number()) return nullptr;
  if (type == "boolean" && !value.is_boolean()) return nullptr;
  return value;
}

// A built-in kind's schema for field validation: its top-level fields (their contents are
// not checked).
OpenApiSchema TopLevelFields(const std::vector<std::string>& fields) {
  json properties = {{"apiVersion", {{"type", "string"}}},
                     {"kind", {{"type", "string"}}},
                     {"metadata", {{"type", "object"}}}};
  for (const auto& field : fields)
    properties[field] = {{"x-kubernetes-preserve-unknown-fields", true}};
  return OpenApiSchema({{"type", "object"}, {"properties", properties}});
}

json Column(const std::string& name, int priority = 0) {
  return {{"name", name},
          {"type", "string"},
          {"format", ""},
          {"description", ""},
          {"priority", priority}};
}

std::string Age(const json& timestamp, std::chrono::system_clock::time_point now) {
  const auto at =
      timestamp.is_string() ? ParseTimestamp(timestamp.get<std::string>()) : std::nullopt;
  return at ? HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *at))
            : "<unknown>";
}

// core/v1 Events print as kube-apiserver prints them (`kubectl get events`): no leading
// Name column, the object as kind/name, ages from the newest timestamp an event has.
json EventColumns() {
  return {Column("Last Seen"), Column("Type"),    Column("Reason"),
          Column("Object"),    Column("Message"), Column("Name", 1)};
}

json EventCells(const json& event, std::chrono::system_clock::time_point now) {
  json last_seen = event.value("lastTimestamp", json());
  if (event.contains("series")) last_seen = event["series"].value("lastObservedTime", last_seen);
  if (last_seen.is_null()) last_seen = event.value("eventTime", json());
  const json involved = event.value("involvedObject", json::object());
  std::string kind = involved.value("kind", "");
  for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {Age(last_seen, now),        event.value("type", ""),
          event.value("reason", ""),  kind + "/" + involved.value("name", ""),
          event.value("message", ""), event["metadata"].value("name", "")};
}

}  // namespace

std::vector<ResourceTypePtr> BuiltinResourceTypes() {
  const std::vector<std::string> event_fields = {"involvedObject.kind",
                                                 "involvedObject.namespace",
                                                 "involvedObject.name",
                                                 "involvedObject.uid",
                                                 "involvedObject.apiVersion",
                                                 "involvedObject.resourceVersion",
                                                 "involvedObject.fieldPath",
                                                 "reason",
                                                 "reportingComponent",
                                                 "source",
                                                 "type"};
  std::vector<std::string> events_v1_fields;
  for (const auto& field : event_fields) {
    std::string mapped = field;
    if (mapped.rfind("involvedObject.", 0) == 0) mapped = "regarding." + mapped.substr(15);
    if (mapped == "reportingComponent") mapped = "reportingController";
    if (mapped == "source") continue;
    events_v1_fields.push_back(mapped);
  }
  return {
      Builtin({.version = "v1",
               .plural = "namespaces",
               .singular = "namespace",
               .kind = "Namespace",
               .namespaced = false,
               .short_names = {"ns"},
               .status_subresource = true,
               .schema = TopLevelFields({"spec", "status"}),
               .field_labels = {"status.phase"}}),
      Builtin({.version = "v1",
               .plural = "configmaps",
               .singular = "configmap",
               .kind = "ConfigMap",
               .short_names = {"cm"},
               .schema = TopLevelFields({"data", "binaryData", "immutable"})}),
      Builtin({.version = "v1",
               .plural = "secrets",
               .singular = "secret",
               .kind = "Secret",
               .schema = TopLevelFields({"data", "stringData", "type", "immutable"}),
               .field_labels = {"type"}}),
      Builtin({.version = "v1",
               .plural = "events",
               .singular = "event",
               .kind = "Event",
               .short_names = {"ev"},
               .storage = "/events",
               .schema = TopLevelFields({"involvedObject", "reason", "message", "source",
                                         "firstTimestamp", "lastTimestamp", "count", "type",
                                         "eventTime", "series", "action", "related",
                                         "reportingComponent", "reportingInstance"}),
               .field_labels = event_fields}),
      Builtin({.group = "events.k8s.io",
               .version = "v1",
               .plural = "events",
               .singular = "event",
               .kind = "Event",
               .short_names = {"ev"},
               .storage = "/events",
               .schema = TopLevelFields(
                   {"eventTime", "series", "reportingController", "reportingInstance", "action",
                    "reason", "regarding", "related", "note", "type", "deprecatedSource",
                    "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"}),
               .field_labels = events_v1_fields}),
      Builtin({.group = "coordination.k8s.io",
               .version = "v1",
               .plural = "leases",
               .singular = "lease",
               .kind = "Lease",
               .schema = TopLevelFields({"spec"})}),
      // Pods and Jobs: the job runner (kube_job_runner.h) runs the Jobs the controller creates;
      // other pods (a rollout's) are stored as the tests write them.
      Builtin({.version = "v1",
               .plural = "pods",
               .singular = "pod",
               .kind = "Pod",
               .short_names = {"po"},
               .categories = {"all"},
               .status_subresource = true,
               .schema = TopLevelFields({"spec", "status"}),
               .field_labels = {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                "spec.serviceAccountName", "status.phase", "status.podIP"}}),
      Builtin({.group = "batch",
               .version = "v1",
               .plural = "jobs",
               .singular = "job",
               .kind = "Job",
               .categories = {"all"},
               .status_subresource = true,
               .has_generation = true,
               .schema = TopLevelFields({"spec", "status"}),
               .field_labels = {"status.successful"}}),
      // What tidemark's manifests and chart install, so that they can be applied here.
      Builtin({.version = "v1",
               .plural = "serviceaccounts",
               .singular = "serviceaccount",
               .kind = "ServiceAccount",
               .short_names = {"sa"},
               .schema = TopLevelFields(
                   {"secrets", "imagePullSecrets", "automountServiceAccountToken"})}),
      Builtin({.version = "v1",
               .plural = "services",
               .singular = "service",
               .kind = "Service",
               .short_names = {"svc"},
               .status_subresource = true,
               .schema = TopLevelFields({"spec", "status"})}),
      Builtin({.group = "apps",
               .version = "v1",
               .plural = "deployments",
               .singular = "deployment",
               .kind = "Deployment",
               .short_names = {"deploy"},
               .status_subresource = true,
               .has_generation = true,
               .schema = TopLevelFields({"spec", "status"})}),
      // What a rollout gate reads (spec.rollout): the workloads, their ReplicaSets and
      // ControllerRevisions (with the Pods above); their controllers are the tests themselves.
      Builtin({.group = "apps",
               .version = "v1",
               .plural = "statefulsets",
               .singular = "statefulset",
               .kind = "StatefulSet",
               .short_names = {"sts"},
               .status_subresource = true,
               .has_generation = true,
               .schema = TopLevelFields({"spec", "status"})}),
      Builtin({.group = "apps",
               .version = "v1",
               .plural = "replicasets",
               .singular = "replicaset",
               .kind = "ReplicaSet",
               .short_names = {"rs"},
               .status_subresource = true,
               .has_generation = true,
               .schema = TopLevelFields({"spec", "status"})}),
      Builtin({.group = "apps",
               .version = "v1",
               .plural = "controllerrevisions",
               .singular = "controllerrevision",
               .kind = "ControllerRevision",
               .schema = TopLevelFields({"data", "revision"})}),
      Builtin({.group = "rbac.authorization.k8s.io",
               .version = "v1",
               .plural = "clusterroles",
               .singular = "clusterrole",
               .kind = "ClusterRole",
               .namespaced = false,
               .schema = TopLevelFields({"rules", "aggregationRule"})}),
      Builtin({.group = "rbac.authorization.k8s.io",
               .version = "v1",
               .plural = "clusterrolebindings",
               .singular = "clusterrolebinding",
               .kind = "ClusterRoleBinding",
               .namespaced = false,
               .schema = TopLevelFields({"subjects", "roleRef"})}),
      Builtin({.group = "rbac.authorization.k8s.io",
               .version = "v1",
               .plural = "roles",
               .singular = "role",
               .kind = "Role",
               .schema = TopLevelFields({"rules"})}),
      Builtin({.group = "rbac.authorization.k8s.io",
               .version = "v1",
               .plural = "rolebindings",
               .singular = "rolebinding",
               .kind = "RoleBinding",
               .schema = TopLevelFields({"subjects", "roleRef"})}),
      Builtin({.group = "apiextensions.k8s.io",
               .version = "v1",
               .plural = "customresourcedefinitions",
               .singular = "customresourcedefinition",
               .kind = "CustomResourceDefinition",
               .namespaced = false,
               .short_names = {"crd", "crds"},
               .categories = {"api-extensions"},
               .status_subresource = true,
               .has_generation = true,
               .allow_unconditional_update = false,
               .schema = TopLevelFields({"spec", "status"})}),
  };
}

Result<std::vector<ResourceTypePtr>> ResourceTypesFromCrd(const json& crd) {
  try {
    const json& spec = crd.at("spec");
    const json& names = spec.at("names");
    std::vector<ResourceTypePtr> types;
    for (const json& version : spec.at("versions")) {
      if (!version.value("served", true)) continue;
      ResourceType type;
      type.group = spec.at("group").get<std::string>();
      type.version = version.at("name").get<std::string>();
      type.plural = names.at("plural").get<std::string>();
      type.kind = names.at("kind").get<std::string>();
      type.singular = names.value("singular", "");
      if (type.singular.empty()) {
        type.singular = type.kind;
        for (auto& c : type.singular) c = static_cast<char>(std::tolower(c));
      }
      type.list_kind = names.value("listKind", type.kind + "List");
      type.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
      type.short_names = names.value("shortNames", std::vector<std::string>{});
      type.categories = names.value("categories", std::vector<std::string>{});
      const json subresources = version.value("subresources", json::object());
      type.status_subresource = subresources.contains("status");
      type.custom = true;
      type.has_generation = true;
      type.allow_unconditional_update = false;
      type.storage = type.group + "/" + type.plural;
      if (version.contains("schema") && version["schema"].contains("openAPIV3Schema")) {
        type.schema = OpenApiSchema(version["schema"]["openAPIV3Schema"]);
      }
      type.printer_columns = version.value(
          "additionalPrinterColumns",
          json::array(
              {{{"name", "Age"}, {"type", "date"}, {"jsonPath", ".metadata.creationTimestamp"}}}));
      types.push_back(std::make_shared<const ResourceType>(std::move(type)));
    }
    return types;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed CustomResourceDefinition: ") + e.what());
  }
}

std::vector<json> DiscoveryEntries(const ResourceType& type) {
  json entry = {{"name", type.plural},
                {"singularName", type.singular},
                {"namespaced", type.namespaced},
                {"kind", type.kind},
                {"verbs", kAllVerbs},
                {"storageVersionHash", ""}};
  if (!type.short_names.empty()) entry["shortNames"] = type.short_names;
  if (!type.categories.empty()) entry["categories"] = type.categories;
  std::vector<json> entries = {entry};
  if (type.status_subresource) {
    entries.push_back({{"name", type.plural + "/status"},
                       {"singularName", ""},
                       {"namespaced", type.namespaced},
                       {"kind", type.kind},
                       {"verbs", {"get", "patch", "update"}}});
  }
  return entries;
}

json OpenApiDocument(const std::string& group_version, const std::vector<ResourceTypePtr>& types) {
  json document = {{"openapi", "3.0.0"},
                   {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
                   {"paths", json::object()},
                   {"components",
                    {{"schemas",
                      {{"io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
                        {{"type", "object"},
                         {"description",
                          "Patch is provided to give a concrete name and type "
                          "to the Kubernetes PATCH request body."}}}}}}}};
  for (const auto& type : types) {
    if (type->api_version() != group_version) continue;
    const std::string name = SchemaName(*type);
    json schema = type->schema.document().is_object()
                      ? type->schema.document()
                      : json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    schema["x-kubernetes-group-version-kind"] = json::array({GroupVersionKind(*type)});
    document["components"]["schemas"][name] = schema;
    const std::string prefix = (type->group.empty() ? "/api/" : "/apis/") + type->api_version() +
                               (type->namespaced ? "/namespaces/{namespace}/" : "/") + type->plural;
    const std::string ref = "#/components/schemas/" + name;
    document["paths"][prefix + "/{name}"] = PathItem(*type, ref);
    if (type->status_subresource) {
      document["paths"][prefix + "/{name}/status"] = PathItem(*type, ref);
    }
  }
  return document;
}

json MakeTable(const ResourceType& type, const std::vector<json>& objects, bool with_headers,
               const std::string& include_object, std::chrono::system_clock::time_point now) {
  const bool core_event = type.kind == "Event" && type.group.empty();
  json columns = json::array();
  columns.push_back({{"name", "Name"},
                     {"type", "string"},
                     {"format", "name"},
                     {"description", "Name must be unique within a namespace."},
                     {"priority", 0}});
  json printer_columns = type.printer_columns;
  if (printer_columns.empty()) {
    printer_columns.push_back(
        {{"name", "Age"}, {"type", "date"}, {"jsonPath", ".metadata.creationTimestamp"}});
  }
  for (const json& column : printer_columns) {
    columns.push_back({{"name", column.value("name", "")},
                       {"type", column.value("type", "string")},
                       {"format", column.value("format", "")},
                       {"description", column.value("description", "")},
                       {"priority", column.value("priority", 0)}});
  }
  if (core_event) columns = EventColumns();
  json rows = json::array();
  for (const json& object : objects) {
    json cells = json::array({object["metadata"].value("name", "")});
    for (const json& column : printer_columns) cells.push_back(Cell(column, object, now));
    if (core_event) cells = EventCells(object, now);
    json row = {{"cells", cells}};
    if (include_object == "Object") {
      row["object"] = object;
    } else if (include_object != "None") {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", object["metadata"]}};
    }
    rows.push_back(row);
  }
  json table = {{"kind", "Table"},
                {"apiVersion", "meta.k8s.io/v1"},
                {"metadata", json::object()},
                {"rows", rows}};
  if (with_headers) table["columnDefinitions"] = columns;
  return table;
}

}  // namespace tidemark::testing
