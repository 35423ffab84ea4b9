#include "cli/server_commands.h"

#include <csignal>
#include <iostream>
#include <stop_token>

#include "cli/common.h"
#include "cli/version.h"
#include "http/probe_server.h"
#include "metrics/metrics.h"
#include "operator/controller.h"

namespace tidemark::cli {
namespace {

std::stop_source* shutdown_source = nullptr;

void RequestShutdown(int) {
  if (shutdown_source) shutdown_source->request_stop();
}

// SIGTERM and SIGINT drain the workers and release the lease.
int RunOperator(const op::ControllerOptions& options) {
  std::stop_source stop;
  shutdown_source = &stop;
  std::signal(SIGTERM, RequestShutdown);
  std::signal(SIGINT, RequestShutdown);
  return op::RunController(options, stop.get_token());
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

  engine::Observer Observe(engine::Observer printer) override {
    engine::Observer observer = std::move(printer);
    observer.on_step_done = [this, print = observer.on_step_done](
                                const plan::Action& action, const ledger::StepResult& result) {
      if (print) print(action, result);
      metrics_.RecordStep(plan::ActionName(action.kind), result.ok ? "success" : "failure",
                          result.duration_ms / 1000.0);
    };
    observer.on_lock_acquired = [this](double seconds) { metrics_.ObserveLockWait(seconds); };
    return observer;
  }

  void Reconciled(const plan::MigrationPlan& plan, const engine::Report& report, bool done,
                  double seconds) override {
    const plan::Outcome& outcome = report.outcome;
    metrics_.SetPlanState(plan.meta.ns, plan.meta.name,
                          static_cast<int64_t>(outcome.pending.size()), done);
    metrics_.SetDrift(plan.meta.ns, plan.meta.name,
                      static_cast<int64_t>(outcome.drift.checksum_mismatches.size()),
                      static_cast<int64_t>(outcome.drift.unknown_applied.size()));
    metrics_.RecordReconcile(done ? "success" : "requeue", seconds);
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

const ServerCommands kServerCommands{RunOperator, ServeRunMetrics};

}  // namespace tidemark::cli
