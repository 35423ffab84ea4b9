// What the commands share: the common flags, loading plan files, connecting, exit codes
// and printing of reports.
#pragma once

#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/action.h"
#include "cli/output.h"
#include "engine/reconcile.h"
#include "plan/model.h"
#include "resource/objects.h"

namespace tidemark::cli {

struct CommonOptions {
  std::vector<std::string> files{"."};
  std::string database;  // --database or DATABASE_URL: replaces the plan's connection
  std::string plan_name;
  std::string output = "text";
  std::string log_level = "warn";
  std::string lock_wait = "10s";
};

OutputFormat Format(const CommonOptions& common);

// Prints "error: message" on stderr; returns kExitInvalid.
int Invalid(const std::string& message);

// The plans of the files, each completed with its ConfigMaps and --database override.
struct Loaded {
  resource::LoadedFiles files;
  std::vector<plan::MigrationPlan> plans;
};
Result<Loaded> LoadPlans(const CommonOptions& common);
// The only plan; InvalidArgument asking for --plan when there are several.
Result<plan::MigrationPlan> OnePlan(const Loaded& loaded);

// Connects to the plan's database; `objects` (Secrets) must outlive the connector.
engine::Connector MakeConnector(const plan::MigrationPlan& plan, resource::ObjectSource& objects);
engine::Options BaseOptions(const CommonOptions& common);
// The child-process runner of a plan's python steps (spec.runner.command; null when the
// plan has none); its env values resolved now, so a missing one is reported before any step.
Result<std::unique_ptr<engine::StepRunner>> MakeRunner(const plan::MigrationPlan& plan,
                                                       resource::ObjectSource& objects);

// 2 for bad input, 1 for anything not done (pending counts when `pending_is_failure`).
int ExitCode(const engine::Report& report, bool pending_is_failure);
// Why a reconcile stopped, on stderr.
void PrintProblem(const engine::Report& report);
nlohmann::ordered_json StatusOf(const plan::MigrationPlan& plan, const engine::Report& report);
void PrintDocument(const nlohmann::ordered_json& document, OutputFormat format);
// Django-like progress: "  [1/3] Applying shop.0001_initial... OK (12 ms)", after the
// restore point's line.
engine::Observer ProgressPrinter(std::ostream& out);

// What `tidemark run --watch --metrics-addr` reports as it goes: the server program
// implements it with Prometheus metrics (cli/server_commands.cc).
class RunMonitor {
 public:
  virtual ~RunMonitor() = default;
  // The observer for one reconcile of `plan`: `printer`, plus step, lock-wait and back-fill
  // metrics.
  virtual engine::Observer Observe(const plan::MigrationPlan& plan, engine::Observer printer) = 0;
  // `done`: nothing left to do; `next`: what run --watch does next (plan::NextAction).
  virtual void Reconciled(const plan::MigrationPlan& plan, const engine::Report& report, bool done,
                          const Action& next, double seconds) = 0;
};

// `tidemark run [--watch]`; `monitor` may be null.
int RunReconcileAll(const CommonOptions& common, bool watch, const std::string& interval,
                    RunMonitor* monitor);

}  // namespace tidemark::cli
