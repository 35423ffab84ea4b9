#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "base/log.h"
#include "cli/common.h"
#include "cli/output.h"
#include "cli/version.h"
#include "engine/reconcile.h"
#include "postgres/pg_store.h"
#include "resource/decode.h"
#include "resource/objects.h"
#include "sql/lint.h"

namespace tidemark::cli {
namespace {

struct ApplyOptions {
  std::vector<std::string> targets;
  bool fake = false;
  bool fake_initial = false;
  bool dry_run = false;
  bool allow_revert = false;
};

int RunStatus(const CommonOptions& common, bool as_plan) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto plan = OnePlan(*loaded);
  if (!plan.ok()) return Invalid(plan.status().message());
  engine::Options options = BaseOptions(common);
  options.execute = false;
  const engine::Report report =
      engine::Reconcile(*plan, MakeConnector(*plan, loaded->files), options);
  const OutputFormat format = Format(common);
  if (format != OutputFormat::kText) {
    PrintDocument(ReportJson(*plan, report, StatusOf(*plan, report)), format);
  } else if (as_plan) {
    std::cout << "Planned operations:\n";
    if (report.outcome.pending.empty() && report.ledger_read) {
      std::cout << "  No planned migration operations.\n";
    }
    for (const plan::PendingAction& action : report.outcome.pending) {
      std::cout << "  " << action.action << " " << action.migration.ToString() << "\n";
    }
  } else {
    std::cout << ShowSteps(report);
  }
  PrintProblem(report);
  if (!report.ledger_read) return std::max(ExitCode(report, false), kExitPending);
  return ExitCode(report, false) == kExitInvalid ? kExitInvalid : kExitOk;
}

int RunCheck(const CommonOptions& common) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  int worst = kExitOk;
  for (const plan::MigrationPlan& plan : loaded->plans) {
    engine::Options options = BaseOptions(common);
    options.execute = false;
    const engine::Report report =
        engine::Reconcile(plan, MakeConnector(plan, loaded->files), options);
    const OutputFormat format = Format(common);
    if (format != OutputFormat::kText) {
      PrintDocument(ReportJson(plan, report, StatusOf(plan, report)), format);
    } else if (report.ledger_read) {
      std::cout << plan.Key() << ": " << report.outcome.pending.size() << " pending\n";
      for (const auto& action : report.outcome.pending) {
        std::cout << "  " << action.action << " " << action.migration.ToString() << "\n";
      }
    }
    PrintProblem(report);
    const int code = ExitCode(report, /*pending_is_failure=*/true);
    worst = std::max(worst, report.ledger_read ? code : std::max(code, kExitPending));
  }
  return worst;
}

int RunApply(const CommonOptions& common, const ApplyOptions& apply) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto chosen = OnePlan(*loaded);
  if (!chosen.ok()) return Invalid(chosen.status().message());
  plan::MigrationPlan plan = *chosen;
  for (const std::string& text : apply.targets) {
    auto id = plan::ParseStepId(text);
    if (!id) return Invalid("--target " + text + ": write app.migration or app.zero");
    plan.targets.erase(std::remove_if(plan.targets.begin(), plan.targets.end(),
                                      [&](const plan::Target& t) { return t.app == id->app; }),
                       plan.targets.end());
    plan.targets.push_back({id->app, id->name});
  }
  engine::Options options = BaseOptions(common);
  options.dry_run = apply.dry_run;
  options.fake_all = apply.fake;
  options.fake_initial = apply.fake_initial;
  options.allow_revert = apply.allow_revert;
  const OutputFormat format = Format(common);
  std::ostream& progress = format == OutputFormat::kText ? std::cout : std::cerr;
  progress << "Running migrations for plan " << plan.Key() << ":\n" << std::flush;
  const engine::Report report = engine::Reconcile(plan, MakeConnector(plan, loaded->files), options,
                                                  ProgressPrinter(progress));
  if (format != OutputFormat::kText) {
    PrintDocument(ReportJson(plan, report, StatusOf(plan, report)), format);
  } else if (report.ledger_read && report.done.empty() && report.outcome.pending.empty()) {
    std::cout << "  No migrations to apply.\n";
  } else if (report.outcome.idle_reason == plan::Reason::kDryRun) {
    std::cout << "  Dry run: nothing executed. Planned:\n";
    for (const auto& action : report.outcome.pending) {
      std::cout << "    " << action.action << " " << action.migration.ToString() << "\n";
    }
  }
  for (const plan::LintFinding& finding : report.outcome.lint) {
    std::cerr << "lint " << plan::SeverityName(finding.severity) << ": "
              << finding.migration.ToString() << ": " << finding.message << " [" << finding.rule
              << "]\n";
  }
  PrintProblem(report);
  return ExitCode(report, !apply.dry_run);
}

