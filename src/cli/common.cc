#include "cli/common.h"

#include <iostream>

#include "base/text.h"
#include "cli/commands.h"
#include "cli/process_runner.h"
#include "plan/approval.h"
#include "plan/graph.h"
#include "postgres/connection.h"
#include "postgres/pg_store.h"
#include "resource/decode.h"
#include "resource/status_codec.h"

namespace tidemark::cli {

OutputFormat Format(const CommonOptions& common) {
  if (common.output == "json") return OutputFormat::kJson;
  if (common.output == "yaml") return OutputFormat::kYaml;
  return OutputFormat::kText;
}

int Invalid(const std::string& message) {
  std::cerr << "error: " << Printable(message, kMaxMessage) << "\n";
  return kExitInvalid;
}

Result<Loaded> LoadPlans(const CommonOptions& common) {
  TM_ASSIGN_OR_RETURN(resource::LoadedFiles files, resource::LoadFiles(common.files));
  Loaded loaded;
  loaded.files = std::move(files);
  for (plan::MigrationPlan& plan : loaded.files.plans) {
    if (!common.plan_name.empty() && plan.meta.name != common.plan_name) continue;
    TM_RETURN_IF_ERROR(
        resource::CompletePlan(&plan, loaded.files).WithContext("plan " + plan.Key()));
    if (auto problem = plan::Validate(plan)) {
      return Status::InvalidArgument("plan " + plan.Key() + ": " +
                                     plan::ReasonName(problem->reason) + ": " + problem->message);
    }
    if (!common.database.empty()) {
      const std::string schema = plan.database.schema;
      plan.database = plan::DatabaseSpec{};
      plan.database.dsn.literal = common.database;
      plan.database.schema = schema;
    }
    loaded.plans.push_back(plan);
  }
  if (loaded.plans.empty()) {
    std::string where;
    for (const auto& f : common.files) where += (where.empty() ? "" : ", ") + f;
    return Status::InvalidArgument(
        common.plan_name.empty()
            ? "no MigrationPlan found in " + where + "; pass plan files with -f"
            : "no MigrationPlan named " + common.plan_name + " in " + where);
  }
  return loaded;
}

Result<plan::MigrationPlan> OnePlan(const Loaded& loaded) {
  if (loaded.plans.size() > 1) {
    std::string names;
    for (const auto& p : loaded.plans) names += (names.empty() ? "" : ", ") + p.meta.name;
    return Status::InvalidArgument("the files hold several plans (" + names +
                                   "); choose one with --plan NAME");
  }
  return loaded.plans.front();
}

engine::Connector MakeConnector(const plan::MigrationPlan& plan, resource::ObjectSource& objects) {
  return [&plan, &objects]() -> Result<ledger::StorePtr> {
    TM_ASSIGN_OR_RETURN(postgres::ConnectionParams params,
                        postgres::ResolveConnection(plan.database, plan.meta.ns, objects,
                                                    /*allow_local_sources=*/true));
    postgres::ConnectOptions options;
    options.schema = plan.database.schema;
    options.ledger = plan.ledger;
    return postgres::Connect(params, options);
  };
}

// Exit code of a reconcile: 2 for bad input, 1 for anything not done, else 0.
int ExitCode(const engine::Report& report, bool pending_is_failure) {
  const plan::Outcome& out = report.outcome;
  if (out.stalled) return plan::IsInvalidInput(out.stalled->reason) ? kExitInvalid : kExitPending;
  if (out.progressing) return kExitPending;
  if (pending_is_failure && !out.pending.empty()) return kExitPending;
  return kExitOk;
}

// Says why a reconcile stopped, on stderr, as a person needs it.
void PrintProblem(const engine::Report& report) {
  const plan::Outcome& out = report.outcome;
  if (out.stalled)
    std::cerr << "error: " << plan::ReasonName(out.stalled->reason) << ": "
              << Printable(out.stalled->message, kMaxMessage) << "\n";
  if (out.progressing) {
    std::cerr << "not done: " << plan::ReasonName(out.progressing->reason) << ": "
              << Printable(out.progressing->message, kMaxMessage) << "\n";
  }
  if (out.idle_reason == plan::Reason::kWaitingForApproval && out.approval) {
    std::cerr << "not done: " << plan::ReasonName(*out.idle_reason) << ": "
              << Printable(plan::DescribeApproval(*out.approval), kMaxMessage) << "\n";
  }
}

nlohmann::ordered_json StatusOf(const plan::MigrationPlan& plan, const engine::Report& report) {
  return resource::StatusToJson(
      plan::ComputeStatus(report.outcome, plan.meta.generation, {}, engine::NowRfc3339()));
}

void PrintDocument(const nlohmann::ordered_json& document, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    std::cout << DumpJson(document, 2) << "\n";
  } else {
    std::cout << ToYaml(document);
  }
}

