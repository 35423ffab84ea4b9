#include "tests/support/kube_api_server.h"

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "base/base64.h"
#include "base/clock.h"
#include "tests/support/kube_protobuf.h"
#include "tests/support/kube_resource_types.h"
#include "tests/support/kube_selectors.h"
#include "tests/support/kube_yaml.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------
// Small values and formats.

std::string NowTimestamp() { return FormatRfc3339(SystemClock().WallNow()); }

std::string RandomString(const char* alphabet, size_t alphabet_size, size_t length) {
  static thread_local std::mt19937_64 engine(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, alphabet_size - 1);
  std::string out;
  for (size_t i = 0; i < length; ++i) out += alphabet[pick(engine)];
  return out;
}

std::string NewUid() {
  static const char kHex[] = "0123456789abcdef";
  std::string uid = RandomString(kHex, 16, 32);
  uid[12] = '4';                      // version 4 (random)
  uid[16] = kHex[8 + (uid[16] % 4)];  // RFC 4122 variant
  for (size_t at : {20, 16, 12, 8}) uid.insert(at, "-");
  return uid;
}

bool IsDnsSubdomain(const std::string& name) {
  static const std::regex kSubdomain(
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return name.size() <= 253 && std::regex_match(name, kSubdomain);
}
bool IsDnsLabel(const std::string& name) {
  static const std::regex kLabel("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return name.size() <= 63 && std::regex_match(name, kLabel);
}

// A merge patch that turns `from` into `to` (null removes a field): how a manager's
// previous and new applied configurations are reconciled by server-side apply here.
json MergeDiff(const json& from, const json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json diff = json::object();
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) diff[key] = nullptr;
  }
  for (const auto& [key, value] : to.items()) {
    diff[key] = from.contains(key) ? MergeDiff(from[key], value) : value;
  }
  return diff;
}

// Strategic-merge-patch directives ($patch, $setElementOrder/..., $retainKeys) have no
// meaning for the built-in kinds served here (no merge-keyed lists); drop them.
void StripPatchDirectives(json& patch) {
  if (patch.is_object()) {
    for (auto it = patch.begin(); it != patch.end();) {
      if (!it.key().empty() && it.key()[0] == '$') {
        it = patch.erase(it);
      } else {
        StripPatchDirectives(it.value());
        ++it;
      }
    }
  } else if (patch.is_array()) {
    for (auto& item : patch) StripPatchDirectives(item);
  }
}

std::string ObjectKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }
std::string ObjectKey(const json& object) {
  const json& meta = object["metadata"];
  return ObjectKey(meta.value("namespace", ""), meta.value("name", ""));
}
std::string ResourceVersionOf(const json& object) {
  return object.contains("metadata") ? object["metadata"].value("resourceVersion", "") : "";
}

// core/v1 Event field <-> events.k8s.io/v1 Event field, for the fields that differ.
const std::vector<std::pair<std::string, std::string>> kEventFieldNames = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
    {"reportingComponent", "reportingController"},
};

json RenameFields(json object, bool core_to_events) {
  for (const auto& [core, events] : kEventFieldNames) {
    const std::string& from = core_to_events ? core : events;
    const std::string& to = core_to_events ? events : core;
    if (object.contains(from)) {
      object[to] = object[from];
      object.erase(from);
    }
  }
  return object;
}

// ---------------------------------------------------------------------------------------
// Replies.

struct Reply {
  Reply() = default;
  Reply(int c, json b, std::vector<std::string> w = {})
      : code(c), body(std::move(b)), warnings(std::move(w)) {}
  int code = 200;
  json body;
  std::vector<std::string> warnings;
};

Reply StatusReply(int code, const std::string& reason, const std::string& message,
                  json details = nullptr) {
  json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  if (!details.is_null()) body["details"] = std::move(details);
  return {code, std::move(body), {}};
}

json Details(const ResourceType& type, const std::string& name, const std::string& kind) {
  json details = {{"name", name}, {"kind", kind}};
  if (!type.group.empty()) details["group"] = type.group;
  return details;
}

Reply NotFoundReply(const ResourceType& type, const std::string& name) {
  return StatusReply(404, "NotFound", type.qualified_plural() + " \"" + name + "\" not found",
                     Details(type, name, type.plural));
}
Reply ConflictReply(const ResourceType& type, const std::string& name, const std::string& why) {
  return StatusReply(
      409, "Conflict",
      "Operation cannot be fulfilled on " + type.qualified_plural() + " \"" + name + "\": " + why,
      Details(type, name, type.plural));
}
// Protobuf is decoded only for the kinds kubectl's imperative commands create (see
// kube_protobuf.h); everything else must be JSON.
Reply UnsupportedBodyReply() {
  return StatusReply(415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json (the test API server decodes protobuf only for "
                     "Namespaces, ConfigMaps and Secrets: send JSON, e.g. kubectl apply -f)");
}
Reply BadRequestReply(const std::string& message) {
  return StatusReply(400, "BadRequest", message);
}
Reply InvalidReply(const ResourceType& type, const std::string& name,
                   const std::vector<FieldError>& errors) {
  json causes = json::array();
  std::vector<std::string> texts;
  for (const auto& error : errors) {
    causes.push_back(
        {{"reason", error.reason}, {"message", error.message}, {"field", error.field}});
    texts.push_back(error.field + ": " + error.message);
  }
  std::string all = texts.size() == 1 ? texts[0] : "[";
  if (texts.size() != 1) {
    for (size_t i = 0; i < texts.size(); ++i) all += (i ? ", " : "") + texts[i];
    all += "]";
  }
  json details = Details(type, name, type.kind);
  details["causes"] = causes;
  return StatusReply(422, "Invalid", type.qualified_kind() + " \"" + name + "\" is invalid: " + all,
                     details);
}
std::string ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "InternalError";
  }
}

// ---------------------------------------------------------------------------------------
// Requests.

struct Target {
  ResourceTypePtr type;
  std::string ns;  // empty: cluster-scoped type, or all namespaces
  std::string name;
  std::string subresource;  // "" or "status"
};

struct WriteOptions {
  std::string field_validation;  // Strict | Warn | Ignore ("" = Warn)
  std::string field_manager;
  bool dry_run = false;
};

WriteOptions ReadWriteOptions(const httplib::Request& req) {
  WriteOptions options;
  options.field_validation = req.get_param_value("fieldValidation");
  options.field_manager = req.get_param_value("fieldManager");
  options.dry_run = req.get_param_value("dryRun") == "All";
  return options;
}

bool BoolParam(const httplib::Request& req, const char* name) {
  const std::string value = req.get_param_value(name);
  return value == "true" || value == "1";
}

struct HistoryEvent {
  int64_t resource_version;
  std::string storage;
  std::string type;  // ADDED | MODIFIED | DELETED
  json object;       // storage form, after the change
  json previous;     // storage form, before the change (null for ADDED)
};

constexpr size_t kRecordedRequests = 10000;

// metav1.ObjectMeta: any other metadata field is unknown (pruned, or refused when strict).
const std::set<std::string> kObjectMetaFields = {"name",
                                                 "generateName",
                                                 "namespace",
                                                 "selfLink",
                                                 "uid",
                                                 "resourceVersion",
                                                 "generation",
                                                 "creationTimestamp",
                                                 "deletionTimestamp",
                                                 "deletionGracePeriodSeconds",
                                                 "labels",
                                                 "annotations",
                                                 "ownerReferences",
                                                 "finalizers",
                                                 "managedFields"};

struct Fault {
  std::string method;
  std::regex path;
  int remaining;
  int http_code;
};

}  // namespace

// ---------------------------------------------------------------------------------------

struct KubeApiServer::Impl {
  explicit Impl(KubeApiServerOptions opts) : options(std::move(opts)) {}

