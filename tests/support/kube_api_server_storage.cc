// The test API server's storage: resource types, objects and their history (the watch
// history doubles as the versions a LIST may read), namespaces, and GET and LIST.
#include <algorithm>

#include "base/base64.h"
#include "tests/support/kube_api_server_impl.h"

namespace tidemark::testing {

void KubeApiServer::Impl::AddTypeLocked(const ResourceTypePtr& type) {
  types[type->api_version() + "/" + type->plural] = type;
}

ResourceTypePtr KubeApiServer::Impl::FindTypeLocked(const std::string& api_version,
                                                    const std::string& plural) const {
  const auto it = types.find(api_version + "/" + plural);
  return it == types.end() ? nullptr : it->second;
}

ResourceTypePtr KubeApiServer::Impl::TypeOfStorageLocked(const std::string& storage) const {
  for (const auto& [key, type] : types) {
    if (type->storage == storage && type->group != "events.k8s.io") return type;
  }
  return nullptr;
}

void KubeApiServer::Impl::SyncCrdLocked(const json& crd, bool removed) {
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

json KubeApiServer::Impl::FromStorage(const ResourceType& type, json object) const {
  if (type.group == "events.k8s.io") object = RenameFields(std::move(object), true);
  // The real server defaults custom resources read from etcd too: an object stored before
  // its CRD gained a default shows it.
  if (type.custom) type.schema.ApplyDefaults(object);
  object["apiVersion"] = type.api_version();
  object["kind"] = type.kind;
  return object;
}

json KubeApiServer::Impl::ToStorage(const ResourceType& type, json object) const {
  if (type.group == "events.k8s.io") {
    object = RenameFields(std::move(object), false);
    object["apiVersion"] = "v1";
  }
  return object;
}

void KubeApiServer::Impl::RecordLocked(const std::string& storage, const std::string& event_type,
                                       const json& object, json previous) {
  IndexOwnersLocked(storage, previous, event_type == "DELETED" ? json() : object);
  if (jobs) jobs->ObserveLocked(storage, event_type, object);
  history.push_back({resource_version, storage, event_type, object, std::move(previous)});
  while (history.size() > options.watch_history) {
    compacted = history.front().resource_version;
    history.pop_front();
  }
  changed.notify_all();
}

json KubeApiServer::Impl::PutLocked(const std::string& storage, json object) {
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

json KubeApiServer::Impl::RemoveLocked(const std::string& storage, json final_state) {
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
  DeleteDependentsLocked(final_state["metadata"].value("uid", ""));
  FinishNamespaceIfEmptyLocked(final_state["metadata"].value("namespace", ""));
  return final_state;
}

void KubeApiServer::Impl::IndexOwnersLocked(const std::string& storage, const json& previous,
                                            const json& current) {
  const auto owners = [](const json& object) {
    std::set<std::string> uids;
    if (!object.is_object()) return uids;
    for (const json& ref : object["metadata"].value("ownerReferences", json::array())) {
      uids.insert(ref.value("uid", ""));
    }
    return uids;
  };
  const std::string key = ObjectKey(current.is_object() ? current : previous);
  for (const std::string& uid : owners(previous)) {
    auto it = dependents.find(uid);
    if (it == dependents.end()) continue;
    it->second.erase({storage, key});
    if (it->second.empty()) dependents.erase(it);
  }
  for (const std::string& uid : owners(current)) dependents[uid].insert({storage, key});
}

void KubeApiServer::Impl::DeleteDependentsLocked(const std::string& owner_uid) {
  const auto found = dependents.find(owner_uid);
  if (owner_uid.empty() || found == dependents.end()) return;
  const auto victims = found->second;  // each deletion changes the index
  for (const auto& [storage, key] : victims) {
    const json* object = FindLocked(storage, key);
    const auto type = TypeOfStorageLocked(storage);
    if (object && type) DeleteObjectLocked(*type, *object, false, "Background");
  }
}

void KubeApiServer::Impl::OrphanDependentsLocked(const std::string& owner_uid) {
  const auto found = dependents.find(owner_uid);
  if (owner_uid.empty() || found == dependents.end()) return;
  const auto orphans = found->second;
  for (const auto& [storage, key] : orphans) {
    const json* stored = FindLocked(storage, key);
    if (!stored) continue;
    json object = *stored;
    json& refs = object["metadata"]["ownerReferences"];
    for (auto it = refs.begin(); it != refs.end();) {
      it = it->value("uid", "") == owner_uid ? refs.erase(it) : it + 1;
    }
    if (refs.empty()) object["metadata"].erase("ownerReferences");
    PutLocked(storage, object);
  }
}

void KubeApiServer::Impl::RemoveCustomObjectsLocked(const json& crd) {
  const std::string storage =
      crd["spec"].value("group", "") + "/" + crd["spec"]["names"].value("plural", "");
  SyncCrdLocked(crd, /*removed=*/true);
  const auto slot = objects[storage];
  for (const auto& [key, object] : slot) RemoveLocked(storage, object);
}

const json* KubeApiServer::Impl::FindLocked(const std::string& storage,
                                            const std::string& key) const {
  const auto slot = objects.find(storage);
  if (slot == objects.end()) return nullptr;
  const auto it = slot->second.find(key);
  return it == slot->second.end() ? nullptr : &it->second;
}

std::map<std::string, const json*> KubeApiServer::Impl::SnapshotLocked(const std::string& storage,
                                                                       int64_t version) const {
  std::map<std::string, const json*> snapshot;
  if (auto it = objects.find(storage); it != objects.end()) {
    for (const auto& [key, object] : it->second)
      snapshot.emplace_hint(snapshot.end(), key, &object);
  }
  for (auto event = history.rbegin(); event != history.rend() && event->resource_version > version;
       ++event) {
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

std::optional<Reply> KubeApiServer::Impl::CheckNamespaceLocked(const std::string& ns) const {
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

bool KubeApiServer::Impl::NamespaceIsEmptyLocked(const std::string& ns) const {
  for (const auto& [storage, slot] : objects) {
    for (const auto& [key, object] : slot) {
      if (object["metadata"].value("namespace", "") == ns) return false;
    }
  }
  return true;
}

void KubeApiServer::Impl::FinishNamespaceIfEmptyLocked(const std::string& ns) {
  if (ns.empty()) return;
  const json* namespace_object = FindLocked("/namespaces", ObjectKey("", ns));
  if (!namespace_object || !(*namespace_object)["metadata"].contains("deletionTimestamp")) return;
  if (NamespaceIsEmptyLocked(ns)) RemoveLocked("/namespaces", *namespace_object);
}

std::optional<Reply> KubeApiServer::Impl::ParseQuery(const ResourceType& type,
                                                     const httplib::Request& req,
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

bool KubeApiServer::Impl::Matches(const Query& query, const std::string& ns,
                                  const json& object) const {
  if (!object.is_object()) return false;
  if (!ns.empty() && object["metadata"].value("namespace", "") != ns) return false;
  if (object.contains("source") && object["source"].is_object()) {
    json view = object;
    view["source"] = view["source"].value("component", "");  // the "source" field label
    return query.labels.Matches(view) && query.fields.Matches(view);
  }
  return query.labels.Matches(object) && query.fields.Matches(object);
}

Reply KubeApiServer::Impl::ExpiredReply(const std::string& message) {
  return StatusReply(410, "Expired", message);
}

Reply KubeApiServer::Impl::ListLocked(const Target& target, const httplib::Request& req) const {
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

bool KubeApiServer::Impl::WantsTable(const httplib::Request& req) {
  return req.get_header_value("Accept").find("as=Table") != std::string::npos;
}

std::string KubeApiServer::Impl::IncludeObject(const httplib::Request& req) {
  return req.has_param("includeObject") ? req.get_param_value("includeObject") : "Metadata";
}

Reply KubeApiServer::Impl::GetLocked(const Target& target, const httplib::Request& req) const {
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

}  // namespace tidemark::testing
