// The resource client: get, list, watch, create, replace, patch and delete Kubernetes
// objects as nlohmann::json, addressed by a ResourceRef (kube-rs's Api<DynamicObject>).
//
// Errors come back typed (kube/errors.h): NotFound, Conflict, AlreadyExists, Gone,
// Unsupported, InvalidArgument, Unavailable, DeadlineExceeded, each with the server's
// message. A Client owns its Transport; every method is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>

#include "base/status.h"
#include "kube/transport.h"
#include "kube/watch_decoder.h"

namespace tidemark::kube {

using nlohmann::json;

// Which kind of object: {"", "v1", "configmaps", true} is core ConfigMaps.
struct ResourceRef {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "configmaps"
  bool namespaced = true;

  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1/namespaces/NS/configmaps" (NS empty: every namespace, or cluster-scoped).
  std::string CollectionPath(const std::string& ns) const;
};

// The resources the runtime itself uses.
namespace resources {
inline const ResourceRef kConfigMaps{"", "v1", "configmaps", true};
inline const ResourceRef kSecrets{"", "v1", "secrets", true};
inline const ResourceRef kLeases{"coordination.k8s.io", "v1", "leases", true};
inline const ResourceRef kEvents{"events.k8s.io", "v1", "events", true};
inline const ResourceRef kJobs{"batch", "v1", "jobs", true};
inline const ResourceRef kPods{"", "v1", "pods", true};
}  // namespace resources

struct ListOptions {
  std::string label_selector;    // "app=shop,tier!=db"
  std::string field_selector;    // "metadata.name=shop"
  int64_t limit = 0;             // page size; 0: everything in one answer
  std::string continue_token;    // from the previous page
  std::string resource_version;  // "": a consistent read; "0": any cached state
  std::chrono::milliseconds timeout{60'000};
};

struct ObjectList {
  json items = json::array();
  std::string resource_version;  // the list's metadata.resourceVersion
  std::string continue_token;    // empty on the last page
};

struct WatchOptions {
  std::string resource_version;  // watch changes after this version
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  int timeout_seconds = 300;  // the server ends the stream after this long
};

enum class PatchType {
  kMerge,  // application/merge-patch+json (RFC 7386)
  kJson,   // application/json-patch+json (RFC 6902), an array of operations
};

class Client;
using ClientPtr = std::unique_ptr<Client>;

class Client {
 public:
  explicit Client(TransportPtr transport) : transport_(std::move(transport)) {}
  // Transport::Create + Client.
  static Result<ClientPtr> Create(Config config, TransportOptions options = {});

  // `ns` is ignored for cluster-scoped resources.
  Result<json> Get(const ResourceRef& ref, const std::string& ns, const std::string& name) const;
  // One page; `ns` empty lists every namespace. Every item carries apiVersion and kind.
  Result<ObjectList> List(const ResourceRef& ref, const std::string& ns,
                          const ListOptions& options = {}) const;
  // Streams events to `on_event` until the server ends the stream (OK), `on_event` returns
  // false (OK), `stop` is requested (Cancelled) or something fails. An ERROR event ends it
  // with the Status it carries: a 410 Expired is Gone, meaning re-list.
  Status Watch(const ResourceRef& ref, const std::string& ns, const WatchOptions& options,
               const std::function<bool(WatchEvent)>& on_event, std::stop_token stop) const;

  // POST; a 409 is AlreadyExists. The namespace comes from `object`'s metadata, else `ns`.
  Result<json> Create(const ResourceRef& ref, const std::string& ns, const json& object) const;
  // PUT of the whole object; it must carry metadata.resourceVersion (stale: Conflict).
  Result<json> Replace(const ResourceRef& ref, const json& object) const;
  // PUT to the /status subresource, with the same optimistic concurrency.
  Result<json> ReplaceStatus(const ResourceRef& ref, const json& object) const;
  Result<json> Patch(const ResourceRef& ref, const std::string& ns, const std::string& name,
                     PatchType type, const json& patch) const;
  // A patch of the /status subresource: only .status changes.
  Result<json> PatchStatus(const ResourceRef& ref, const std::string& ns, const std::string& name,
                           PatchType type, const json& patch) const;
  // Returns what the server answers: the object when finalizers keep it, else a Status.
  // `propagation` is DeleteOptions.propagationPolicy (Orphan, Background, Foreground); empty:
  // the kind's default (batch/v1 Jobs orphan their pods).
  Result<json> Delete(const ResourceRef& ref, const std::string& ns, const std::string& name,
                      const std::string& propagation = "") const;
  // The last `tail_lines` lines of a pod's log (GET .../pods/NAME/log, text).
  Result<std::string> PodLog(const std::string& ns, const std::string& name, int tail_lines) const;

  const Config& config() const { return transport_->config(); }

 private:
  Result<json> Call(HttpRequest request, const std::string& what, bool creating = false) const;

  const TransportPtr transport_;
};

// "ns/name", or "name" when ns is empty: the key of the stores and the work queue.
std::string ObjectKey(const json& object);
std::string ObjectKey(const std::string& ns, const std::string& name);
// metadata.resourceVersion, or "".
std::string ResourceVersionOf(const json& object);

}  // namespace tidemark::kube
