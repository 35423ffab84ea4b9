#include "operator/controller.h"

#include <unistd.h>

#include <atomic>
#include <thread>

#include "base/log.h"
#include "http/probe_server.h"
#include "metrics/metrics.h"
#include "operator/cluster_objects.h"
#include "runtime/event_recorder.h"
#include "runtime/leader_election.h"
#include "runtime/watcher.h"
#include "runtime/work_queue.h"

namespace tidemark::op {
namespace {

using nlohmann::json;

std::string HostName() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// A plan whose generation and deletion state are those the cache holds changed only in
// status or metadata the reconciler does not read: most often this controller's own status
// writes, which would otherwise queue every plan a second time. Spec changes bump the
// generation (the status subresource guarantees it).
bool OnlyStatusChanged(const runtime::Store& store, const runtime::WatcherEvent& event) {
  if (event.type != runtime::WatcherEvent::Type::kApply) return false;
  const runtime::ObjectPtr cached = store.Get(kube::ObjectKey(event.object));
  if (!cached) return false;
  const auto spec_state = [](const json& object) {
    const json metadata = object.value("metadata", json::object());
    return std::make_pair(metadata.value("generation", int64_t{0}),
                          metadata.contains("deletionTimestamp"));
  };
  return spec_state(*cached) == spec_state(event.object);
}

// Everything that runs while this replica leads: caches, watchers and workers.
class Controllers {
 public:
  Controllers(const ControllerOptions& options, const kube::Client& client,
              metrics::Metrics& metrics, runtime::EventRecorder& events)
      : options_(options),
        client_(client),
        metrics_(metrics),
        plans_(kMigrationPlans, options.label_selector, options.namespaces),
        config_maps_(kube::resources::kConfigMaps, "", options.namespaces),
        secrets_(kube::resources::kSecrets, "", options.namespaces),
        objects_(config_maps_, secrets_),
        reconciler_(client, objects_, &events, metrics, options.reconciler) {}

  ~Controllers() { Stop(); }

  void Start() {
    Watch(
        plans_, "migrationplans",
        [this](const runtime::WatcherEvent&, const std::vector<std::string>& keys) {
          for (const std::string& key : keys) queue_.Add(key);
        },
        OnlyStatusChanged);
    Watch(config_maps_, "configmaps",
          [this](const runtime::WatcherEvent& e, const std::vector<std::string>& keys) {
            RequeueReferencing("ConfigMap", e, keys);
          });
    Watch(secrets_, "secrets",
          [this](const runtime::WatcherEvent& e, const std::vector<std::string>& keys) {
            RequeueReferencing("Secret", e, keys);
          });
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      threads_.emplace_back([this](std::stop_token stop) { Work(stop); });
    }
  }

  void Stop() {
    stop_.request_stop();
    queue_.ShutDown();  // workers finish the reconcile they are in, then return
    threads_.clear();   // joins
  }

  bool Synced() const {
    return plans_.HasSynced() && config_maps_.HasSynced() && secrets_.HasSynced();
  }

 private:
  using OnKeys = std::function<void(const runtime::WatcherEvent&, const std::vector<std::string>&)>;
  using Ignore = bool (*)(const runtime::Store&, const runtime::WatcherEvent&);

  // Keeps CACHE current; calls ON_KEYS with the keys of every event except those IGNORE
  // (evaluated before the cache takes the event) rules out.
  void Watch(KindCache& cache, const std::string& resource, OnKeys on_keys,
             Ignore ignore = nullptr) {
    for (auto& shard : cache.shards()) {
      runtime::WatcherOptions watch;
      watch.ns = shard->ns;
      watch.label_selector = cache.label_selector();
      watch.on_restart = [this, resource] { metrics_.IncWatchRestart(resource); };
      auto watcher = std::make_shared<runtime::Watcher>(client_, cache.ref(), watch);
      runtime::Store* store = &shard->store;
      threads_.emplace_back([this, watcher, store, on_keys, ignore](std::stop_token) {
        watcher->Run(
            [&](const runtime::WatcherEvent& event) {
              const bool ignored = ignore && ignore(*store, event);
              const std::vector<std::string> keys = store->Apply(event);
              if (!ignored) on_keys(event, keys);
            },
            stop_.get_token());
      });
    }
  }

  // A ConfigMap or Secret changed: reconcile the plans that name it. A whole re-list
  // requeues every plan once rather than matching each object.
  void RequeueReferencing(const std::string& kind, const runtime::WatcherEvent& event,
                          const std::vector<std::string>& keys) {
    if (event.type == runtime::WatcherEvent::Type::kInitDone) {
      for (const std::string& plan_key : plans_.Keys()) queue_.Add(plan_key);
      return;
    }
    if (event.type == runtime::WatcherEvent::Type::kInit ||
        event.type == runtime::WatcherEvent::Type::kInitApply) {
      return;
    }
    for (const std::string& key : keys) {
      const size_t slash = key.find('/');
      const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
      // A plan names objects of its own namespace only: decode just the plans there.
      const std::string prefix = ns + "/";
      for (const std::string& plan_key : plans_.Keys()) {
        if (!plan_key.starts_with(prefix)) continue;
        const runtime::ObjectPtr plan = plans_.Get(plan_key);
        if (plan && PlanReferences(*plan, kind, ns, name)) queue_.Add(plan_key);
      }
    }
  }