  KubeApiServerOptions options;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  std::condition_variable changed;
  std::map<std::string, ResourceTypePtr> types;                // "apiVersion/plural"
  std::map<std::string, std::map<std::string, json>> objects;  // storage -> key -> object
  std::deque<HistoryEvent> history;
  int64_t resource_version = 1;
  int64_t compacted = 0;                // watches and lists from versions below this expire
  std::map<std::string, json> applied;  // "storage|key|subresource|manager" -> configuration
  uint64_t drop_generation = 0;
  uint64_t bookmark_generation = 0;
  bool stopping = false;
  size_t watch_count = 0;
  std::deque<RecordedRequest> recorded;  // the most recent kRecordedRequests
  std::vector<Fault> faults;
  std::chrono::milliseconds delay{0};

  // --- Types ----------------------------------------------------------------------

  void AddTypeLocked(const ResourceTypePtr& type) {
    types[type->api_version() + "/" + type->plural] = type;
  }

  ResourceTypePtr FindTypeLocked(const std::string& api_version, const std::string& plural) const {
    const auto it = types.find(api_version + "/" + plural);
    return it == types.end() ? nullptr : it->second;
  }

  ResourceTypePtr TypeOfStorageLocked(const std::string& storage) const {
    for (const auto& [key, type] : types) {
      if (type->storage == storage && type->group != "events.k8s.io") return type;
    }
    return nullptr;
  }

  // Serves (or stops serving) the resources of a CRD object.
  void SyncCrdLocked(const json& crd, bool removed) {
    const std::string group = crd["spec"].value("group", "");
    const std::string plural = crd["spec"]["names"].value("plural", "");
    for (auto it = types.begin(); it != types.end();) {
      if (it->second->custom && it->second->group == group && it->second->plural == plural) {
        it = types.erase(it);
      } else {
        ++it;
      }
    }
    if (removed) return;
    auto derived = ResourceTypesFromCrd(crd);
    if (derived.ok()) {
      for (const auto& type : *derived) AddTypeLocked(type);
    }
  }

  // --- Storage and history ----------------------------------------------------------

  json FromStorage(const ResourceType& type, json object) const {
    if (type.group == "events.k8s.io") object = RenameFields(std::move(object), true);
    object["apiVersion"] = type.api_version();
    object["kind"] = type.kind;
    return object;
  }

  json ToStorage(const ResourceType& type, json object) const {
    if (type.group == "events.k8s.io") {
      object = RenameFields(std::move(object), false);
      object["apiVersion"] = "v1";
    }
    return object;
  }

  void RecordLocked(const std::string& storage, const std::string& event_type, const json& object,
                    json previous) {
    history.push_back({resource_version, storage, event_type, object, std::move(previous)});
    while (history.size() > options.watch_history) {
      compacted = history.front().resource_version;
      history.pop_front();
    }
    changed.notify_all();
  }

  // Stores a new or changed object (storage form) under a new resourceVersion.
  json PutLocked(const std::string& storage, json object) {
    object["metadata"]["resourceVersion"] = std::to_string(++resource_version);
    auto& slot = objects[storage];
    const std::string key = ObjectKey(object);
    const auto existing = slot.find(key);
    json previous = existing == slot.end() ? json() : existing->second;
    slot[key] = object;
    const std::string event_type = previous.is_null() ? "ADDED" : "MODIFIED";
    RecordLocked(storage, event_type, object, std::move(previous));
    return object;
  }

  // Removes an object for good; `final_state` is what DELETED watchers see.
  json RemoveLocked(const std::string& storage, json final_state) {
    final_state["metadata"]["resourceVersion"] = std::to_string(++resource_version);
    auto& slot = objects[storage];
    const std::string key = ObjectKey(final_state);
    json previous = slot[key];
    slot.erase(key);
    // A later object of the same name starts with no applied configurations.
    const std::string applied_prefix = storage + "|" + key + "|";
    for (auto it = applied.lower_bound(applied_prefix);
         it != applied.end() && it->first.rfind(applied_prefix, 0) == 0;) {
      it = applied.erase(it);
    }
    RecordLocked(storage, "DELETED", final_state, std::move(previous));
    if (storage == "apiextensions.k8s.io/customresourcedefinitions") {
      RemoveCustomObjectsLocked(final_state);
    }
    FinishNamespaceIfEmptyLocked(final_state["metadata"].value("namespace", ""));
    return final_state;
  }

  void RemoveCustomObjectsLocked(const json& crd) {
    const std::string storage =
        crd["spec"].value("group", "") + "/" + crd["spec"]["names"].value("plural", "");
    SyncCrdLocked(crd, /*removed=*/true);
    const auto slot = objects[storage];
    for (const auto& [key, object] : slot) RemoveLocked(storage, object);
  }

  const json* FindLocked(const std::string& storage, const std::string& key) const {
    const auto slot = objects.find(storage);
    if (slot == objects.end()) return nullptr;
    const auto it = slot->second.find(key);
    return it == slot->second.end() ? nullptr : &it->second;
  }

  // The objects of `storage` as they were at `version` (undoing later history).
  // The objects as they were at `version`, pointing into the store and its history (valid
  // while the lock is held): a page of a big LIST must not copy every object.
  std::map<std::string, const json*> SnapshotLocked(const std::string& storage,
                                                    int64_t version) const {
    std::map<std::string, const json*> snapshot;
    if (auto it = objects.find(storage); it != objects.end()) {
      for (const auto& [key, object] : it->second)
        snapshot.emplace_hint(snapshot.end(), key, &object);
    }
    for (auto event = history.rbegin();
         event != history.rend() && event->resource_version > version; ++event) {
      if (event->storage != storage) continue;
      const std::string key = ObjectKey(event->object);
      if (event->type == "ADDED") {
        snapshot.erase(key);
      } else {
        snapshot[key] = &event->previous;
      }
    }
    return snapshot;
  }

  // --- Namespaces -------------------------------------------------------------------

  std::optional<Reply> CheckNamespaceLocked(const std::string& ns) const {
    const json* namespace_object = FindLocked("/namespaces", ObjectKey("", ns));
    if (!namespace_object) {
      return StatusReply(404, "NotFound", "namespaces \"" + ns + "\" not found",
                         {{"name", ns}, {"kind", "namespaces"}});
    }
    if ((*namespace_object)["metadata"].contains("deletionTimestamp")) {
      return StatusReply(
          403, "Forbidden",
          "unable to create new content in namespace " + ns + " because it is being terminated",
          {{"name", ns}, {"kind", "namespaces"}});
    }
    return std::nullopt;
  }

  bool NamespaceIsEmptyLocked(const std::string& ns) const {
    for (const auto& [storage, slot] : objects) {
      for (const auto& [key, object] : slot) {
        if (object["metadata"].value("namespace", "") == ns) return false;
      }
    }
    return true;
  }

  void FinishNamespaceIfEmptyLocked(const std::string& ns) {
    if (ns.empty()) return;
    const json* namespace_object = FindLocked("/namespaces", ObjectKey("", ns));
    if (!namespace_object || !(*namespace_object)["metadata"].contains("deletionTimestamp")) return;
    if (NamespaceIsEmptyLocked(ns)) RemoveLocked("/namespaces", *namespace_object);
  }

  // --- Admission ---------------------------------------------------------------------

