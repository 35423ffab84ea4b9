// An in-process Kubernetes API server for tests: kubectl and tidemark talk to it over
// HTTP on 127.0.0.1 exactly as they would to kube-apiserver (/work/shared/KUBE_API.md
// lists the behaviour it follows). It serves discovery, OpenAPI v3, tables with printer
// columns, and CRUD + watch for:
//   - custom resources of the CRDs it is given (or that clients create), validated,
//     pruned and defaulted with the CRD's structural schema;
//   - core/v1 Namespaces, ConfigMaps, Secrets, Events, Pods (with pods/log); events.k8s.io/v1
//     Events (the same objects as core/v1 Events, converted); coordination.k8s.io/v1 Leases;
//     batch/v1 Jobs; apiextensions.k8s.io/v1 CustomResourceDefinitions; apps/v1
//     Deployments, StatefulSets, ReplicaSets and ControllerRevisions as stored objects (no
//     controller runs for them: a test writes their status as the real controllers would).
// The one simulated part: no kubelet or Job controller runs here, so a job runner
// (kube_job_runner.h) runs each created Job's first container command on this machine and
// writes its Pod and the Job's status as they would.
// Semantics: one global resourceVersion counter, a bounded watch history (older versions
// answer 410 Expired), consistent paginated lists, generation, status subresource,
// finalizers, garbage collection of dependents (ownerReferences: a removed owner's
// dependents are deleted, or orphaned with propagationPolicy Orphan, the batch/v1 Jobs'
// default; Foreground deletes them before the owner, in the request), optimistic
// concurrency, merge/JSON/apply patches (strategic merge patch only for built-in kinds, 415
// for custom resources), strict/warn field validation.
//
// Approximations: server-side apply merges a manager's applied configuration like a
// three-way merge patch (no managedFields, no conflicts); a strategic merge patch on a
// built-in kind is applied as a merge patch (none of them has merge-keyed lists); protobuf
// request bodies are decoded only for Namespaces, ConfigMaps and Secrets (what
// `kubectl create` sends); built-in kinds are not schema-validated; namespace deletion
// happens in the request, with no namespace controller; no authentication, authorization
// or admission webhooks. The program tidemark-test-apiserver (kube_api_server_main.cc)
// serves the same for demos and end-to-end tests.
//
// Thread-safety: every public method may be called from any thread while requests are
// served. The server owns its state; Stop() (or the destructor) ends open watches and
// joins the serving threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/base/status.h"

namespace tidemark::testing {

struct KubeApiServerOptions {
  int port = 0;                        // 0: any free port on 127.0.0.1
  std::vector<std::string> crd_paths;  // CRD YAML files installed before serving
  size_t watch_history = 1000;         // events kept for watches; older versions expire (410)
  // Watches that allow bookmarks get one this often (kube-apiserver: about a minute).
  std::chrono::milliseconds bookmark_interval{5000};
  // Watches without timeoutSeconds end after this (kube-apiserver: 30 to 60 minutes).
  std::chrono::seconds default_watch_timeout{1800};
  int threads = 128;  // open watches each hold one
};

// One request as the server received it, for tests that check what a client sent.
struct RecordedRequest {
  std::string method;
  std::string target;  // path and query, e.g. "/api/v1/namespaces/default/configmaps?limit=500"
  std::string content_type;
  std::string accept;
  std::string body;
  std::string user_agent;  // "tidemark" for the controller, "kubectl/..." for kubectl
};

class KubeApiServer {
 public:
  // Binds 127.0.0.1, installs the CRDs and serves from background threads.
  static Result<std::unique_ptr<KubeApiServer>> Start(KubeApiServerOptions options = {});
  ~KubeApiServer();
  KubeApiServer(const KubeApiServer&) = delete;
  KubeApiServer& operator=(const KubeApiServer&) = delete;

  // Ends every watch and stops serving; idempotent.
  void Stop();

  int port() const;
  std::string url() const;  // "http://127.0.0.1:PORT"
  // A kubeconfig (YAML) whose current context points here without authentication.
  std::string Kubeconfig() const;
  Status WriteKubeconfig(const std::string& path) const;

  // Installs a CRD object (as `kubectl apply` of it would); its resource is served at once.
  Status InstallCrd(const nlohmann::json& crd);
  // The current value of the global resourceVersion counter.
  int64_t resource_version() const;
  size_t open_watches() const;
  // The most recent requests (up to 10000), oldest first.
  std::vector<RecordedRequest> requests() const;

  // --- Fault injection -------------------------------------------------------------
  // Closes every open watch stream at once, without a final event (a restarting server).
  void DropWatches();
  // Compaction: every resourceVersion older than the current one expires, so a watch or
  // a list `continue` from one gets 410 Expired.
  void Compact();
  // The next `count` requests whose method equals `method` ("" for any) and whose path
  // matches the ECMAScript regex `path_pattern` answer `http_code` (409, 429, 500, 503...)
  // with a Status, without being served.
  void FailNextRequests(const std::string& method, const std::string& path_pattern, int count,
                        int http_code);
  // Every response waits this long before it is served (0 turns the delay off).
  void SetResponseDelay(std::chrono::milliseconds delay);
  // Every open watch that allows bookmarks gets a BOOKMARK now.
  void SendBookmarks();

 private:
  friend class KubeJobRunner;  // runs Jobs against the stored objects
  struct Impl;
  explicit KubeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemark::testing
