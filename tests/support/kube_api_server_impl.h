// The test API server's insides, shared by the files that implement it; tests use
// kube_api_server.h. Where each part lives:
//   kube_api_server_common.cc   small values and formats, Status replies, request options
//   kube_api_server_storage.cc  resource types, objects and their history, namespaces, reads
//   kube_api_server_writes.cc   admission, create, update, patch, apply, delete
//   kube_api_server_watch.cc    watch streams
//   kube_api_server.cc          HTTP routing, discovery, fault injection, the public API
//
// Thread-safety: one mutex, Impl::mu, guards all the server's state (types, objects,
// history, applied configurations, watch bookkeeping, recorded requests, faults, delay);
// Impl::changed, used with it, wakes the watches. Functions named ...Locked expect mu held;
// the free functions below keep no state.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/kube_api_server.h"
#include "tests/support/kube_job_runner.h"
#include "tests/support/kube_resource_types.h"
#include "tests/support/kube_selectors.h"

namespace tidemark::testing {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Small values and formats.

std::string NowTimestamp();

std::string RandomString(const char* alphabet, size_t alphabet_size, size_t length);

std::string NewUid();

bool IsDnsSubdomain(const std::string& name);
bool IsDnsLabel(const std::string& name);

// A merge patch that turns `from` into `to` (null removes a field): how a manager's
// previous and new applied configurations are reconciled by server-side apply here.
json MergeDiff(const json& from, const json& to);

// Strategic-merge-patch directives ($patch, $setElementOrder/..., $retainKeys) have no
// meaning for the built-in kinds served here (no merge-keyed lists); drop them.
void StripPatchDirectives(json& patch);

std::string ObjectKey(const std::string& ns, const std::string& name);
std::string ObjectKey(const json& object);
std::string ResourceVersionOf(const json& object);

// core/v1 Event field <-> events.k8s.io/v1 Event field, for the fields that differ.
inline const std::vector<std::pair<std::string, std::string>> kEventFieldNames = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
    {"reportingComponent", "reportingController"},
};

json RenameFields(json object, bool core_to_events);

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
                  json details = nullptr);

json Details(const ResourceType& type, const std::string& name, const std::string& kind);

Reply NotFoundReply(const ResourceType& type, const std::string& name);
Reply ConflictReply(const ResourceType& type, const std::string& name, const std::string& why);
// Protobuf is decoded only for the kinds kubectl's imperative commands create (see
// kube_protobuf.h); everything else must be JSON.
Reply UnsupportedBodyReply();
Reply BadRequestReply(const std::string& message);
Reply InvalidReply(const ResourceType& type, const std::string& name,
                   const std::vector<FieldError>& errors);
std::string ReasonForCode(int code);

// Requests.

struct Target {
  ResourceTypePtr type;
  std::string ns;  // empty: cluster-scoped type, or all namespaces
  std::string name;
  std::string subresource;  // "", "status" or (pods) "log"
};

struct WriteOptions {
  std::string field_validation;  // Strict | Warn | Ignore ("" = Warn)
  std::string field_manager;
  bool dry_run = false;
};

WriteOptions ReadWriteOptions(const httplib::Request& req);

bool BoolParam(const httplib::Request& req, const char* name);

struct HistoryEvent {
  int64_t resource_version;
  std::string storage;
  std::string type;  // ADDED | MODIFIED | DELETED
  json object;       // storage form, after the change
  json previous;     // storage form, before the change (null for ADDED)
};

inline constexpr size_t kRecordedRequests = 10000;