int RunSql(const CommonOptions& common, const std::string& migration, bool backwards) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto plan = OnePlan(*loaded);
  if (!plan.ok()) return Invalid(plan.status().message());
  auto id = plan::ParseStepId(migration);
  if (!id) return Invalid(migration + ": write app.migration, e.g. shop.0001_initial");
  for (const plan::Step& step : plan->migrations) {
    if (step.id != *id) continue;
    if (backwards && !step.backward) {
      return Invalid("step " + migration + " is irreversible: it has no backward SQL");
    }
    auto statements = engine::StepStatements(step, !backwards);
    if (!statements.ok()) return Invalid(statements.status().message());
    if (Format(common) == OutputFormat::kJson) {
      std::cout << nlohmann::json({{"migration", migration},
                                   {"atomic", step.atomic},
                                   {"statements", *statements}})
                       .dump(2)
                << "\n";
      return kExitOk;
    }
    if (step.atomic) std::cout << "BEGIN;\n";
    if (step.python)
      std::cout << "--\n-- Python code (RunPython) here cannot be shown as SQL\n--\n";
    for (const std::string& statement : *statements) std::cout << statement << ";\n";
    if (step.atomic) std::cout << "COMMIT;\n";
    return kExitOk;
  }
  return Invalid("no step " + migration + " in plan " + plan->Key());
}

int RunLint(const CommonOptions& common) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  int exit_code = kExitOk;
  nlohmann::ordered_json findings_json = nlohmann::ordered_json::array();
  for (const plan::MigrationPlan& plan : loaded->plans) {
    std::vector<const plan::Step*> steps;
    for (const plan::Step& step : plan.migrations) steps.push_back(&step);
    for (const plan::LintFinding& finding : engine::LintSteps(steps)) {
      if (finding.severity == plan::Severity::kError) exit_code = kExitPending;
      if (Format(common) == OutputFormat::kText) {
        std::cout << finding.migration.ToString() << ": " << plan::SeverityName(finding.severity)
                  << ": " << finding.message << " [" << finding.rule << "]\n";
      } else {
        findings_json.push_back({{"plan", plan.Key()},
                                 {"migration", finding.migration.ToString()},
                                 {"rule", finding.rule},
                                 {"severity", plan::SeverityName(finding.severity)},
                                 {"message", finding.message}});
      }
    }
  }
  if (Format(common) != OutputFormat::kText) PrintDocument(findings_json, Format(common));
  return exit_code;
}

int RunResolve(const CommonOptions& common, const std::string& migration,
               const std::string& state) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto plan = OnePlan(*loaded);
  if (!plan.ok()) return Invalid(plan.status().message());
  auto id = plan::ParseStepId(migration);
  if (!id) return Invalid(migration + ": write app.migration");
  if (state != "applied" && state != "unapplied") return Invalid("--state: applied or unapplied");
  engine::Options options = BaseOptions(common);
  Result<bool> resolved = engine::ResolveDirty(*plan, MakeConnector(*plan, loaded->files), *id,
                                               state == "applied", options.lock_wait);
  if (!resolved.ok()) {
    std::cerr << "error: " << resolved.status().message() << "\n";
    return resolved.status().code() == StatusCode::kInvalidArgument ? kExitInvalid : kExitPending;
  }
  std::cout << "step " << migration
            << (*resolved ? " resolved as " + state
                          : std::string(" is not dirty; nothing to resolve"))
            << "\n";
  return kExitOk;
}

// Replaces this process with tidemark-operator from this program's folder, same arguments.
int HandToServerProgram(char** argv) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  const std::string program = (self.parent_path() / "tidemark-operator").string();
  execv(program.c_str(), argv);
  return Invalid("this command runs in " + program + ", which could not be started (" +
                 std::strerror(errno) + "): install tidemark-operator beside tidemark");
}

}  // namespace

