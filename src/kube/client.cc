#include "kube/client.h"

#include <cstdio>

#include "base/text.h"
#include "kube/errors.h"

namespace tidemark::kube {
namespace {

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string Escape(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

// Appends "&key=value" (or "?key=value" first) when value is not empty.
void AddQuery(std::string* path, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  path->push_back(path->find('?') == std::string::npos ? '?' : '&');
  *path += key + "=" + Escape(value);
}

std::string ObjectPath(const ResourceRef& ref, const std::string& ns, const std::string& name) {
  return ref.CollectionPath(ref.namespaced ? ns : "") + "/" + Escape(name);
}

std::string NamespaceOf(const json& object) {
  const json metadata = object.value("metadata", json::object());
  return metadata.is_object() ? metadata.value("namespace", "") : "";
}

std::string NameOf(const json& object) {
  const json metadata = object.value("metadata", json::object());
  return metadata.is_object() ? metadata.value("name", "") : "";
}

HttpRequest NewRequest(std::string method, std::string path, std::string body = "",
                       std::string content_type = "") {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  request.content_type = std::move(content_type);
  return request;
}

const char* ContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

std::string Describe(const std::string& verb, const ResourceRef& ref, const std::string& ns,
                     const std::string& name = "") {
  std::string text = verb + " " + ref.plural;
  if (ref.namespaced && !ns.empty())
    text += " " + ns + (name.empty() ? "" : "/" + name);
  else if (!name.empty())
    text += " " + name;
  return text;
}

}  // namespace

std::string ResourceRef::CollectionPath(const std::string& ns) const {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) path += "/namespaces/" + Escape(ns);
  return path + "/" + plural;
}

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectKey(const json& object) { return ObjectKey(NamespaceOf(object), NameOf(object)); }

std::string ResourceVersionOf(const json& object) {
  const json metadata = object.value("metadata", json::object());
  return metadata.is_object() ? metadata.value("resourceVersion", "") : "";
}

Result<ClientPtr> Client::Create(Config config, TransportOptions options) {
  TM_ASSIGN_OR_RETURN(TransportPtr transport,
                      Transport::Create(std::move(config), std::move(options)));
  return std::make_unique<Client>(std::move(transport));
}

Result<json> Client::Call(HttpRequest request, const std::string& what, bool creating) const {
  TM_ASSIGN_OR_RETURN(HttpResponse response, transport_->Send(request));
  if (response.status < 200 || response.status > 299) {
    return StatusFromHttp(response.status, response.body, what, creating);
  }
  json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    return Status::Internal(what +
                            ": the server's answer is not JSON: " + Truncate(response.body, 200));
  }
  return body;
}

Result<json> Client::Get(const ResourceRef& ref, const std::string& ns,
                         const std::string& name) const {
  return Call(NewRequest("GET", ObjectPath(ref, ns, name)), Describe("get", ref, ns, name));
}

Result<ObjectList> Client::List(const ResourceRef& ref, const std::string& ns,
                                const ListOptions& options) const {
  std::string path = ref.CollectionPath(ref.namespaced ? ns : "");
  AddQuery(&path, "labelSelector", options.label_selector);
  AddQuery(&path, "fieldSelector", options.field_selector);
  if (options.limit > 0) AddQuery(&path, "limit", std::to_string(options.limit));
  AddQuery(&path, "continue", options.continue_token);
  AddQuery(&path, "resourceVersion", options.resource_version);
  HttpRequest request = NewRequest("GET", path);
  request.timeout = options.timeout;
  const std::string what = Describe("list", ref, ns);
  TM_ASSIGN_OR_RETURN(json body, Call(std::move(request), what));
  if (!body.is_object() || !body.contains("items") ||
      !(body["items"].is_array() || body["items"].is_null())) {
    return Status::Internal(what + ": the answer has no items list");
  }
  ObjectList list;
  if (body["items"].is_array()) list.items = std::move(body["items"]);
  // The API server leaves apiVersion and kind out of the items of built-in lists; fill
  // them in, as client-go's dynamic client does, so every object names its kind.
  const std::string list_kind = body.value("kind", "");
  const bool named_list = list_kind.size() > 4 && list_kind.ends_with("List");
  for (json& item : list.items) {
    if (!item.is_object()) continue;
    if (!item.contains("apiVersion")) item["apiVersion"] = ref.ApiVersion();
    if (!item.contains("kind") && named_list) {
      item["kind"] = list_kind.substr(0, list_kind.size() - 4);
    }
  }
  const json metadata = body.value("metadata", json::object());
  if (metadata.is_object()) {
    list.resource_version = metadata.value("resourceVersion", "");
    list.continue_token = metadata.value("continue", "");
  }
  return list;
}