// metav1.ObjectMeta: any other metadata field is unknown (pruned, or refused when strict).
inline const std::set<std::string> kObjectMetaFields = {"name",
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

struct KubeApiServer::Impl {
  explicit Impl(KubeApiServerOptions opts) : options(std::move(opts)) {}

  KubeApiServerOptions options;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::atomic<bool> stopped{false};

  // mu guards every field below it; member functions named ...Locked need it held. The
  // fields above are set before serving starts (stopped is atomic, http is httplib's).
  mutable std::mutex mu;
  std::condition_variable changed;  // with mu: history grew, or watches are to be dropped
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
  // The ownerReferences of stored objects: owner uid -> (storage, key) of its dependents.
  std::map<std::string, std::set<std::pair<std::string, std::string>>> dependents;
  std::unique_ptr<KubeJobRunner> jobs;  // runs created Jobs; set before serving starts

  // --- Types (kube_api_server_storage.cc) ------------------------------------------------

  void AddTypeLocked(const ResourceTypePtr& type);

  ResourceTypePtr FindTypeLocked(const std::string& api_version, const std::string& plural) const;

  ResourceTypePtr TypeOfStorageLocked(const std::string& storage) const;

  // Serves (or stops serving) the resources of a CRD object.
  void SyncCrdLocked(const json& crd, bool removed);

  // --- Storage and history (kube_api_server_storage.cc) ----------------------------------

  json FromStorage(const ResourceType& type, json object) const;

  json ToStorage(const ResourceType& type, json object) const;

  void RecordLocked(const std::string& storage, const std::string& event_type, const json& object,
                    json previous);

  // Stores a new or changed object (storage form) under a new resourceVersion.
  json PutLocked(const std::string& storage, json object);

  // Removes an object for good; `final_state` is what DELETED watchers see. Its dependents
  // (objects whose ownerReferences name it) are then deleted, as the garbage collector
  // does in the background.
  json RemoveLocked(const std::string& storage, json final_state);

  // Keeps `dependents` in step with an object's ownerReferences (null: it is gone).
  void IndexOwnersLocked(const std::string& storage, const json& previous, const json& current);
  // Deletes (propagation Background) or orphans (drops the ownerReference of) the stored
  // dependents of the object with `owner_uid`.
  void DeleteDependentsLocked(const std::string& owner_uid);
  void OrphanDependentsLocked(const std::string& owner_uid);

  void RemoveCustomObjectsLocked(const json& crd);

  const json* FindLocked(const std::string& storage, const std::string& key) const;

  // The objects of `storage` as they were at `version` (undoing later history).
  // The objects as they were at `version`, pointing into the store and its history (valid
  // while the lock is held): a page of a big LIST must not copy every object.
  std::map<std::string, const json*> SnapshotLocked(const std::string& storage,
                                                    int64_t version) const;

  // --- Namespaces (kube_api_server_storage.cc) -------------------------------------------

  std::optional<Reply> CheckNamespaceLocked(const std::string& ns) const;

  bool NamespaceIsEmptyLocked(const std::string& ns) const;

  void FinishNamespaceIfEmptyLocked(const std::string& ns);

  // --- Admission (kube_api_server_writes.cc) ---------------------------------------------

  // Field validation (unknown fields pruned, or refused when strict), defaulting and
  // schema validation of a new object state, in the request's type (not storage form).
  std::optional<Reply> AdmitLocked(const ResourceType& type, json& object,
                                   const WriteOptions& write, std::vector<std::string>* warnings);

  // --- Writes (kube_api_server_writes.cc) ------------------------------------------------

  Reply CreateLocked(const ResourceType& type, const std::string& ns, json object,
                     const WriteOptions& write);

  static std::optional<Reply> ValidateCrd(const ResourceType& type, const json& crd);

  static json CrdStatus(const json& crd);

  // Turns `existing` into `desired` (both in the request's type): the common end of PUT,
  // PATCH and status writes.
  Reply CommitUpdateLocked(const ResourceType& type, const json& existing, json desired,
                           const WriteOptions& write, std::vector<std::string> warnings = {});

  Reply UpdateLocked(const Target& target, json body, const WriteOptions& write);

  // Whether the objects differ only in metadata and status (what leaves generation as is),
  // compared in place: objects are copied on every write already.
  static bool SameExceptMetadataAndStatus(const json& a, const json& b);

  // The new object state when `changed` is written to the main resource or to /status.
  static json Merge(const ResourceType& type, const Target& target, const json& existing,
                    const json& changed);

  Reply PatchLocked(const Target& target, const std::string& content_type, const std::string& body,
                    const WriteOptions& write);

  // Server-side apply, approximated: the manager's new configuration is merged in like
  // a three-way merge patch against the configuration it applied last time.
  Reply ApplyLocked(const Target& target, const std::string& body, const WriteOptions& write);

  // Deletes one object, honouring finalizers. `stored` is in storage form. `propagation`
  // (DeleteOptions.propagationPolicy: Orphan, Background, Foreground; "" the kind's
  // default) decides what happens to its dependents; Foreground is approximated by
  // deleting them before the owner, in the request.
  Reply DeleteObjectLocked(const ResourceType& type, json object, bool dry_run,
                           const std::string& propagation = "");

  Reply DeleteNamespaceLocked(const ResourceType& type, json object, bool dry_run);

  Reply DeleteLocked(const Target& target, const std::string& body, bool dry_run);

  // --- Reads (kube_api_server_storage.cc) ------------------------------------------------

  struct Query {
    LabelSelector labels;
    FieldSelector fields;
  };

  std::optional<Reply> ParseQuery(const ResourceType& type, const httplib::Request& req,
                                  Query* query) const;

  bool Matches(const Query& query, const std::string& ns, const json& object) const;

  static Reply ExpiredReply(const std::string& message);

  Reply ListLocked(const Target& target, const httplib::Request& req) const;

  static bool WantsTable(const httplib::Request& req);
  static std::string IncludeObject(const httplib::Request& req);

  Reply GetLocked(const Target& target, const httplib::Request& req) const;

  // --- Watch (kube_api_server_watch.cc) --------------------------------------------------

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

  bool Selects(const WatchStream& stream, const json& object) const;

  static json Bookmark(const ResourceType& type, int64_t version, bool initial_events_end);

  std::string EventLine(WatchStream& stream, const std::string& event_type, json object);

  // Starts a watch; returns the error reply when it cannot start.
  std::optional<Reply> OpenWatchLocked(const Target& target, const httplib::Request& req,
                                       WatchStream* stream);

  // One step of a watch: waits for something to send. Returns what to write, and sets
  // `close` (end the stream cleanly) or `abort` (cut the connection).
  std::string PollWatch(WatchStream& stream, bool* close, bool* abort);

  void ServeWatch(const Target& target, const httplib::Request& req, httplib::Response& res);

  // --- HTTP (kube_api_server.cc; DeleteCollectionLocked in kube_api_server_writes.cc) ---

  static void Send(const Reply& reply, httplib::Response& res);

  std::optional<Target> ResolveLocked(const std::vector<std::string>& segments, Reply* error) const;

  void Dispatch(const httplib::Request& req, httplib::Response& res);

  // GET .../pods/NAME/log (tailLines): the output the job runner kept, as text/plain.
  void ServePodLogLocked(const Target& target, const httplib::Request& req,
                         httplib::Response& res) const;

  // A POST or PUT body: JSON, or the protobuf kubectl's imperative commands send.
  static std::optional<Reply> DecodeBody(const httplib::Request& req, json* body);

  Reply DeleteCollectionLocked(const Target& target, const httplib::Request& req);

  // /version, discovery and OpenAPI; nullopt for resource paths.
  std::optional<Reply> ServeMeta(const httplib::Request& req,
                                 const std::vector<std::string>& segments);

  std::vector<ResourceTypePtr> TypeList() const;

  std::map<std::string, std::vector<std::string>> GroupVersionsLocked() const;

  static json GroupJson(const std::string& group, const std::vector<std::string>& versions);

  // Records the request, then applies the injected delay and failures; true when the
  // request was answered here. Called once the body has been read: a failure answered
  // before that would leave the body in a keep-alive connection, to be read as the next
  // request.
  bool Intercept(const httplib::Request& req, httplib::Response& res);
};

}  // namespace tidemark::testing
