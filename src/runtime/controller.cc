#include "runtime/controller.h"

#include <algorithm>
#include <chrono>

#include "base/clock.h"
#include "base/log.h"
#include "runtime/watcher.h"

namespace tidemark::runtime {
namespace {

// How often an idle worker looks whether the caches have synced.
constexpr std::chrono::milliseconds kSyncPoll{20};

bool BeingDeleted(const nlohmann::json& object) {
  const auto metadata = object.find("metadata");
  return metadata != object.end() && metadata->contains("deletionTimestamp");
}

}  // namespace

Controller::Controller(const kube::Client& client, ControllerOptions options)
    : client_(client), options_(std::move(options)), queue_(options_.queue) {}

Controller::~Controller() { Stop(); }

KindCache& Controller::For(const kube::ResourceRef& ref, const std::string& label_selector,
                           EventFilter ignore) {
  primary_.cache = std::make_unique<KindCache>(ref, label_selector, options_.namespaces);
  primary_.ignore = std::move(ignore);
  return *primary_.cache;
}

KindCache& Controller::Watches(const kube::ResourceRef& ref, KeyMapper to_primary,
                               const std::string& label_selector) {
  return Watches(
      ref,
      [to_primary = std::move(to_primary)](const std::string& key, const nlohmann::json&) {
        return to_primary(key);
      },
      label_selector);
}

KindCache& Controller::Watches(const kube::ResourceRef& ref, ObjectMapper to_primary,
                               const std::string& label_selector) {
  Kind kind;
  kind.cache = std::make_unique<KindCache>(ref, label_selector, options_.namespaces);
  kind.to_primary = std::move(to_primary);
  watched_.push_back(std::move(kind));
  return *watched_.back().cache;
}

void Controller::Start(Reconciler& reconciler) {
  Watch(primary_, /*primary=*/true);
  for (Kind& kind : watched_) Watch(kind, /*primary=*/false);
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back([this, &reconciler] { Work(reconciler); });
  }
}

void Controller::Stop() {
  stop_.request_stop();
  queue_.ShutDown();  // workers finish the reconcile they are in, then return
  threads_.clear();   // joins
}

bool Controller::Synced() const {
  if (!primary_.cache || !primary_.cache->HasSynced()) return false;
  return std::all_of(watched_.begin(), watched_.end(),
                     [](const Kind& kind) { return kind.cache->HasSynced(); });
}

void Controller::Watch(Kind& kind, bool primary) {
  const std::string resource = kind.cache->ref().plural;
  for (auto& shard : kind.cache->shards()) {
    WatcherOptions watch;
    watch.ns = shard->ns;
    watch.label_selector = kind.cache->label_selector();
    watch.on_restart = [this, resource] {
      if (options_.hooks.on_watch_restart) options_.hooks.on_watch_restart(resource);
    };
    auto watcher = std::make_shared<Watcher>(client_, kind.cache->ref(), watch);
    Store* store = &shard->store;
    threads_.emplace_back([this, watcher, store, &kind, primary] {
      watcher->Run(
          [&](const WatcherEvent& event) {
            const bool ignored = primary && kind.ignore && kind.ignore(*store, event);
            const std::vector<std::string> keys = store->Apply(event);
            if (!ignored) QueueFor(kind, primary, event, keys);
          },
          stop_.get_token());
    });
  }
}

void Controller::QueueFor(const Kind& kind, bool primary, const WatcherEvent& event,
                          const std::vector<std::string>& keys) {
  if (primary) {
    for (const std::string& key : keys) queue_.Add(key);
    return;
  }
  switch (event.type) {
    case WatcherEvent::Type::kInit:
    case WatcherEvent::Type::kInitApply:
      return;  // a listing's objects count only once it is complete
    case WatcherEvent::Type::kInitDone:
      // A whole re-list: requeue every primary object once rather than map each object.
      for (const std::string& key : primary_.cache->Keys()) queue_.Add(key);
      return;
    default:
      for (const std::string& key : keys) {
        for (const std::string& primary_key : kind.to_primary(key, event.object)) {
          queue_.Add(primary_key);
        }
      }
  }
}

void Controller::Work(Reconciler& reconciler) {
  while (!Synced() && SystemClock().SleepFor(kSyncPoll, stop_.get_token())) {
  }
  while (std::optional<std::string> key = queue_.Get()) {
    ReportDepth();
    Carry(*key, reconciler);
    queue_.Done(*key);
    ReportDepth();
  }
}

// Reconciles one key and carries out the Action it asks for.
void Controller::Carry(const std::string& key, Reconciler& reconciler) {
  const ObjectPtr object = primary_.cache->Get(key);
  if (!object) {
    reconciler.Deleted(key);
    queue_.Forget(key);
    return;
  }
  if (BeingDeleted(*object)) {
    queue_.Forget(key);
    return;
  }
  const Clock& clock = *options_.queue.clock;
  const MonoTime started = clock.Now();
  const Action action = ReconcileCatching(key, *object, reconciler);
  if (options_.hooks.on_reconciled) {
    options_.hooks.on_reconciled(action,
                                 std::chrono::duration<double>(clock.Now() - started).count());
  }
  switch (action.kind()) {
    case Action::Kind::kRequeueAfter:
      queue_.Forget(key);
      queue_.AddAfter(key, action.delay());
      return;
    case Action::Kind::kBackoff:
      if (action.restarts_backoff()) queue_.Forget(key);
      queue_.AddRateLimited(key);
      return;
    case Action::Kind::kAwaitChange:
      queue_.Forget(key);
      return;
  }
}

Action Controller::ReconcileCatching(const std::string& key, const nlohmann::json& object,
                                     Reconciler& reconciler) {
  std::string what;
  try {
    return reconciler.Reconcile(object, stop_.get_token());
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  log::Error("reconcile threw an exception; retrying with back-off",
             {{"key", key}, {"error", what}});
  try {
    return reconciler.Threw(object, what);
  } catch (const std::exception& e) {
    log::Error("recording the exception threw too", {{"key", key}, {"error", e.what()}});
  } catch (...) {
    log::Error("recording the exception threw too", {{"key", key}});
  }
  return Action::Error();
}

void Controller::ReportDepth() {
  if (options_.hooks.on_queue_depth) options_.hooks.on_queue_depth(queue_.Len());
}

}  // namespace tidemark::runtime