Status Client::Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
                     const std::function<bool(WatchEvent)>& on_event, std::stop_token stop) const {
  std::string path = ref.CollectionPath(ref.namespaced ? ns : "") + "?watch=true";
  AddQuery(&path, "resourceVersion", options.resource_version);
  AddQuery(&path, "labelSelector", options.label_selector);
  AddQuery(&path, "fieldSelector", options.field_selector);
  if (options.allow_bookmarks) AddQuery(&path, "allowWatchBookmarks", "true");
  if (options.timeout_seconds > 0) {
    AddQuery(&path, "timeoutSeconds", std::to_string(options.timeout_seconds));
  }
  HttpRequest request = NewRequest("GET", path);
  // The server may stay silent until its own timeout; give it a margin past that.
  request.timeout = std::chrono::seconds(std::max(options.timeout_seconds, 0) + 30);
  const std::string what = Describe("watch", ref, ns);

  WatchDecoder decoder(what);
  Status stream_status;  // an ERROR event or a bad line
  bool consumer_stopped = false;
  std::vector<WatchEvent> events;
  const auto deliver = [&]() {
    for (WatchEvent& event : events) {
      if (!on_event(std::move(event))) {
        consumer_stopped = true;
        break;
      }
    }
    events.clear();
    return !consumer_stopped;
  };
  auto response = transport_->Stream(
      request,
      [&](std::string_view chunk) {
        stream_status = decoder.Feed(chunk, &events);
        // Events decoded before an ERROR still happened: hand them over first.
        return deliver() && stream_status.ok();
      },
      stop);
  if (!response.ok()) return response.status().WithContext(what);
  if (response->status < 200 || response->status > 299) {
    return StatusFromHttp(response->status, response->body, what);
  }
  if (!stream_status.ok() || consumer_stopped) return stream_status;
  TM_RETURN_IF_ERROR(decoder.Finish(&events));
  deliver();
  return Status::Ok();
}

Result<json> Client::Create(const ResourceRef& ref, const std::string& ns,
                            const json& object) const {
  const std::string object_ns = NamespaceOf(object).empty() ? ns : NamespaceOf(object);
  HttpRequest request = NewRequest("POST", ref.CollectionPath(ref.namespaced ? object_ns : ""),
                                   DumpJson(object), "application/json");
  return Call(std::move(request), Describe("create", ref, object_ns, NameOf(object)),
              /*creating=*/true);
}

Result<json> Client::Replace(const ResourceRef& ref, const json& object) const {
  const std::string ns = NamespaceOf(object), name = NameOf(object);
  return Call(NewRequest("PUT", ObjectPath(ref, ns, name), DumpJson(object), "application/json"),
              Describe("replace", ref, ns, name));
}

Result<json> Client::ReplaceStatus(const ResourceRef& ref, const json& object) const {
  const std::string ns = NamespaceOf(object), name = NameOf(object);
  return Call(NewRequest("PUT", ObjectPath(ref, ns, name) + "/status", DumpJson(object),
                         "application/json"),
              Describe("replace status of", ref, ns, name));
}

Result<json> Client::Patch(const ResourceRef& ref, const std::string& ns, const std::string& name,
                           PatchType type, const json& patch) const {
  return Call(NewRequest("PATCH", ObjectPath(ref, ns, name), DumpJson(patch), ContentType(type)),
              Describe("patch", ref, ns, name));
}

Result<json> Client::PatchStatus(const ResourceRef& ref, const std::string& ns,
                                 const std::string& name, PatchType type, const json& patch) const {
  return Call(NewRequest("PATCH", ObjectPath(ref, ns, name) + "/status", DumpJson(patch),
                         ContentType(type)),
              Describe("patch status of", ref, ns, name));
}

Result<json> Client::Delete(const ResourceRef& ref, const std::string& ns, const std::string& name,
                            const std::string& propagation) const {
  const std::string body = propagation.empty() ? ""
                                               : json{{"kind", "DeleteOptions"},
                                                      {"apiVersion", "v1"},
                                                      {"propagationPolicy", propagation}}
                                                     .dump();
  return Call(
      NewRequest("DELETE", ObjectPath(ref, ns, name), body, body.empty() ? "" : "application/json"),
      Describe("delete", ref, ns, name));
}

Result<std::string> Client::PodLog(const std::string& ns, const std::string& name,
                                   int tail_lines) const {
  const std::string what = Describe("get the log of", resources::kPods, ns, name);
  TM_ASSIGN_OR_RETURN(
      HttpResponse response,
      transport_->Send(NewRequest("GET", ObjectPath(resources::kPods, ns, name) +
                                             "/log?tailLines=" + std::to_string(tail_lines))));
  if (response.status < 200 || response.status > 299) {
    return StatusFromHttp(response.status, response.body, what, false);
  }
  return response.body;
}

}  // namespace tidemark::kube
