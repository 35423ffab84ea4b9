#include "tests/support/kube_api_server.h"

#include <algorithm>
#include <fstream>

#include "tests/support/kube_api_server_impl.h"
#include "tests/support/kube_protobuf.h"
#include "tests/support/kube_yaml.h"

namespace tidemark::testing {

void KubeApiServer::Impl::Send(const Reply& reply, httplib::Response& res) {
  res.status = reply.code;
  for (const auto& warning : reply.warnings) {
    res.set_header("Warning", "299 - " + json(warning).dump());
  }
  res.set_content(reply.body.dump(), "application/json");
}

std::optional<Target> KubeApiServer::Impl::ResolveLocked(const std::vector<std::string>& segments,
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
    const bool status = rest[1] == "status" && target.type->status_subresource;
    const bool log = rest[1] == "log" && target.type->storage == "/pods";
    if (!status && !log) return not_found();
    target.subresource = rest[1];
  }
  if (target.type->namespaced && target.ns.empty() && !target.name.empty()) return not_found();
  return target;
}

void KubeApiServer::Impl::Dispatch(const httplib::Request& req, httplib::Response& res) {
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
  if (target->subresource == "log") {
    ServePodLogLocked(*target, req, res);
    return;
  }
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

void KubeApiServer::Impl::ServePodLogLocked(const Target& target, const httplib::Request& req,
                                            httplib::Response& res) const {
  if (req.method != "GET") {
    Send(StatusReply(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource"),
         res);
    return;
  }
  const std::string key = ObjectKey(target.ns, target.name);
  if (!FindLocked(target.type->storage, key)) {
    Send(NotFoundReply(*target.type, target.name), res);
    return;
  }
  long tail = -1;
  if (req.has_param("tailLines")) {
    try {
      tail = std::stol(req.get_param_value("tailLines"));
    } catch (const std::exception&) {
      Send(BadRequestReply("tailLines must be a number"), res);
      return;
    }
  }
  const std::optional<std::string> log = jobs->Log(key, tail);
  if (!log) {  // a pod that never ran a container, as the kubelet answers
    Send(BadRequestReply("container in pod \"" + target.name +
                         "\" is waiting to start: CreateContainerConfigError"),
         res);
    return;
  }
  res.status = 200;
  res.set_content(*log, "text/plain");
}

std::optional<Reply> KubeApiServer::Impl::DecodeBody(const httplib::Request& req, json* body) {
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

std::optional<Reply> KubeApiServer::Impl::ServeMeta(const httplib::Request& req,
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

std::vector<ResourceTypePtr> KubeApiServer::Impl::TypeList() const {
  std::vector<ResourceTypePtr> list;
  for (const auto& [key, type] : types) list.push_back(type);
  return list;
}

std::map<std::string, std::vector<std::string>> KubeApiServer::Impl::GroupVersionsLocked() const {
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [key, type] : types) {
    auto& versions = groups[type->group];
    if (std::find(versions.begin(), versions.end(), type->version) == versions.end()) {
      versions.push_back(type->version);
    }
  }
  return groups;
}

json KubeApiServer::Impl::GroupJson(const std::string& group,
                                    const std::vector<std::string>& versions) {
  json list = json::array();
  for (const auto& version : versions) {
    list.push_back({{"groupVersion", group + "/" + version}, {"version", version}});
  }
  return {{"name", group}, {"versions", list}, {"preferredVersion", list[0]}};
}

bool KubeApiServer::Impl::Intercept(const httplib::Request& req, httplib::Response& res) {
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

KubeApiServer::KubeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KubeApiServer::~KubeApiServer() { Stop(); }

Result<std::unique_ptr<KubeApiServer>> KubeApiServer::Start(KubeApiServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* self = impl.get();
  for (const auto& type : BuiltinResourceTypes()) self->AddTypeLocked(type);
  self->jobs = std::make_unique<KubeJobRunner>(*self);
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
  impl_->jobs->Stop();  // its processes are killed: the server is going
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