  // Field validation (unknown fields pruned, or refused when strict), defaulting and
  // schema validation of a new object state, in the request's type (not storage form).
  std::optional<Reply> AdmitLocked(const ResourceType& type, json& object,
                                   const WriteOptions& write, std::vector<std::string>* warnings) {
    json& meta = object["metadata"];
    const std::string name = meta.value("name", "");
    std::vector<FieldError> errors;
    const bool name_ok = type.plural == "namespaces" ? IsDnsLabel(name) : IsDnsSubdomain(name);
    if (!name_ok) {
      errors.push_back({"metadata.name", "FieldValueInvalid",
                        "Invalid value: \"" + name +
                            "\": a lowercase RFC 1123 subdomain must consist of lower case "
                            "alphanumeric characters, '-' or '.', and must start and end with "
                            "an alphanumeric character"});
    }
    std::vector<std::string> unknown;
    for (auto it = meta.begin(); it != meta.end();) {
      if (kObjectMetaFields.count(it.key())) {
        ++it;
      } else {
        unknown.push_back("metadata." + it.key());
        it = meta.erase(it);
      }
    }
    type.schema.Prune(object, &unknown);
    if (!unknown.empty() && write.field_validation == "Strict") {
      std::string text;
      for (const auto& field : unknown) {
        text += (text.empty() ? "" : ", ") + std::string("unknown field \"") + field + "\"";
      }
      return BadRequestReply(type.kind + " in version \"" + type.version +
                             "\" cannot be handled as a " + type.kind +
                             ": strict decoding error: " + text);
    }
    if (write.field_validation != "Ignore") {
      for (const auto& field : unknown) warnings->push_back("unknown field \"" + field + "\"");
    }
    if (type.custom) {
      type.schema.ApplyDefaults(object);
      const auto schema_errors = type.schema.Validate(object);
      errors.insert(errors.end(), schema_errors.begin(), schema_errors.end());
    }
    if (type.kind == "Secret" && object.contains("stringData")) {
      if (!object["stringData"].is_object()) {
        errors.push_back({"stringData", "FieldValueTypeInvalid", "must be an object"});
      } else {
        for (const auto& [key, value] : object["stringData"].items()) {
          object["data"][key] = Base64Encode(value.is_string() ? value.get<std::string>() : "");
        }
        object.erase("stringData");
      }
    }
    if (type.kind == "Secret" && object.value("type", "").empty()) object["type"] = "Opaque";
    if (!errors.empty()) return InvalidReply(type, name, errors);
    return std::nullopt;
  }

  // --- Writes --------------------------------------------------------------------------

  Reply CreateLocked(const ResourceType& type, const std::string& ns, json object,
                     const WriteOptions& write) {
    if (!object.is_object()) return BadRequestReply("the request body must be a JSON object");
    if (object.contains("apiVersion") && object["apiVersion"] != type.api_version()) {
      return BadRequestReply(
          "the API version in the data (" + object["apiVersion"].get<std::string>() +
          ") does not match the expected API version (" + type.api_version() + ")");
    }
    object["apiVersion"] = type.api_version();
    object["kind"] = type.kind;
    if (!object["metadata"].is_object()) object["metadata"] = json::object();
    json& meta = object["metadata"];
    if (meta.value("name", "").empty() && !meta.value("generateName", "").empty()) {
      static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
      meta["name"] = meta["generateName"].get<std::string>() + RandomString(kChars, 27, 5);
    }
    const std::string name = meta.value("name", "");
    if (name.empty()) {
      return InvalidReply(type, "",
                          {{"metadata.name", "FieldValueRequired",
                            "Required value: name or generateName is required"}});
    }
    if (type.namespaced) {
      if (meta.contains("namespace") && meta["namespace"] != ns) {
        return BadRequestReply(
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
      }
      meta["namespace"] = ns;
      if (auto failure = CheckNamespaceLocked(ns)) return *failure;
    } else {
      meta.erase("namespace");
    }
    if (type.status_subresource && type.custom) object.erase("status");
    std::vector<std::string> warnings;
    if (auto failure = AdmitLocked(type, object, write, &warnings)) return *failure;
    if (FindLocked(type.storage, ObjectKey(object))) {
      return StatusReply(409, "AlreadyExists",
                         type.qualified_plural() + " \"" + name + "\" already exists",
                         Details(type, name, type.plural));
    }
    for (const char* field : {"deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion",
                              "managedFields", "selfLink"}) {
      meta.erase(field);
    }
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = NowTimestamp();
    if (type.has_generation) meta["generation"] = 1;
    if (type.plural == "namespaces") object["status"] = {{"phase", "Active"}};
    if (type.kind == "CustomResourceDefinition") {
      if (auto failure = ValidateCrd(type, object)) return *failure;
      object["status"] = CrdStatus(object);
    }
    if (write.dry_run) return {201, object, warnings};
    json stored = PutLocked(type.storage, ToStorage(type, object));
    if (type.kind == "CustomResourceDefinition") SyncCrdLocked(stored, false);
    return {201, FromStorage(type, stored), warnings};
  }

  static std::optional<Reply> ValidateCrd(const ResourceType& type, const json& crd) {
    auto derived = ResourceTypesFromCrd(crd);
    if (!derived.ok()) {
      return InvalidReply(type, crd["metadata"].value("name", ""),
                          {{"spec", "FieldValueInvalid", derived.status().message()}});
    }
    const std::string expected =
        crd["spec"]["names"].value("plural", "") + "." + crd["spec"].value("group", "");
    if (crd["metadata"].value("name", "") != expected) {
      return InvalidReply(type, crd["metadata"].value("name", ""),
                          {{"metadata.name", "FieldValueInvalid",
                            "Invalid value: \"" + crd["metadata"].value("name", "") +
                                "\": must be spec.names.plural+\".\"+spec.group"}});
    }
    return std::nullopt;
  }

  static json CrdStatus(const json& crd) {
    const std::string now = NowTimestamp();
    json stored_versions = json::array();
    for (const auto& version : crd["spec"]["versions"]) {
      if (version.value("storage", false)) stored_versions.push_back(version["name"]);
    }
    return {{"acceptedNames", crd["spec"]["names"]},
            {"storedVersions", stored_versions},
            {"conditions",
             {{{"type", "NamesAccepted"},
               {"status", "True"},
               {"reason", "NoConflicts"},
               {"message", "no conflicts found"},
               {"lastTransitionTime", now}},
              {{"type", "Established"},
               {"status", "True"},
               {"reason", "InitialNamesAccepted"},
               {"message", "the initial names have been accepted"},
               {"lastTransitionTime", now}}}}};
  }

  // Turns `existing` into `desired` (both in the request's type): the common end of PUT,
  // PATCH and status writes.
  Reply CommitUpdateLocked(const ResourceType& type, const json& existing, json desired,
                           const WriteOptions& write, std::vector<std::string> warnings = {}) {
    json& meta = desired["metadata"];
    if (!meta.is_object()) meta = json::object();
    const json& old_meta = existing["metadata"];
    for (const char* field : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                              "deletionGracePeriodSeconds", "generation", "resourceVersion"}) {
      if (old_meta.contains(field)) {
        meta[field] = old_meta[field];
      } else {
        meta.erase(field);
      }
    }
    desired["apiVersion"] = type.api_version();
    desired["kind"] = type.kind;
    if (auto failure = AdmitLocked(type, desired, write, &warnings)) return *failure;
    const std::string name = meta.value("name", "");
    const bool deleting = old_meta.contains("deletionTimestamp");
    if (deleting) {
      const auto old_finalizers = old_meta.value("finalizers", std::vector<std::string>{});
      std::vector<std::string> added;
      for (const auto& finalizer : meta.value("finalizers", std::vector<std::string>{})) {
        if (std::find(old_finalizers.begin(), old_finalizers.end(), finalizer) ==
            old_finalizers.end()) {
          added.push_back("\"" + finalizer + "\"");
        }
      }
      if (!added.empty()) {
        std::string list;
        for (const auto& item : added) list += (list.empty() ? "" : ", ") + item;
        return InvalidReply(type, name,
                            {{"metadata.finalizers", "FieldValueForbidden",
                              "Forbidden: no new finalizers can be added if the object is being "
                              "deleted, found new finalizers []string{" +
                                  list + "}"}});
      }
    }
    if (meta.contains("finalizers") && meta["finalizers"].empty()) meta.erase("finalizers");
    if (type.has_generation && !SameExceptMetadataAndStatus(existing, desired)) {
      meta["generation"] = old_meta.value("generation", 0) + 1;
    }
    if (type.kind == "CustomResourceDefinition") {
      if (auto failure = ValidateCrd(type, desired)) return *failure;
    }
    if (desired == existing) return {200, desired, warnings};  // no change, no new version
    if (write.dry_run) return {200, desired, warnings};
    if (deleting && !meta.contains("finalizers")) {
      json removed = RemoveLocked(type.storage, ToStorage(type, desired));
      return {200, FromStorage(type, removed), warnings};
    }
    json stored = PutLocked(type.storage, ToStorage(type, desired));
    if (type.kind == "CustomResourceDefinition") SyncCrdLocked(stored, false);
    return {200, FromStorage(type, stored), warnings};
  }