int Main(int argc, char** argv, const ServerCommands* server) {
  // tidemark-operator has every command of tidemark; its help gives its own name.
  const std::string program = server != nullptr ? "tidemark-operator" : "tidemark";
  CLI::App app{program + ": declarative database migrations (Django's ledger, PostgreSQL)",
               program};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(kVersion));
  CommonOptions common;
  if (const char* url = std::getenv("DATABASE_URL")) common.database = url;
  auto add_common = [&common](CLI::App* command) {
    command
        ->add_option("-f,--file", common.files,
                     "plan files or folders (YAML/JSON; many documents allowed)")
        ->capture_default_str();
    command->add_option("--database", common.database,
                        "libpq DSN or URI; replaces the plan's database (env DATABASE_URL)");
    command->add_option("--plan", common.plan_name, "the plan to use when the files hold several");
    command->add_option("-o,--output", common.output, "text, json or yaml")
        ->check(CLI::IsMember({"text", "json", "yaml"}))
        ->capture_default_str();
    command
        ->add_option("--lock-wait", common.lock_wait,
                     "how long to wait for another run's migration lock")
        ->capture_default_str();
    command->add_option("--log-level", common.log_level, "debug, info, warn or error")
        ->capture_default_str();
  };

  auto* status =
      app.add_subcommand("status", "list steps as applied [X] or not [ ] (showmigrations)");
  add_common(status);
  auto* plan_command = app.add_subcommand("plan", "list what apply would do (migrate --plan)");
  add_common(plan_command);

  std::string migration;
  bool backwards = false;
  auto* sql = app.add_subcommand("sql", "print a step's SQL (sqlmigrate)");
  add_common(sql);
  sql->add_option("migration", migration, "app.migration")->required();
  sql->add_flag("--backwards", backwards, "the SQL that reverts the step");

  ApplyOptions apply;
  auto* apply_command =
      app.add_subcommand("apply", "apply and revert steps to reach the targets (migrate)");
  add_common(apply_command);
  apply_command->add_option("--target", apply.targets,
                            "app.migration or app.zero; replaces the plan's target for that app");
  apply_command->add_flag("--fake", apply.fake, "record the actions without running their SQL");
  apply_command->add_flag("--fake-initial", apply.fake_initial,
                          "record initial steps whose tables all exist");
  apply_command->add_flag("--dry-run", apply.dry_run, "show the actions, execute nothing");
  apply_command->add_flag("--allow-revert", apply.allow_revert,
                          "permit reverting applied steps (policy.revert: Allow)");

  auto* check = app.add_subcommand("check", "exit 1 when anything is pending (migrate --check)");
  add_common(check);
  auto* lint =
      app.add_subcommand("lint", "report SQL that takes long locks or breaks running code");
  add_common(lint);

  std::string state;
  auto* resolve = app.add_subcommand("resolve", "mark a dirty non-atomic step as resolved");
  add_common(resolve);
  resolve->add_option("migration", migration, "app.migration")->required();
  resolve->add_option("--state", state, "applied or unapplied")->required();

  bool watch = false;
  std::string interval = "2s";
  auto* run = app.add_subcommand("run", "reconcile every plan of the files, print their status");
  add_common(run);
  run->add_flag("--watch", watch, "keep reconciling as the files change");
  run->add_option("--interval", interval, "with --watch: how often to look for changes")
      ->capture_default_str();
  std::string run_metrics_address;
  run->add_option("--metrics-addr", run_metrics_address,
                  "with --watch: serve /metrics, /healthz and /readyz here (e.g. :9090)");

  auto* operator_command =
      app.add_subcommand("operator", "run the Kubernetes controller for MigrationPlans");
  std::function<int()> run_operator;
  if (server != nullptr) {
    run_operator = server->declare_operator(*operator_command);
  } else {
    // Its arguments, --help included, are tidemark-operator's to parse: taken as they are.
    operator_command->prefix_command()->set_help_flag();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitInvalid;
  }
  log::Level level = log::Level::kWarn;
  if (!log::ParseLevel(common.log_level, &level))
    return Invalid("--log-level: " + common.log_level);
  log::Init(log::Format::kText, level);
  std::chrono::milliseconds ignored;
  if (!resource::ParseDuration(common.lock_wait, &ignored))
    return Invalid("--lock-wait: " + common.lock_wait);

  if (*status) return RunStatus(common, false);
  if (*plan_command) return RunStatus(common, true);
  if (*sql) return RunSql(common, migration, backwards);
  if (*apply_command) return RunApply(common, apply);
  if (*check) return RunCheck(common);
  if (*lint) return RunLint(common);
  if (*resolve) return RunResolve(common, migration, state);
  const bool serves_http = *operator_command || (*run && watch && !run_metrics_address.empty());
  if (serves_http && server == nullptr) return HandToServerProgram(argv);
  if (*run) {
    std::unique_ptr<RunMonitor> monitor;
    if (serves_http) {
      auto served = server->serve_run_metrics(run_metrics_address);
      if (!served.ok()) return Invalid("--metrics-addr: " + served.status().message());
      monitor = std::move(served).value();
    }
    return RunReconcileAll(common, watch, interval, monitor.get());
  }
  if (*operator_command) return run_operator();
  return kExitInvalid;
}

}  // namespace tidemark::cli