engine::Options BaseOptions(const CommonOptions& common) {
  engine::Options options;
  resource::ParseDuration(common.lock_wait, &options.lock_wait);
  return options;
}

Result<std::unique_ptr<engine::StepRunner>> MakeRunner(const plan::MigrationPlan& plan,
                                                       resource::ObjectSource& objects) {
  if (!plan.runner || plan.runner->command.empty()) return std::unique_ptr<engine::StepRunner>();
  TM_ASSIGN_OR_RETURN(std::unique_ptr<ProcessRunner> runner, ProcessRunner::Make(plan, objects));
  return std::unique_ptr<engine::StepRunner>(std::move(runner));
}

namespace {

// "20,000 rows in 20 batches, 9,512 rows/s".
std::string BackfillCounts(const ledger::BackfillProgress& progress) {
  return ledger::RowsInBatches(progress) + ", " +
         GroupThousands(static_cast<size_t>(progress.RowsPerSecond())) + " rows/s";
}

}  // namespace

// Django-like progress lines: "  Applying shop.0001_initial... OK (12 ms)".
engine::Observer ProgressPrinter(std::ostream& out) {
  engine::Observer observer;
  observer.on_step_start = [&out](const plan::Action& action, size_t index, size_t count) {
    const char* verb = action.kind == plan::ActionKind::kRevert ? "Reverting"
                       : action.kind == plan::ActionKind::kFake ? "Faking"
                                                                : "Applying";
    out << "  [" << index + 1 << "/" << count << "] " << verb << " " << action.step->id.ToString()
        << "..." << std::flush;
  };
  observer.on_restore_point = [&out](const plan::RestorePoint& point) {
    out << "  Restore point before the first change: " << point.at << ", WAL " << point.wal_lsn
        << "\n"
        << std::flush;
  };
  observer.on_step_blocked = [&out](const plan::Action&,
                                    const std::vector<ledger::Blocker>& blockers) {
    out << "\n    waiting for a lock held by " << ledger::DescribeBlockers(blockers) << std::flush;
  };
  // A back-fill's counts on a line of their own: its first batch, then at most one a second.
  auto shown = std::make_shared<std::optional<std::chrono::steady_clock::time_point>>();
  observer.on_backfill_progress = [&out, shown](const plan::Action&,
                                                const ledger::BackfillProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    if (*shown && now - **shown < std::chrono::seconds(1)) return;
    *shown = now;
    out << "\n    back-fill: " << BackfillCounts(progress) << std::flush;
  };
  observer.on_step_done = [&out, shown](const plan::Action& action,
                                        const ledger::StepResult& result) {
    if (result.backfill) {
      for (const std::string& note : result.notes) {
        out << "\n    " << Printable(note, kMaxMessage);  // an earlier run's counts taken up
      }
      out << "\n    back-fill " << (result.ok ? "done" : "stopped") << ": "
          << BackfillCounts(*result.backfill) << "\n   ";
      shown->reset();
    }
    if (result.ok) {
      out << " OK (" << static_cast<int64_t>(result.duration_ms + 0.5) << " ms)";
      if (result.by_runner) {
        out << " - run by spec.runner";
      } else if (action.step->python && action.kind != plan::ActionKind::kFake) {
        // Only pythonSteps: RecordOnly lets tidemark run a python step: say what did not run.
        out << " - SQL only: its Python code (RunPython) was not run";
      }
      out << "\n";
    } else {
      out << " FAILED\n";
    }
    out << std::flush;
  };
  return observer;
}

}  // namespace tidemark::cli
