#include "operator/controller.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

#include "base/log.h"
#include "http/probe_server.h"
#include "metrics/metrics.h"
#include "operator/cluster_objects.h"
#include "operator/job_runner.h"
#include "operator/rollout_gate.h"
#include "runtime/controller.h"
#include "runtime/event_recorder.h"
#include "runtime/leader_election.h"

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

// Everything that runs while this replica leads: the MigrationPlan controller, with the
// ConfigMaps and Secrets that plans name, the runner Jobs they own, and the workloads their
// rollout gates read, as watched kinds.
class PlanController {
 public:
  PlanController(const ControllerOptions& options, const kube::Client& client,
                 metrics::Metrics& metrics, runtime::EventRecorder& events)
      : controller_(client, RuntimeOptions(options, metrics)),
        config_maps_(
            controller_.Watches(kube::resources::kConfigMaps, Naming(NamedKind::kConfigMap))),
        secrets_(controller_.Watches(kube::resources::kSecrets, Naming(NamedKind::kSecret))),
        deployments_(controller_.Watches(kDeployments, Naming(NamedKind::kDeployment))),
        stateful_sets_(controller_.Watches(kStatefulSets, Naming(NamedKind::kStatefulSet))),
        replica_sets_(controller_.Watches(kReplicaSets, ByOwner())),
        revisions_(controller_.Watches(kControllerRevisions, ByOwner())),
        pods_(controller_.Watches(kPods, ByOwner())),
        objects_(config_maps_, secrets_),
        rollouts_({deployments_, stateful_sets_, replica_sets_, revisions_, pods_}),
        sink_(client, &events),
        jobs_(client, controller_.Watches(
                          kube::resources::kJobs,
                          [this](const std::string& job_key) { return jobs_.PlansOwning(job_key); },
                          "app.kubernetes.io/managed-by=tidemark")),
        sessions_(objects_, options.reconciler),
        reconciler_(sink_, objects_, sessions_, rollouts_, index_, metrics, options.reconciler,
                    &jobs_) {
    controller_.For(kMigrationPlans, options.label_selector, OnlyStatusChanged);
  }

  void Start() { controller_.Start(reconciler_); }
  void Stop() { controller_.Stop(); }
  bool Synced() const { return controller_.Synced(); }

 private:
  static runtime::ControllerOptions RuntimeOptions(const ControllerOptions& options,
                                                   metrics::Metrics& metrics) {
    runtime::ControllerOptions runtime;
    runtime.namespaces = options.namespaces;
    runtime.workers = options.workers;
    runtime.hooks.on_watch_restart = [&metrics](const std::string& resource) {
      metrics.IncWatchRestart(resource);
    };
    runtime.hooks.on_queue_depth = [&metrics](size_t depth) {
      metrics.SetWorkqueueDepth(static_cast<int64_t>(depth));
    };
    runtime.hooks.on_reconciled = [&metrics](const Action& action, double seconds) {
      metrics.RecordReconcile(action.result(), seconds);
    };
    return runtime;
  }

  // The plans that name a changed ConfigMap, Secret or workload, as their last decode said.
  runtime::KeyMapper Naming(NamedKind kind) {
    return [this, kind](const std::string& key) { return index_.PlansNaming(kind, key); };
  }
  // The plans whose rollout gate reads a changed ReplicaSet, ControllerRevision or Pod.
  runtime::ObjectMapper ByOwner() {
    return [this](const std::string&, const json& object) {
      return PlansWaitingOnOwner(index_, replica_sets_, object);
    };
  }

  PlanIndex index_;  // before the controller, whose watches read it until they stop
  runtime::Controller controller_;
  runtime::KindCache& config_maps_;
  runtime::KindCache& secrets_;
  // What spec.rollout's gate reads (operator/rollout_gate.h).
  runtime::KindCache& deployments_;
  runtime::KindCache& stateful_sets_;
  runtime::KindCache& replica_sets_;
  runtime::KindCache& revisions_;
  runtime::KindCache& pods_;
  ClusterObjects objects_;
  CachedRollouts rollouts_;
  ClusterSink sink_;
  JobControl jobs_;  // the runner Jobs plans own, watched: a change re-queues the owner
  PooledSessions sessions_;
  PlanReconciler reconciler_;
};

// Blocks until `stop` is requested.
void WaitForStop(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any stopped;
  std::unique_lock lock(mutex);
  stopped.wait(lock, stop, [] { return false; });
}

// Runs the controllers while this replica holds the Lease; returns the exit code once `stop`
// is requested (0) or the leadership is lost (1: Kubernetes restarts the pod), after the
// controllers drained and before the Lease is released.
int RunWhileLeading(const ControllerOptions& options, const kube::Client& client,
                    const std::string& lease_namespace, const std::string& identity,
                    metrics::Metrics& metrics, PlanController& controllers,
                    std::atomic<bool>& leading, std::stop_token stop) {
  int exit_code = 0;
  std::stop_source lost;  // leadership lost, or stop: drain and return
  std::stop_callback forward(stop, [&] { lost.request_stop(); });
  runtime::LeaderElectionOptions election;
  election.lease_namespace = lease_namespace;
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
  runtime::LeaderElector elector(client, election);
  std::stop_source release;  // its own source: the lease goes only after the drain
  std::jthread election_thread([&] { elector.Run(release.get_token()); });
  WaitForStop(lost.get_token());
  controllers.Stop();  // drain before the lease is handed over
  release.request_stop();
  election_thread.join();
  return exit_code;
}

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
  PlanController controllers(options, **client, metrics, events);
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
  if (options.leader_elect) {
    const std::string lease_namespace =
        options.lease_namespace.empty() ? config->default_namespace : options.lease_namespace;
    exit_code = RunWhileLeading(options, **client, lease_namespace, identity, metrics, controllers,
                                leading, stop);
  } else {
    controllers.Start();
    WaitForStop(stop);
  }
  controllers.Stop();
  log::Info("controller stopped", {{"identity", identity}});
  return exit_code;
}

}  // namespace tidemark::op