  Reply UpdateLocked(const Target& target, json body, const WriteOptions& write) {
    const ResourceType& type = *target.type;
    if (!body.is_object()) return BadRequestReply("the request body must be a JSON object");
    if (!body["metadata"].is_object()) body["metadata"] = json::object();
    const std::string body_name = body["metadata"].value("name", "");
    if (!body_name.empty() && body_name != target.name) {
      return BadRequestReply("the name of the object (" + body_name +
                             ") does not match the name on the URL (" + target.name + ")");
    }
    if (type.namespaced && body["metadata"].contains("namespace") &&
        body["metadata"]["namespace"] != target.ns) {
      return BadRequestReply(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    const json* stored = FindLocked(type.storage, ObjectKey(target.ns, target.name));
    if (!stored) return NotFoundReply(type, target.name);
    const json existing = FromStorage(type, *stored);
    const std::string version = ResourceVersionOf(body);
    if (version.empty() && !type.allow_unconditional_update) {
      return InvalidReply(type, target.name,
                          {{"metadata.resourceVersion", "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update"}});
    }
    if (!version.empty() && version != ResourceVersionOf(existing)) {
      return ConflictReply(type, target.name,
                           "the object has been modified; please apply your changes to the "
                           "latest version and try again");
    }
    return CommitUpdateLocked(type, existing, Merge(type, target, existing, body), write);
  }

  // Whether the objects differ only in metadata and status (what leaves generation as is),
  // compared in place: objects are copied on every write already.
  static bool SameExceptMetadataAndStatus(const json& a, const json& b) {
    const auto covered = [](const json& one, const json& other) {
      for (const auto& [key, value] : one.items()) {
        if (key == "metadata" || key == "status") continue;
        const auto found = other.find(key);
        if (found == other.end() || *found != value) return false;
      }
      return true;
    };
    return covered(a, b) && covered(b, a);
  }

  // The new object state when `changed` is written to the main resource or to /status.
  static json Merge(const ResourceType& type, const Target& target, const json& existing,
                    const json& changed) {
    if (target.subresource == "status") {
      json desired = existing;
      if (changed.contains("status")) {
        desired["status"] = changed["status"];
      } else {
        desired.erase("status");
      }
      return desired;
    }
    json desired = changed;
    if (type.status_subresource) {
      if (existing.contains("status")) {
        desired["status"] = existing["status"];
      } else {
        desired.erase("status");
      }
    }
    return desired;
  }

  Reply PatchLocked(const Target& target, const std::string& content_type, const std::string& body,
                    const WriteOptions& write) {
    const ResourceType& type = *target.type;
    const json* stored = FindLocked(type.storage, ObjectKey(target.ns, target.name));
    const std::string media = content_type.substr(0, content_type.find(';'));
    json patched;
    try {
      if (media == "application/apply-patch+yaml") return ApplyLocked(target, body, write);
      if (media != "application/merge-patch+json" && media != "application/json-patch+json" &&
          (media != "application/strategic-merge-patch+json" || type.custom)) {
        return StatusReply(
            415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media "
            "types include: application/json-patch+json, "
            "application/merge-patch+json, application/apply-patch+yaml" +
                std::string(type.custom ? "" : ", application/strategic-merge-patch+json"));
      }
      if (!stored) return NotFoundReply(type, target.name);
      const json existing = FromStorage(type, *stored);
      json patch = json::parse(body);
      if (media == "application/json-patch+json") {
        try {
          patched = existing.patch(patch);
        } catch (const json::exception& e) {
          return StatusReply(
              422, "Invalid",
              std::string("the server rejected our request due to an error in our request: ") +
                  e.what());
        }
      } else {
        if (!patch.is_object()) return BadRequestReply("a merge patch must be a JSON object");
        if (media == "application/strategic-merge-patch+json") StripPatchDirectives(patch);
        patched = existing;
        patched.merge_patch(patch);
      }
      if (ResourceVersionOf(patched) != ResourceVersionOf(existing)) {
        return ConflictReply(type, target.name,
                             "the object has been modified; please apply your changes to the "
                             "latest version and try again");
      }
      return CommitUpdateLocked(type, existing, Merge(type, target, existing, patched), write);
    } catch (const json::exception& e) {
      return BadRequestReply(std::string("error decoding patch: ") + e.what());
    }
  }

  // Server-side apply, approximated: the manager's new configuration is merged in like
  // a three-way merge patch against the configuration it applied last time.
  Reply ApplyLocked(const Target& target, const std::string& body, const WriteOptions& write) {
    const ResourceType& type = *target.type;
    if (write.field_manager.empty()) {
      return StatusReply(422, "Invalid",
                         "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                         "is required for apply patch");
    }
    auto parsed = YamlToJson(body);
    if (!parsed.ok() || !parsed->is_object()) {
      return BadRequestReply("error decoding YAML: " + parsed.status().message());
    }
    json configuration = std::move(*parsed);
    if (!configuration["metadata"].is_object()) configuration["metadata"] = json::object();
    const std::string name = configuration["metadata"].value("name", "");
    if (name != target.name) {
      return BadRequestReply("the name of the object (" + name +
                             ") does not match the name on the URL (" + target.name + ")");
    }
    const std::string applied_key = type.storage + "|" + ObjectKey(target.ns, target.name) + "|" +
                                    target.subresource + "|" + write.field_manager;
    const json* stored = FindLocked(type.storage, ObjectKey(target.ns, target.name));
    if (!stored) {
      if (!target.subresource.empty()) return NotFoundReply(type, target.name);
      Reply reply = CreateLocked(type, target.ns, configuration, write);
      if (reply.code == 201 && !write.dry_run) applied[applied_key] = configuration;
      return reply;
    }
    const json existing = FromStorage(type, *stored);
    const auto previous = applied.find(applied_key);
    json patch =
        MergeDiff(previous == applied.end() ? json::object() : previous->second, configuration);
    json patched = existing;
    patched.merge_patch(patch);
    const std::string version = ResourceVersionOf(configuration);
    if (!version.empty() && version != ResourceVersionOf(existing)) {
      return ConflictReply(type, target.name,
                           "the object has been modified; please apply your changes to the "
                           "latest version and try again");
    }
    patched["metadata"]["resourceVersion"] = ResourceVersionOf(existing);
    Reply reply = CommitUpdateLocked(type, existing, Merge(type, target, existing, patched), write);
    if (reply.code == 200 && !write.dry_run) applied[applied_key] = configuration;
    return reply;
  }

  // Deletes one object, honouring finalizers. `stored` is in storage form.
  Reply DeleteObjectLocked(const ResourceType& type, json object, bool dry_run) {
    json& meta = object["metadata"];
    const std::string name = meta.value("name", "");
    if (type.plural == "namespaces") return DeleteNamespaceLocked(type, object, dry_run);
    if (meta.contains("finalizers") && !meta["finalizers"].empty()) {
      if (meta.contains("deletionTimestamp") || dry_run) return {200, FromStorage(type, object)};
      meta["deletionTimestamp"] = NowTimestamp();
      meta["deletionGracePeriodSeconds"] = 0;
      if (type.has_generation) meta["generation"] = meta.value("generation", 0) + 1;
      return {200, FromStorage(type, PutLocked(type.storage, object))};
    }
    json details = Details(type, name, type.plural);
    details["uid"] = meta.value("uid", "");
    json status = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", json::object()},
                   {"status", "Success"},
                   {"details", details}};
    if (!dry_run) RemoveLocked(type.storage, object);
    return {200, status};
  }

  Reply DeleteNamespaceLocked(const ResourceType& type, json object, bool dry_run) {
    const std::string ns = object["metadata"].value("name", "");
    if (dry_run || object["metadata"].contains("deletionTimestamp")) {
      return {200, FromStorage(type, object)};
    }
    object["metadata"]["deletionTimestamp"] = NowTimestamp();
    object["metadata"]["deletionGracePeriodSeconds"] = 0;
    object["status"]["phase"] = "Terminating";
    json terminating = PutLocked(type.storage, object);
    std::vector<std::pair<std::string, json>> contents;
    for (const auto& [storage, slot] : objects) {
      for (const auto& [key, item] : slot) {
        if (item["metadata"].value("namespace", "") == ns) contents.emplace_back(storage, item);
      }
    }
    for (const auto& [storage, item] : contents) {
      if (const auto owner = TypeOfStorageLocked(storage)) {
        DeleteObjectLocked(*owner, item, false);
      } else {
        RemoveLocked(storage, item);
      }
    }
    FinishNamespaceIfEmptyLocked(ns);
    return {200, FromStorage(type, terminating)};
  }

  Reply DeleteLocked(const Target& target, const std::string& body, bool dry_run) {
    const ResourceType& type = *target.type;
    const json* stored = FindLocked(type.storage, ObjectKey(target.ns, target.name));
    if (!stored) return NotFoundReply(type, target.name);
    json delete_options = json::parse(body.empty() ? "{}" : body, nullptr, false);
    if (delete_options.is_discarded() || !delete_options.is_object()) {
      return BadRequestReply("the body of a DELETE must be DeleteOptions");
    }
    const json preconditions = delete_options.value("preconditions", json::object());
    const json& meta = (*stored)["metadata"];
    if (preconditions.contains("uid") && preconditions["uid"] != meta["uid"]) {
      return ConflictReply(
          type, target.name,
          "Precondition failed: UID in precondition: " + preconditions["uid"].get<std::string>() +
              ", UID in object meta: " + meta.value("uid", ""));
    }
    if (preconditions.contains("resourceVersion") &&
        preconditions["resourceVersion"] != meta["resourceVersion"]) {
      return ConflictReply(
          type, target.name,
          "Precondition failed: ResourceVersion in precondition: " +
              preconditions["resourceVersion"].get<std::string>() +
              ", ResourceVersion in object meta: " + meta.value("resourceVersion", ""));
    }
    return DeleteObjectLocked(type, *stored, dry_run);
  }

  // --- Reads ---------------------------------------------------------------------------

  struct Query {
    LabelSelector labels;
    FieldSelector fields;
  };

  std::optional<Reply> ParseQuery(const ResourceType& type, const httplib::Request& req,
                                  Query* query) const {
    auto labels = LabelSelector::Parse(req.get_param_value("labelSelector"));
    if (!labels.ok())
      return BadRequestReply("unable to parse requirement: " + labels.status().message());
    auto fields = FieldSelector::Parse(req.get_param_value("fieldSelector"));
    if (!fields.ok()) return BadRequestReply(fields.status().message());
    for (const auto& requirement : fields->requirements()) {
      const auto& extra = type.field_labels;
      if (requirement.field != "metadata.name" && requirement.field != "metadata.namespace" &&
          std::find(extra.begin(), extra.end(), requirement.field) == extra.end()) {
        return BadRequestReply("field label not supported: " + requirement.field);
      }
    }
    query->labels = std::move(*labels);
    query->fields = std::move(*fields);
    return std::nullopt;
  }

  bool Matches(const Query& query, const std::string& ns, const json& object) const {
    if (!object.is_object()) return false;
    if (!ns.empty() && object["metadata"].value("namespace", "") != ns) return false;
    if (object.contains("source") && object["source"].is_object()) {
      json view = object;
      view["source"] = view["source"].value("component", "");  // the "source" field label
      return query.labels.Matches(view) && query.fields.Matches(view);
    }
    return query.labels.Matches(object) && query.fields.Matches(object);
  }

  static Reply ExpiredReply(const std::string& message) {
    return StatusReply(410, "Expired", message);
  }

  Reply ListLocked(const Target& target, const httplib::Request& req) const {
    const ResourceType& type = *target.type;
    Query query;
    if (auto failure = ParseQuery(type, req, &query)) return *failure;
    const std::string requested = req.get_param_value("resourceVersion");
    const std::string match = req.get_param_value("resourceVersionMatch");
    size_t limit = 0;
    if (req.has_param("limit") && requested != "0") {
      try {
        limit = std::stoul(req.get_param_value("limit"));
      } catch (const std::exception&) {
        return BadRequestReply("invalid limit");
      }
    }
    int64_t version = resource_version;
    std::string start_after;
    if (req.has_param("continue") && !req.get_param_value("continue").empty()) {
      const auto decoded = Base64Decode(req.get_param_value("continue"));
      json token = decoded.ok() ? json::parse(*decoded, nullptr, false) : json();
      if (!token.is_object() || !token.contains("rv") || !token.contains("start")) {
        return BadRequestReply("continue key is not valid: invalid continue token");
      }
      version = token["rv"].get<int64_t>();
      start_after = token["start"].get<std::string>();
      if (version < compacted) {
        return ExpiredReply(
            "The provided continue parameter is too old to display a consistent list result. "
            "You can start a new list without the continue parameter, or use the continue "
            "token in this response to retrieve the remainder of the results. Continuing with "
            "the provided token results in an inconsistent list - objects that were created, "
            "modified, or deleted between the time the first chunk was returned and now may "
            "show up in the list.");
      }
    } else if (!requested.empty() && requested != "0") {
      int64_t wanted = 0;
      try {
        wanted = std::stoll(requested);
      } catch (const std::exception&) {
        return BadRequestReply("invalid resource version: " + requested);
      }
      if (wanted > resource_version) {
        return StatusReply(
            504, "Timeout",
            "Too large resource version: " + requested +
                ", current: " + std::to_string(resource_version),
            {{"causes",
              {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
             {"retryAfterSeconds", 1}});
      }
      if (match == "Exact") {
        if (wanted < compacted) {
          return ExpiredReply("too old resource version: " + requested + " (" +
                              std::to_string(compacted) + ")");
        }
        version = wanted;
      }
    }
    const auto snapshot = SnapshotLocked(type.storage, version);
    // As the real API: with selectors, a full page says there may be more (continue) but
    // not how many; without, remainingItemCount counts the keys left in the namespace.
    const bool selective = !query.labels.empty() || !query.fields.requirements().empty();
    const std::string ns_prefix = target.ns.empty() ? "" : target.ns + "/";
    std::vector<json> items;
    std::string last_key;
    bool more = false;
    size_t remaining = 0;
    for (auto it = start_after.empty() ? snapshot.begin() : snapshot.upper_bound(start_after);
         it != snapshot.end(); ++it) {
      if (!it->first.starts_with(ns_prefix)) continue;
      if (limit && items.size() == limit) {
        more = true;
        if (selective) break;
        ++remaining;
        continue;
      }
      json object = FromStorage(type, *it->second);
      if (!Matches(query, target.ns, object)) continue;
      items.push_back(std::move(object));
      last_key = it->first;
    }
    json metadata = {{"resourceVersion", std::to_string(version)}};
    if (more) {
      metadata["continue"] = Base64Encode(json{{"rv", version}, {"start", last_key}}.dump());
      if (!selective) metadata["remainingItemCount"] = remaining;
    }
    if (WantsTable(req)) {
      json table = MakeTable(type, items, !BoolParam(req, "noHeaders"), IncludeObject(req),
                             std::chrono::system_clock::now());
      table["metadata"] = metadata;
      return {200, table};
    }
    return {200,
            {{"apiVersion", type.api_version()},
             {"kind", type.list_kind},
             {"metadata", metadata},
             {"items", items}}};
  }

  static bool WantsTable(const httplib::Request& req) {
    return req.get_header_value("Accept").find("as=Table") != std::string::npos;
  }
  static std::string IncludeObject(const httplib::Request& req) {
    return req.has_param("includeObject") ? req.get_param_value("includeObject") : "Metadata";
  }

  Reply GetLocked(const Target& target, const httplib::Request& req) const {
    const ResourceType& type = *target.type;
    const json* stored = FindLocked(type.storage, ObjectKey(target.ns, target.name));
    if (!stored) return NotFoundReply(type, target.name);
    json object = FromStorage(type, *stored);
    if (WantsTable(req)) {
      json table = MakeTable(type, {object}, !BoolParam(req, "noHeaders"), IncludeObject(req),
                             std::chrono::system_clock::now());
      table["metadata"] = {{"resourceVersion", ResourceVersionOf(object)}};
      return {200, table};
    }
    return {200, object};
  }

  // --- Watch ---------------------------------------------------------------------------

  struct WatchStream {
    ResourceTypePtr type;
    std::string ns;
    Query query;
    int64_t cursor = 0;
    bool bookmarks = false;
    bool table = false;
    bool headers_sent = false;
    std::string include_object;
    Clock::time_point deadline;
    Clock::time_point next_bookmark;
    uint64_t drop_generation = 0;
    uint64_t bookmark_generation = 0;
    std::string name;                 // a watch of one object by its path
    std::deque<json> initial;         // synthetic ADDED events of a watch from "" or "0"
    bool initial_events_end = false;  // sendInitialEvents: bookmark after the initial events
    bool expired = false;             // send the 410 ERROR event, then close
  };

  bool Selects(const WatchStream& stream, const json& object) const {
    if (!stream.name.empty() && object["metadata"].value("name", "") != stream.name) return false;
    return Matches(stream.query, stream.ns, object);
  }

  static json Bookmark(const ResourceType& type, int64_t version, bool initial_events_end) {
    json metadata = {{"resourceVersion", std::to_string(version)}, {"creationTimestamp", nullptr}};
    if (initial_events_end) metadata["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    return {{"kind", type.kind}, {"apiVersion", type.api_version()}, {"metadata", metadata}};
  }

  std::string EventLine(WatchStream& stream, const std::string& event_type, json object) {
    if (stream.table && event_type != "BOOKMARK" && event_type != "ERROR") {
      object = MakeTable(*stream.type, {object}, !stream.headers_sent, stream.include_object,
                         std::chrono::system_clock::now());
      stream.headers_sent = true;
    }
    return json{{"type", event_type}, {"object", std::move(object)}}.dump() + "\n";
  }

  // Starts a watch; returns the error reply when it cannot start.
  std::optional<Reply> OpenWatchLocked(const Target& target, const httplib::Request& req,
                                       WatchStream* stream) {
    const ResourceType& type = *target.type;
    if (auto failure = ParseQuery(type, req, &stream->query)) return *failure;
    stream->type = target.type;
    stream->ns = target.ns;
    stream->name = target.name;
    stream->bookmarks = BoolParam(req, "allowWatchBookmarks");
    stream->table = WantsTable(req);
    stream->include_object = IncludeObject(req);
    auto timeout = std::chrono::duration_cast<Clock::duration>(options.default_watch_timeout);
    if (req.has_param("timeoutSeconds")) {
      try {
        timeout = std::chrono::seconds(std::stoll(req.get_param_value("timeoutSeconds")));
      } catch (const std::exception&) {
        return BadRequestReply("invalid timeoutSeconds");
      }
    }
    stream->deadline = Clock::now() + timeout;
    stream->next_bookmark = Clock::now() + options.bookmark_interval;
    stream->drop_generation = drop_generation;
    stream->bookmark_generation = bookmark_generation;
    const std::string requested = req.get_param_value("resourceVersion");
    const bool send_initial = BoolParam(req, "sendInitialEvents");
    if (send_initial && !stream->bookmarks) {
      return InvalidReply(type, "",
                          {{"allowWatchBookmarks", "FieldValueForbidden",
                            "Forbidden: sendInitialEvents requires setting allowWatchBookmarks "
                            "to true"}});
    }
    if (requested.empty() || requested == "0" || send_initial) {
      stream->cursor = resource_version;
      stream->initial_events_end = send_initial;
      for (const auto& [key, stored] : SnapshotLocked(type.storage, resource_version)) {
        json object = FromStorage(type, *stored);
        if (Selects(*stream, object)) stream->initial.push_back(object);
      }
      return std::nullopt;
    }
    try {
      stream->cursor = std::stoll(requested);
    } catch (const std::exception&) {
      return BadRequestReply("invalid resource version: " + requested);
    }
    stream->expired = stream->cursor < compacted;
    return std::nullopt;
  }

  // One step of a watch: waits for something to send. Returns what to write, and sets
  // `close` (end the stream cleanly) or `abort` (cut the connection).
  std::string PollWatch(WatchStream& stream, bool* close, bool* abort) {
    std::unique_lock lock(mu);
    std::string out;
    const auto has_news = [&] {
      return stopping || stream.drop_generation != drop_generation || stream.expired ||
             !stream.initial.empty() || stream.initial_events_end ||
             stream.cursor < resource_version ||
             (stream.bookmarks && stream.bookmark_generation != bookmark_generation);
    };
    auto wake = std::min(stream.deadline, Clock::now() + std::chrono::seconds(1));
    if (stream.bookmarks) wake = std::min(wake, stream.next_bookmark);
    changed.wait_until(lock, wake, has_news);
    if (stopping || stream.drop_generation != drop_generation) {
      *abort = true;
      return out;
    }
    if (stream.cursor < compacted) stream.expired = true;
    if (stream.expired) {
      const Reply gone = ExpiredReply("too old resource version: " + std::to_string(stream.cursor) +
                                      " (" + std::to_string(compacted) + ")");
      out = EventLine(stream, "ERROR", gone.body);
      *close = true;
      return out;
    }
    const ResourceType& type = *stream.type;
    while (!stream.initial.empty()) {
      out += EventLine(stream, "ADDED", std::move(stream.initial.front()));
      stream.initial.pop_front();
    }
    if (stream.initial_events_end) {
      out += EventLine(stream, "BOOKMARK", Bookmark(type, stream.cursor, true));
      stream.initial_events_end = false;
    }
    auto event = std::lower_bound(
        history.begin(), history.end(), stream.cursor + 1,
        [](const HistoryEvent& e, int64_t version) { return e.resource_version < version; });
    for (; event != history.end(); ++event) {
      if (event->storage != type.storage) continue;
      const json object = FromStorage(type, event->object);
      const bool now_matches = Selects(stream, object);
      const bool matched_before =
          !event->previous.is_null() && Selects(stream, FromStorage(type, event->previous));
      std::string event_type = event->type;
      if (event_type == "MODIFIED" && now_matches && !matched_before) event_type = "ADDED";
      if (event_type == "MODIFIED" && !now_matches && matched_before) event_type = "DELETED";
      if (event_type == "DELETED" ? matched_before : now_matches) {
        out += EventLine(stream, event_type, object);
      }
    }
    stream.cursor = resource_version;
    const auto now = Clock::now();
    if (stream.bookmarks &&
        (now >= stream.next_bookmark || stream.bookmark_generation != bookmark_generation)) {
      out += EventLine(stream, "BOOKMARK", Bookmark(type, stream.cursor, false));
      stream.next_bookmark = now + options.bookmark_interval;
      stream.bookmark_generation = bookmark_generation;
    }
    if (now >= stream.deadline) *close = true;
    return out;
  }

  void ServeWatch(const Target& target, const httplib::Request& req, httplib::Response& res) {
    auto stream = std::make_shared<WatchStream>();
    {
      std::lock_guard lock(mu);
      if (auto failure = OpenWatchLocked(target, req, stream.get())) {
        Send(*failure, res);
        return;
      }
      ++watch_count;
    }
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json",
        [this, stream](size_t, httplib::DataSink& sink) {
          bool close = false, abort = false;
          const std::string out = PollWatch(*stream, &close, &abort);
          if (abort) return false;
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (close) sink.done();
          return true;
        },
        [this, stream](bool) {
          std::lock_guard lock(mu);
          --watch_count;
        });
  }

  // --- HTTP ----------------------------------------------------------------------------

  static void Send(const Reply& reply, httplib::Response& res) {
    res.status = reply.code;
    for (const auto& warning : reply.warnings) {
      res.set_header("Warning", "299 - " + json(warning).dump());
    }
    res.set_content(reply.body.dump(), "application/json");
  }

  std::optional<Target> ResolveLocked(const std::vector<std::string>& segments,
                                      Reply* error) const {
    const auto not_found = [&] {
      *error = StatusReply(404, "NotFound", "the server could not find the requested resource");
      return std::nullopt;
    };
    size_t at = 0;
    std::string api_version;
    if (segments.size() >= 2 && segments[0] == "api") {
      api_version = segments[1];
      at = 2;
    } else if (segments.size() >= 3 && segments[0] == "apis") {
      api_version = segments[1] + "/" + segments[2];
      at = 3;
    } else {
      return not_found();
    }
    std::vector<std::string> rest(segments.begin() + at, segments.end());
    Target target;
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      const auto type = FindTypeLocked(api_version, rest[2]);
      if (type && type->namespaced) {
        target.type = type;
        target.ns = rest[1];
        rest.erase(rest.begin(), rest.begin() + 3);
      }
    }
    if (!target.type) {
      if (rest.empty()) return not_found();
      target.type = FindTypeLocked(api_version, rest[0]);
      if (!target.type) return not_found();
      rest.erase(rest.begin());
    }
    if (rest.size() > 2) return not_found();
    if (!rest.empty()) target.name = rest[0];
    if (rest.size() == 2) {
      if (rest[1] != "status" || !target.type->status_subresource) return not_found();
      target.subresource = rest[1];
    }
    if (target.type->namespaced && target.ns.empty() && !target.name.empty()) return not_found();
    return target;
  }

  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    std::vector<std::string> segments;
    for (size_t start = 0; start < req.path.size();) {
      const size_t slash = req.path.find('/', start);
      const size_t end = slash == std::string::npos ? req.path.size() : slash;
      if (end > start) segments.push_back(req.path.substr(start, end - start));
      start = end + 1;
    }
    if (req.path == "/healthz" || req.path == "/readyz" || req.path == "/livez") {
      res.set_content("ok", "text/plain");
      return;
    }
    if (req.method == "GET") {
      if (auto reply = ServeMeta(req, segments)) {
        Send(*reply, res);
        return;
      }
    }
    Reply error;
    std::optional<Target> target;
    {
      std::lock_guard lock(mu);
      target = ResolveLocked(segments, &error);
    }
    if (!target) {
      Send(error, res);
      return;
    }
    const bool collection = target->name.empty();
    if (req.method == "GET" && BoolParam(req, "watch")) {
      ServeWatch(*target, req, res);
      return;
    }
    std::lock_guard lock(mu);
    const WriteOptions write = ReadWriteOptions(req);
    json body;
    Reply reply;
    if (req.method == "GET") {
      reply = collection ? ListLocked(*target, req) : GetLocked(*target, req);
    } else if (req.method == "POST" && collection && target->subresource.empty()) {
      if (target->type->namespaced && target->ns.empty()) {
        reply = StatusReply(404, "NotFound", "the server could not find the requested resource");
      } else if (auto failure = DecodeBody(req, &body)) {
        reply = *failure;
      } else {
        reply = CreateLocked(*target->type, target->ns, body, write);
      }
    } else if (req.method == "PUT" && !collection) {
      if (auto failure = DecodeBody(req, &body)) {
        reply = *failure;
      } else {
        reply = UpdateLocked(*target, body, write);
      }
    } else if (req.method == "PATCH" && !collection) {
      reply = PatchLocked(*target, req.get_header_value("Content-Type"), req.body, write);
    } else if (req.method == "DELETE" && !collection && target->subresource.empty()) {
      reply = DeleteLocked(*target, req.body, write.dry_run);
    } else if (req.method == "DELETE" && collection) {
      reply = DeleteCollectionLocked(*target, req);
    } else {
      reply = StatusReply(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource");
    }
    Send(reply, res);
  }

  // A POST or PUT body: JSON, or the protobuf kubectl's imperative commands send.
  static std::optional<Reply> DecodeBody(const httplib::Request& req, json* body) {
    const std::string content_type = req.get_header_value("Content-Type");
    if (content_type.rfind("application/vnd.kubernetes.protobuf", 0) == 0) {
      auto decoded = DecodeKubernetesProtobuf(req.body);
      if (decoded.ok()) {
        *body = std::move(*decoded);
        return std::nullopt;
      }
      if (decoded.status().code() == StatusCode::kUnsupported) return UnsupportedBodyReply();
      return BadRequestReply(decoded.status().message());
    }
    if (content_type.rfind("application/json", 0) != 0 && !req.body.empty()) {
      return UnsupportedBodyReply();
    }
    *body = json::parse(req.body, nullptr, false);
    if (body->is_discarded()) return BadRequestReply("the request body is not valid JSON");
    return std::nullopt;
  }

  Reply DeleteCollectionLocked(const Target& target, const httplib::Request& req) {
    const ResourceType& type = *target.type;
    Query query;
    if (auto failure = ParseQuery(type, req, &query)) return *failure;
    std::vector<json> victims;
    for (const auto& [key, stored] : objects[type.storage]) {
      if (Matches(query, target.ns, FromStorage(type, stored))) victims.push_back(stored);
    }
    json items = json::array();
    for (const auto& victim : victims) {
      DeleteObjectLocked(type, victim, ReadWriteOptions(req).dry_run);
      items.push_back(FromStorage(type, victim));
    }
    return {200,
            {{"apiVersion", type.api_version()},
             {"kind", type.list_kind},
             {"metadata", {{"resourceVersion", std::to_string(resource_version)}}},
             {"items", items}}};
  }

  // /version, discovery and OpenAPI; nullopt for resource paths.
  std::optional<Reply> ServeMeta(const httplib::Request& req,
                                 const std::vector<std::string>& segments) {
    std::lock_guard lock(mu);
    const std::string path = req.path;
    if (path == "/version") {
      return Reply{200,
                   {{"major", "1"},
                    {"minor", "32"},
                    {"gitVersion", "v1.32.0"},
                    {"gitCommit", "tidemark-test-apiserver"},
                    {"gitTreeState", "clean"},
                    {"buildDate", "2024-12-11T00:00:00Z"},
                    {"goVersion", "go1.23.3"},
                    {"compiler", "gc"},
                    {"platform", "linux/amd64"}}};
    }
    if (path == "/api") {
      return Reply{200,
                   {{"kind", "APIVersions"},
                    {"versions", {"v1"}},
                    {"serverAddressByClientCIDRs",
                     {{{"clientCIDR", "0.0.0.0/0"},
                       {"serverAddress", "127.0.0.1:" + std::to_string(port)}}}}}};
    }
    const auto groups = GroupVersionsLocked();
    if (path == "/apis") {
      json list = json::array();
      for (const auto& [group, versions] : groups) {
        if (!group.empty()) list.push_back(GroupJson(group, versions));
      }
      return Reply{200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}}};
    }
    if (segments.size() == 2 && segments[0] == "apis" && groups.count(segments[1])) {
      json group = GroupJson(segments[1], groups.at(segments[1]));
      group["kind"] = "APIGroup";
      group["apiVersion"] = "v1";
      return Reply{200, group};
    }
    const bool core_list = segments.size() == 2 && segments[0] == "api";
    const bool group_list = segments.size() == 3 && segments[0] == "apis";
    if (core_list || group_list) {
      const std::string group_version = core_list ? segments[1] : segments[1] + "/" + segments[2];
      json resources = json::array();
      for (const auto& [key, type] : types) {
        if (type->api_version() != group_version) continue;
        for (auto& entry : DiscoveryEntries(*type)) resources.push_back(entry);
      }
      if (resources.empty()) return std::nullopt;
      return Reply{200,
                   {{"kind", "APIResourceList"},
                    {"apiVersion", "v1"},
                    {"groupVersion", group_version},
                    {"resources", resources}}};
    }
    if (path == "/openapi/v3") {
      json paths = json::object();
      for (const auto& [group, versions] : groups) {
        for (const auto& version : versions) {
          const std::string group_version = group.empty() ? version : group + "/" + version;
          const std::string prefix = group.empty() ? "api/" : "apis/";
          const std::string hash = std::to_string(
              std::hash<std::string>{}(OpenApiDocument(group_version, TypeList()).dump()));
          paths[prefix + group_version] = {
              {"serverRelativeURL", "/openapi/v3/" + prefix + group_version + "?hash=" + hash}};
        }
      }
      return Reply{200, {{"paths", paths}}};
    }
    if (path.rfind("/openapi/v3/", 0) == 0) {
      std::string group_version = path.substr(std::string("/openapi/v3/").size());
      group_version = group_version.substr(group_version.find('/') + 1);
      json document = OpenApiDocument(group_version, TypeList());
      if (document["paths"].empty()) {
        return StatusReply(404, "NotFound", "the server could not find the requested resource");
      }
      return Reply{200, document};
    }
    if (path.rfind("/openapi/", 0) == 0) {
      return StatusReply(404, "NotFound", "the server could not find the requested resource");
    }
    return std::nullopt;
  }

  std::vector<ResourceTypePtr> TypeList() const {
    std::vector<ResourceTypePtr> list;
    for (const auto& [key, type] : types) list.push_back(type);
    return list;
  }

  std::map<std::string, std::vector<std::string>> GroupVersionsLocked() const {
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& [key, type] : types) {
      auto& versions = groups[type->group];
      if (std::find(versions.begin(), versions.end(), type->version) == versions.end()) {
        versions.push_back(type->version);
      }
    }
    return groups;
  }

