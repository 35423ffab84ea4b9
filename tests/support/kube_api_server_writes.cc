// The test API server's writes: admission (pruning, defaulting, validation), create,
// update, patch, server-side apply, delete and delete-collection.
#include <algorithm>

#include "base/base64.h"
#include "tests/support/kube_api_server_impl.h"
#include "tests/support/kube_yaml.h"

namespace tidemark::testing {

std::optional<Reply> KubeApiServer::Impl::AdmitLocked(const ResourceType& type, json& object,
                                                      const WriteOptions& write,
                                                      std::vector<std::string>* warnings) {
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

Reply KubeApiServer::Impl::CreateLocked(const ResourceType& type, const std::string& ns,
                                        json object, const WriteOptions& write) {
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
  if (type.kind == "Job") DefaultNewJob(object);
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

std::optional<Reply> KubeApiServer::Impl::ValidateCrd(const ResourceType& type, const json& crd) {
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

json KubeApiServer::Impl::CrdStatus(const json& crd) {
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

Reply KubeApiServer::Impl::CommitUpdateLocked(const ResourceType& type, const json& existing,
                                              json desired, const WriteOptions& write,
                                              std::vector<std::string> warnings) {
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

Reply KubeApiServer::Impl::UpdateLocked(const Target& target, json body,
                                        const WriteOptions& write) {
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

bool KubeApiServer::Impl::SameExceptMetadataAndStatus(const json& a, const json& b) {
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

json KubeApiServer::Impl::Merge(const ResourceType& type, const Target& target,
                                const json& existing, const json& changed) {
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

Reply KubeApiServer::Impl::PatchLocked(const Target& target, const std::string& content_type,
                                       const std::string& body, const WriteOptions& write) {
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

Reply KubeApiServer::Impl::ApplyLocked(const Target& target, const std::string& body,
                                       const WriteOptions& write) {
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

Reply KubeApiServer::Impl::DeleteObjectLocked(const ResourceType& type, json object, bool dry_run,
                                              const std::string& propagation) {
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
  // batch/v1 Jobs orphan their pods unless told otherwise (kubectl asks for Background).
  const std::string policy = !propagation.empty() ? propagation
                             : type.kind == "Job" ? "Orphan"
                                                  : "Background";
  if (!dry_run) {
    const std::string uid = meta.value("uid", "");
    if (policy == "Orphan") OrphanDependentsLocked(uid);
    if (policy == "Foreground") DeleteDependentsLocked(uid);
    RemoveLocked(type.storage, object);
  }
  return {200, status};
}

Reply KubeApiServer::Impl::DeleteNamespaceLocked(const ResourceType& type, json object,
                                                 bool dry_run) {
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

Reply KubeApiServer::Impl::DeleteLocked(const Target& target, const std::string& body,
                                        bool dry_run) {
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
  const std::string propagation = delete_options.value("propagationPolicy", "");
  if (!propagation.empty() && propagation != "Orphan" && propagation != "Background" &&
      propagation != "Foreground") {
    return BadRequestReply("propagationPolicy must be Orphan, Background or Foreground, not " +
                           propagation);
  }
  return DeleteObjectLocked(type, *stored, dry_run, propagation);
}

Reply KubeApiServer::Impl::DeleteCollectionLocked(const Target& target,
                                                  const httplib::Request& req) {
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

}  // namespace tidemark::testing
