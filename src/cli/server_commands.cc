#include "cli/server_commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <stop_token>

#include "base/log.h"
#include "cli/common.h"
#include "cli/version.h"
#include "http/probe_server.h"
#include "metrics/metrics.h"
#include "operator/controller.h"
#include "resource/decode.h"

namespace tidemark::cli {
namespace {

std::stop_source* shutdown_source = nullptr;

void RequestShutdown(int) {
  if (shutdown_source) shutdown_source->request_stop();
}

// The flags of `tidemark-operator operator`, and what they fill.
struct OperatorFlags {
  op::ControllerOptions controller;
  std::string resync = "10m";
  std::string lock_wait = "5s";
  std::string log_level = "info";  // the other commands default to warn
  std::string log_format = "auto";
};

void AddOperatorFlags(CLI::App& command, OperatorFlags& flags) {
  op::ControllerOptions& controller = flags.controller;
  command.add_option("--kubeconfig", controller.kubeconfig.path,
                     "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  command.add_option("--context", controller.kubeconfig.context, "kubeconfig context");
  command.add_option("--namespace", controller.namespaces,
                     "watch only these namespaces (repeatable; default: all)");
  command.add_option("--selector", controller.label_selector,
                     "watch only MigrationPlans with these labels (sharding)");
  command.add_option("--workers", controller.workers, "plans reconciled at once")
      ->capture_default_str();
  command.add_flag("--leader-elect", controller.leader_elect,
                   "elect one active replica on a coordination.k8s.io Lease");
  command
      .add_option("--lease-namespace", controller.lease_namespace,
                  "the Lease's namespace (default: the service account's)")
      ->envname("POD_NAMESPACE");
  command.add_option("--lease-name", controller.lease_name)->capture_default_str();
  // The pod's name, not its host name: a host name is cut to 63 characters, so two
  // replicas of a long-named Deployment could hold the Lease under one name.
  command
      .add_option("--identity", controller.identity,
                  "this replica's name in the Lease (default: the host name)")
      ->envname("POD_NAME");
  command
      .add_option("--metrics-addr", controller.metrics_address,
                  "serve /metrics, /healthz and /readyz here")
      ->capture_default_str();
  command
      .add_option("--db-idle-sessions", controller.reconciler.idle_sessions,
                  "database sessions kept open between reconciles (at most 2 per database; "
                  "each closes after 60 s unused)")
      ->capture_default_str();
  command.add_option("--resync", flags.resync, "look again at Ready plans this often")
      ->capture_default_str();
  command
      .add_option("--lock-wait", flags.lock_wait,
                  "wait this long for a busy ledger before requeueing")
      ->capture_default_str();
  command.add_option("--log-level", flags.log_level, "debug, info, warn or error")
      ->capture_default_str();
  command
      .add_option("--log-format", flags.log_format,
                  "json, text, or auto: text on a terminal, JSON lines otherwise")
      ->check(CLI::IsMember({"auto", "json", "text"}))
      ->capture_default_str();
}

// Checks the flags CLI11 leaves as text, then runs the controller; SIGTERM and SIGINT
// drain the workers and release the lease.
int RunOperator(OperatorFlags& flags) {
  log::Level level = log::Level::kInfo;
  if (!log::ParseLevel(flags.log_level, &level)) return Invalid("--log-level: " + flags.log_level);
  op::ControllerOptions& controller = flags.controller;
  if (!resource::ParseDuration(flags.resync, &controller.reconciler.requeue.resync))
    return Invalid("--resync: " + flags.resync);
  if (!resource::ParseDuration(flags.lock_wait, &controller.reconciler.lock_wait))
    return Invalid("--lock-wait: " + flags.lock_wait);
  const bool json_lines = flags.log_format == "json" || (flags.log_format == "auto" && !isatty(2));
  log::Init(json_lines ? log::Format::kJson : log::Format::kText, level);
  controller.version = kVersion;

  std::stop_source stop;
  shutdown_source = &stop;
  std::signal(SIGTERM, RequestShutdown);
  std::signal(SIGINT, RequestShutdown);
  return op::RunController(controller, stop.get_token());
}

std::function<int()> DeclareOperator(CLI::App& command) {
  auto flags = std::make_shared<OperatorFlags>();
  AddOperatorFlags(command, *flags);
  return [flags] { return RunOperator(*flags); };
}

// The operator's metrics for the plans of `tidemark run --watch`, and its probes.
class MetricsMonitor : public RunMonitor {
 public:
  MetricsMonitor() : metrics_(kVersion) {}

  Status Serve(const std::string& address) {
    TM_ASSIGN_OR_RETURN(
        probes_, http::ProbeServer::Start(
                     address, metrics_, [] { return Status::Ok(); }, [] { return Status::Ok(); }));
    return Status::Ok();
  }
  int port() const { return probes_->port(); }

  engine::Observer Observe(const plan::MigrationPlan& plan, engine::Observer printer) override {
    engine::Observer observer = std::move(printer);
    observer.on_step_done = [this, print = observer.on_step_done](
                                const plan::Action& action, const ledger::StepResult& result) {
      if (print) print(action, result);
      metrics_.RecordStep(action.kind, result.ok, result.duration_ms / 1000.0);
      if (result.by_runner) metrics_.RecordRunnerStep(result.ok, result.duration_ms / 1000.0);
    };
    observer.on_lock_acquired = [this](double seconds) { metrics_.ObserveLockWait(seconds); };
    observer.on_backfill_progress =
        [this, ns = plan.meta.ns, name = plan.meta.name, print = observer.on_backfill_progress](
            const plan::Action& action, const ledger::BackfillProgress& progress) {
          if (print) print(action, progress);
          metrics_.AddBackfillBatch(ns, name, action.step->id.ToString(), progress.batch_rows);
        };
    return observer;
  }

  void Reconciled(const plan::MigrationPlan& plan, const engine::Report& report, bool done,
                  const Action& next, double seconds) override {
    const plan::Outcome& outcome = report.outcome;
    metrics_.SetPlanState(plan.meta.ns, plan.meta.name,
                          static_cast<int64_t>(outcome.pending.size()), done);
    metrics_.SetDrift(plan.meta.ns, plan.meta.name,
                      static_cast<int64_t>(outcome.drift.checksum_mismatches.size()),
                      static_cast<int64_t>(outcome.drift.unknown_applied.size()));
    metrics_.RecordReconcile(next.result(), seconds);
  }

 private:
  metrics::Metrics metrics_;
  std::unique_ptr<http::ProbeServer> probes_;
};

Result<std::unique_ptr<RunMonitor>> ServeRunMetrics(const std::string& address) {
  auto monitor = std::make_unique<MetricsMonitor>();
  TM_RETURN_IF_ERROR(monitor->Serve(address));
  std::cerr << "serving /metrics on port " << monitor->port() << "\n";
  return std::unique_ptr<RunMonitor>(std::move(monitor));
}

}  // namespace

const ServerCommands kServerCommands{DeclareOperator, ServeRunMetrics};

}  // namespace tidemark::cli