  static json GroupJson(const std::string& group, const std::vector<std::string>& versions) {
    json list = json::array();
    for (const auto& version : versions) {
      list.push_back({{"groupVersion", group + "/" + version}, {"version", version}});
    }
    return {{"name", group}, {"versions", list}, {"preferredVersion", list[0]}};
  }

  // Records the request, then applies the injected delay and failures; true when the
  // request was answered here. Called once the body has been read: a failure answered
  // before that would leave the body in a keep-alive connection, to be read as the next
  // request.
  bool Intercept(const httplib::Request& req, httplib::Response& res) {
    std::chrono::milliseconds wait{0};
    std::optional<int> fail_with;
    {
      std::lock_guard lock(mu);
      std::string target = req.path;
      std::string query;
      for (const auto& [key, value] : req.params) {
        query += (query.empty() ? "?" : "&") + key + "=" + value;
      }
      if (recorded.size() == kRecordedRequests) recorded.pop_front();
      recorded.push_back({req.method, target + query, req.get_header_value("Content-Type"),
                          req.get_header_value("Accept"), req.body,
                          req.get_header_value("User-Agent")});
      wait = delay;
      for (auto& fault : faults) {
        if (fault.remaining > 0 && (fault.method.empty() || fault.method == req.method) &&
            std::regex_search(req.path, fault.path)) {
          --fault.remaining;
          fail_with = fault.http_code;
          break;
        }
      }
    }
    if (wait.count() > 0) std::this_thread::sleep_for(wait);
    if (!fail_with) return false;
    Send(StatusReply(*fail_with, ReasonForCode(*fail_with),
                     "injected failure (HTTP " + std::to_string(*fail_with) + ")"),
         res);
    if (*fail_with == 429 || *fail_with == 503) res.set_header("Retry-After", "1");
    return true;
  }
};

