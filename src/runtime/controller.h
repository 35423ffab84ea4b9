// The controller loop, written once and generic over the reconciled kind, as
// controller-runtime's Controller and kube-rs's `Controller::new(..).watches(..)` are:
//
// - one primary kind, cached; a change to one of its objects queues that object's key
//   (unless the primary's EventFilter rules the event out, e.g. a write of its own status);
// - any number of watched kinds, cached too; a change to one of their objects queues the
//   primary keys that the kind's KeyMapper names ("the plans that reference this Secret"),
//   and a re-list of a watched kind queues every primary key once;
// - workers that take a key from the work queue (never one key on two workers), hand the
//   cached object to the Reconciler and carry out the Action it returns: requeue after a
//   delay, back off, or wait for a change. A key whose object is gone goes to Deleted();
//   an object being deleted (deletionTimestamp) is left alone;
// - a Reconcile that throws costs its key a back-off, never the worker: the exception is
//   logged and handed to Reconciler::Threw, and the worker goes on with the other keys.
//
// Workers start reconciling only once every cache has its first listing, so a reconcile
// never sees a referenced object as missing merely because its cache is still filling.
// Declare every kind (For, Watches) before Start(). Start and Stop are called from one
// thread; the caches, Synced() and the hooks are thread-safe. The Reconciler and the
// client must outlive the Controller.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "base/action.h"
#include "kube/client.h"
#include "runtime/kind_cache.h"
#include "runtime/watcher_event.h"
#include "runtime/work_queue.h"

namespace tidemark::runtime {

// A plain function of the cached object, level-based: it never sees the event that woke it.
// Called on worker threads, for different keys at once.
class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // `stop` is requested when the controller stops: finish the step under way, then return.
  virtual Action Reconcile(const nlohmann::json& object, std::stop_token stop) = 0;
  // The object under `key` is gone from the cache.
  virtual void Deleted(const std::string& key) { (void)key; }
  // Reconcile threw `what`: an exception no adapter turned into a Status (a bug). The
  // controller has logged it; this records it where the object's owner looks and says what
  // next. An exception from here too is logged, and the key retried with back-off.
  virtual Action Threw(const nlohmann::json& object, const std::string& what) {
    (void)object;
    (void)what;
    return Action::Error();
  }
};

// Watched object's key ("ns/name") -> the primary keys to reconcile again.
using KeyMapper = std::function<std::vector<std::string>(const std::string& key)>;
// The same with the object as its event carried it (a deleted one as it last was), for
// mappers that follow an object's owners (a Pod to its ReplicaSet to its Deployment).
using ObjectMapper =
    std::function<std::vector<std::string>(const std::string& key, const nlohmann::json& object)>;
// True for a primary event that needs no reconcile; `cached` still holds the old object.
using EventFilter = std::function<bool(const Store& cached, const WatcherEvent& event)>;

// What the controller reports as it goes (metrics); each may be empty.
struct ControllerHooks {
  std::function<void(const std::string& resource)> on_watch_restart;
  std::function<void(size_t depth)> on_queue_depth;
  std::function<void(const Action& action, double seconds)> on_reconciled;
};

struct ControllerOptions {
  std::vector<std::string> namespaces;  // one watcher per namespace; empty: the whole cluster
  int workers = 4;                      // reconciles at once (at least 1)
  WorkQueueOptions queue;
  ControllerHooks hooks;
};

class Controller {
 public:
  Controller(const kube::Client& client, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The reconciled kind. Call once. The cache lives as long as the Controller.
  KindCache& For(const kube::ResourceRef& ref, const std::string& label_selector,
                 EventFilter ignore = nullptr);
  // A kind whose objects the primary objects name (or that they own), those matching
  // `label_selector` only; the mapper is given the key, or the key and the object. The cache
  // lives as long as the Controller.
  KindCache& Watches(const kube::ResourceRef& ref, KeyMapper to_primary,
                     const std::string& label_selector = "");
  KindCache& Watches(const kube::ResourceRef& ref, ObjectMapper to_primary,
                     const std::string& label_selector = "");

  // Starts the watchers and the workers.
  void Start(Reconciler& reconciler);
  // Stops them: each worker finishes the reconcile it is in; queued keys are dropped.
  // Idempotent; a stopped Controller is not started again.
  void Stop();
  // True once every cache has its first listing (for /readyz).
  bool Synced() const;

 private:
  struct Kind {
    std::unique_ptr<KindCache> cache;
    EventFilter ignore;       // primary only
    ObjectMapper to_primary;  // watched kinds only
  };

  void Watch(Kind& kind, bool primary);
  void QueueFor(const Kind& kind, bool primary, const WatcherEvent& event,
                const std::vector<std::string>& keys);
  void Work(Reconciler& reconciler);
  void Carry(const std::string& key, Reconciler& reconciler);
  Action ReconcileCatching(const std::string& key, const nlohmann::json& object,
                           Reconciler& reconciler);
  void ReportDepth();

  const kube::Client& client_;
  const ControllerOptions options_;
  WorkQueue queue_;
  Kind primary_;
  std::vector<Kind> watched_;
  std::stop_source stop_;
  std::vector<std::jthread> threads_;  // watchers and workers; last member: joined first
};

}  // namespace tidemark::runtime