  void Work(std::stop_token) {
    // A plan reconciled before the caches hold its ConfigMaps and Secrets would report
    // them missing: wait for the first listings.
    while (!Synced() && !stop_.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    while (std::optional<std::string> key = queue_.Get()) {
      metrics_.SetWorkqueueDepth(static_cast<int64_t>(queue_.Len()));
      runtime::ObjectPtr plan = plans_.Get(*key);
      const size_t slash = key->find('/');
      if (!plan) {
        // Deleted: the database is left as it is; only the plan's series go.
        metrics_.ForgetPlan(key->substr(0, slash), key->substr(slash + 1));
        queue_.Forget(*key);
      } else if (plan->contains("metadata") && (*plan)["metadata"].contains("deletionTimestamp")) {
        queue_.Forget(*key);
      } else {
        const ReconcileResult result = reconciler_.Reconcile(*plan);
        if (result.next == ReconcileResult::Next::kResync) {
          queue_.Forget(*key);
          queue_.AddAfter(*key, options_.reconciler.resync);
        } else {
          queue_.AddRateLimited(*key);
        }
      }
      queue_.Done(*key);
      metrics_.SetWorkqueueDepth(static_cast<int64_t>(queue_.Len()));
    }
  }

  const ControllerOptions& options_;
  const kube::Client& client_;
  metrics::Metrics& metrics_;
  KindCache plans_;
  KindCache config_maps_;
  KindCache secrets_;
  ClusterObjects objects_;
  PlanReconciler reconciler_;
  runtime::WorkQueue queue_;
  std::stop_source stop_;
  std::vector<std::jthread> threads_;  // watchers and workers; last member: joined first
};

}  // namespace

int RunController(const ControllerOptions& options, std::stop_token stop) {
  auto config = kube::LoadConfig(options.kubeconfig);
  if (!config.ok()) {
    log::Error("no Kubernetes configuration", {{"error", config.status().message()}});
    return 2;
  }
  kube::TransportOptions transport;
  // Well below the 10 s renew deadline, so a hung renewal cannot keep a stale leader.
  transport.request_timeout = std::chrono::seconds(5);
  auto client = kube::Client::Create(*config, transport);
  if (!client.ok()) {
    log::Error("cannot create the API client", {{"error", client.status().message()}});
    return 2;
  }
  const std::string identity = options.identity.empty() ? HostName() : options.identity;
  metrics::Metrics metrics(options.version);
  runtime::EventRecorderOptions event_options;
  event_options.reporting_instance = identity;
  runtime::EventRecorder events(**client, event_options);
  Controllers controllers(options, **client, metrics, events);
  std::atomic<bool> leading{!options.leader_elect};

  auto probes = http::ProbeServer::Start(
      options.metrics_address, metrics, [] { return Status::Ok(); },
      [&]() -> Status {
        if (!leading) return Status::Ok();  // a standby replica is ready to take over
        return controllers.Synced() ? Status::Ok()
                                    : Status::Unavailable("caches are not synced yet");
      });
  if (!probes.ok()) {
    log::Error("cannot serve metrics and probes",
               {{"address", options.metrics_address}, {"error", probes.status().message()}});
    return 2;
  }
  log::Info("controller started", {{"server", config->server},
                                   {"identity", identity},
                                   {"metrics", std::to_string((*probes)->port())}});
  int exit_code = 0;
  if (!options.leader_elect) {
    controllers.Start();
    std::mutex mutex;
    std::condition_variable_any stopped;
    std::unique_lock lock(mutex);
    stopped.wait(lock, stop, [] { return false; });
  } else {
    std::stop_source lost;  // leadership lost: stop, and let Kubernetes restart us
    std::stop_callback forward(stop, [&] { lost.request_stop(); });
    runtime::LeaderElectionOptions election;
    election.lease_namespace =
        options.lease_namespace.empty() ? config->default_namespace : options.lease_namespace;
    election.lease_name = options.lease_name;
    election.identity = identity;
    election.on_started_leading = [&] {
      log::Info("became the leader", {{"identity", identity}});
      metrics.SetLeader(true);
      leading = true;
      controllers.Start();
    };
    election.on_stopped_leading = [&] {
      metrics.SetLeader(false);
      if (!stop.stop_requested()) {
        log::Warn("lost the leadership; stopping", {{"identity", identity}});
        exit_code = 1;
      }
      lost.request_stop();
    };
    if (Status valid = election.Validate(); !valid.ok()) {
      log::Error("bad leader election settings", {{"error", valid.message()}});
      return 2;
    }
    runtime::LeaderElector elector(**client, election);
    std::stop_source release;  // its own source: the lease goes only after the drain
    std::jthread election_thread([&] { elector.Run(release.get_token()); });
    std::mutex mutex;
    std::condition_variable_any stopped;
    std::unique_lock lock(mutex);
    stopped.wait(lock, lost.get_token(), [] { return false; });
    controllers.Stop();  // drain before the lease is handed over
    release.request_stop();
    election_thread.join();
  }
  controllers.Stop();
  log::Info("controller stopped", {{"identity", identity}});
  return exit_code;
}

}  // namespace tidemark::op