// ---------------------------------------------------------------------------------------

KubeApiServer::KubeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KubeApiServer::~KubeApiServer() { Stop(); }

Result<std::unique_ptr<KubeApiServer>> KubeApiServer::Start(KubeApiServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* self = impl.get();
  for (const auto& type : BuiltinResourceTypes()) self->AddTypeLocked(type);
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    const Reply reply = self->CreateLocked(*self->FindTypeLocked("v1", "namespaces"), "",
                                           {{"metadata", {{"name", ns}}}}, {});
    if (reply.code != 201) return Status::Internal("cannot create namespace " + std::string(ns));
  }
  std::unique_ptr<KubeApiServer> server(new KubeApiServer(std::move(impl)));
  for (const auto& path : self->options.crd_paths) {
    TM_ASSIGN_OR_RETURN(auto documents, LoadYamlFile(path));
    for (const auto& document : documents) {
      TM_RETURN_IF_ERROR(server->InstallCrd(document).WithContext(path));
    }
  }
  const int threads = self->options.threads;
  self->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  self->http.set_keep_alive_max_count(1000);
  self->http.set_tcp_nodelay(true);  // as Go servers do: answers go out at once
  self->http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    // Watch streams must not be gzip-buffered: clients need each event as it happens.
    if (req.get_param_value("watch") == "true" || req.get_param_value("watch") == "1") {
      const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const auto dispatch = [self](const httplib::Request& req, httplib::Response& res) {
    try {
      if (!self->Intercept(req, res)) self->Dispatch(req, res);
    } catch (const std::exception& e) {
      Impl::Send(StatusReply(500, "InternalError", std::string("internal error: ") + e.what()),
                 res);
    }
  };
  self->http.Get(".*", dispatch);
  self->http.Post(".*", dispatch);
  self->http.Put(".*", dispatch);
  self->http.Patch(".*", dispatch);
  self->http.Delete(".*", dispatch);
  if (self->options.port == 0) {
    self->port = self->http.bind_to_any_port("127.0.0.1");
  } else if (self->http.bind_to_port("127.0.0.1", self->options.port)) {
    self->port = self->options.port;
  }
  if (self->port <= 0) return Status::Unavailable("cannot bind 127.0.0.1");
  self->listener = std::thread([self] { self->http.listen_after_bind(); });
  // stop() is a no-op until the listener runs: wait, so that Stop() right away cannot hang.
  while (!self->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

void KubeApiServer::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->changed.notify_all();
  }
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

int KubeApiServer::port() const { return impl_->port; }

std::string KubeApiServer::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

std::string KubeApiServer::Kubeconfig() const {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: tidemark-test\n"
         "  cluster:\n"
         "    server: " +
         url() +
         "\n"
         "contexts:\n"
         "- name: tidemark-test\n"
         "  context:\n"
         "    cluster: tidemark-test\n"
         "    user: tidemark-test\n"
         "    namespace: default\n"
         "current-context: tidemark-test\n"
         "users:\n"
         "- name: tidemark-test\n"
         "  user: {}\n";
}

Status KubeApiServer::WriteKubeconfig(const std::string& path) const {
  std::ofstream out(path, std::ios::trunc);
  out << Kubeconfig();
  out.close();
  if (!out) return Status::Unavailable("cannot write kubeconfig " + path);
  return Status::Ok();
}

Status KubeApiServer::InstallCrd(const json& crd) {
  if (crd.value("kind", "") != "CustomResourceDefinition") {
    return Status::InvalidArgument("not a CustomResourceDefinition: kind " + crd.value("kind", ""));
  }
  std::lock_guard lock(impl_->mu);
  const auto type = impl_->FindTypeLocked("apiextensions.k8s.io/v1", "customresourcedefinitions");
  WriteOptions strict;
  strict.field_validation = "Strict";
  const Reply reply = impl_->CreateLocked(*type, "", crd, strict);
  if (reply.code != 201) {
    return Status::InvalidArgument("CRD rejected: " +
                                   reply.body.value("message", reply.body.dump()));
  }
  return Status::Ok();
}

int64_t KubeApiServer::resource_version() const {
  std::lock_guard lock(impl_->mu);
  return impl_->resource_version;
}

size_t KubeApiServer::open_watches() const {
  std::lock_guard lock(impl_->mu);
  return impl_->watch_count;
}

std::vector<RecordedRequest> KubeApiServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->recorded.begin(), impl_->recorded.end()};
}

void KubeApiServer::DropWatches() {
  std::lock_guard lock(impl_->mu);
  ++impl_->drop_generation;
  impl_->changed.notify_all();
}

void KubeApiServer::Compact() {
  std::lock_guard lock(impl_->mu);
  impl_->history.clear();
  impl_->compacted = impl_->resource_version;
  impl_->changed.notify_all();
}

void KubeApiServer::FailNextRequests(const std::string& method, const std::string& path_pattern,
                                     int count, int http_code) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.push_back({method, std::regex(path_pattern), count, http_code});
}

void KubeApiServer::SetResponseDelay(std::chrono::milliseconds delay) {
  std::lock_guard lock(impl_->mu);
  impl_->delay = delay;
}

void KubeApiServer::SendBookmarks() {
  std::lock_guard lock(impl_->mu);
  ++impl_->bookmark_generation;
  impl_->changed.notify_all();
}

}  // namespace tidemark::testing
