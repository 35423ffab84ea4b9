#include "cli/commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "base/log.h"
#include "base/text.h"
#include "cli/common.h"
#include "cli/lint_command.h"
#include "cli/output.h"
#include "cli/plan_commands.h"
#include "cli/version.h"
#include "cli/wait_command.h"
#include "postgres/pg_store.h"
#include "resource/decode.h"
#include "resource/objects.h"

namespace tidemark::cli {
namespace {

// `run`'s own flags, as parsing fills them (the others' are beside their Run functions).
struct RunFlags {
  bool watch = false;
  std::string interval = "2s";
  std::string metrics_address;
};

// What a command reads once the arguments are parsed: the common flags, its own, and how
// this program was started. Each command declares and reads only its own part.
struct Invocation {
  CommonOptions common;
  SqlFlags sql;
  PlanFlags plan;
  ApplyFlags apply;
  PhaseFlag check_phase;
  ResolveFlags resolve;
  RunFlags run;
  WaitFlags wait;
  LintFlags lint;
  std::function<int()> run_operator;  // set by server->declare_operator
  char** argv = nullptr;
  const ServerCommands* server = nullptr;  // null in the `tidemark` program
};

// Replaces this process with tidemark-operator from this program's folder, same arguments.
int HandToServerProgram(char** argv) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  const std::string program = (self.parent_path() / "tidemark-operator").string();
  execv(program.c_str(), argv);
  return Invalid("this command runs in " + program + ", which could not be started (" +
                 std::strerror(errno) + "): install tidemark-operator beside tidemark");
}

// `run`: reconciles the files' plans once, or --watch; serving /metrics is
// tidemark-operator's.
int RunRun(Invocation& invocation) {
  const RunFlags& run = invocation.run;
  const bool serves_http = run.watch && !run.metrics_address.empty();
  if (!serves_http) return RunReconcileAll(invocation.common, run.watch, run.interval, nullptr);
  if (invocation.server == nullptr) return HandToServerProgram(invocation.argv);
  auto served = invocation.server->serve_run_metrics(run.metrics_address);
  if (!served.ok()) return Invalid("--metrics-addr: " + served.status().message());
  const std::unique_ptr<RunMonitor> monitor = std::move(served).value();
  return RunReconcileAll(invocation.common, run.watch, run.interval, monitor.get());
}

void DeclareNoOwnFlags(CLI::App&, Invocation&) {}

void DeclareLint(CLI::App& command, Invocation& invocation) {
  command
      .add_option("--pg-version", invocation.lint.pg_version,
                  "the server's major version to lint for (default: the connected server's, "
                  "else verdicts assume one that has every form they suggest)")
      ->check(CLI::Range(9, 99));
}

void DeclareSql(CLI::App& command, Invocation& invocation) {
  SqlFlags& sql = invocation.sql;
  command.add_option("migration", sql.migration, "app.migration")->required();
  command.add_flag("--backwards", sql.backwards, "the SQL that reverts the step");
}

constexpr const char* kTargetHelp =
    "app.migration or app.zero, as migrate APP NAME: replaces the plan's target for that app, "
    "and reverts other apps' steps that need the steps it reverts";

void DeclarePhase(CLI::App& command, PhaseFlag& flag, const char* help) {
  command.add_option("--phase", flag.phase, help)
      ->check(CLI::IsMember({"pre", "post", "all"}))
      ->capture_default_str();
}

void DeclarePlan(CLI::App& command, Invocation& invocation) {
  DeclarePhase(command, invocation.plan.phase,
               "pre or post: the actions of apply --phase pre|post (and their approval digest)");
  command.add_option("--target", invocation.plan.targets, kTargetHelp);
}

void DeclareCheck(CLI::App& command, Invocation& invocation) {
  DeclarePhase(command, invocation.check_phase,
               "pre or post: only that phase's steps count (pre: what the new pods need)");
}

void DeclareApply(CLI::App& command, Invocation& invocation) {
  ApplyFlags& apply = invocation.apply;
  DeclarePhase(command, apply.phase,
               "pre: only pre-deploy steps (before the deploy); post: the post-deploy steps "
               "(after it); all: both");
  command.add_option("--target", apply.targets, kTargetHelp);
  command.add_flag("--fake", apply.fake, "record the actions without running their SQL");
  command.add_flag("--fake-initial", apply.fake_initial,
                   "record initial steps whose tables all exist");
  command.add_flag("--dry-run", apply.dry_run, "show the actions, execute nothing");
  command.add_flag("--allow-revert", apply.allow_revert,
                   "permit reverting applied steps (policy.revert: Allow)");
  command.add_option("--approve", apply.approve,
                     "run only if the pending actions have this digest (tidemark plan prints it); "
                     "otherwise run nothing");
  command.add_option("--backup", apply.backup,
                     "before the first change, pg_dump the database to this file (custom "
                     "format, for pg_restore); run nothing if that fails");
}

void DeclareResolve(CLI::App& command, Invocation& invocation) {
  ResolveFlags& resolve = invocation.resolve;
  command.add_option("migration", resolve.migration, "app.migration")->required();
  command.add_option("--state", resolve.state, "applied or unapplied")->required();
}

void DeclareRun(CLI::App& command, Invocation& invocation) {
  RunFlags& run = invocation.run;
  command.add_flag("--watch", run.watch, "keep reconciling as the files change");
  command.add_option("--interval", run.interval, "with --watch: how often to look for changes")
      ->capture_default_str();
  command.add_option("--metrics-addr", run.metrics_address,
                     "with --watch: serve /metrics, /healthz and /readyz here (e.g. :9090)");
}

void DeclareWait(CLI::App& command, Invocation& invocation) {
  WaitFlags& wait = invocation.wait;
  command.add_option("--for", wait.steps, "app.migration to wait for (any number)");
  command.add_option("-f,--file", wait.files,
                     "plan files or folders: wait for the plan's pre-deploy steps (or the --for "
                     "steps, by its squash rules)");
  command.add_option("--database", invocation.common.database,
                     "libpq DSN or URI (env DATABASE_URL); replaces the plan's database");
  command.add_option("--plan", invocation.common.plan_name,
                     "the plan to use when the files hold several");
  command.add_option("--timeout", wait.timeout, "give up after this long (exit 1)")
      ->capture_default_str();
  command.add_option("--schema", wait.schema, "without -f: the ledger's schema")
      ->capture_default_str();
  command.add_option("--ledger-table", wait.ledger_table, "without -f: the ledger table")
      ->capture_default_str();
  command.add_option("--log-level", invocation.common.log_level, "debug, info, warn or error")
      ->capture_default_str();
}

void DeclareOperator(CLI::App& command, Invocation& invocation) {
  if (invocation.server != nullptr) {
    invocation.run_operator = invocation.server->declare_operator(command);
  } else {
    // Its arguments, --help included, are tidemark-operator's to parse: taken as they are.
    command.prefix_command()->set_help_flag();
  }
}

int RunOperatorCommand(Invocation& invocation) {
  if (invocation.server == nullptr) return HandToServerProgram(invocation.argv);
  return invocation.run_operator();
}

void DeclareCommonFlags(CLI::App& command, CommonOptions& common) {
  command
      .add_option("-f,--file", common.files,
                  "plan files or folders (YAML/JSON; many documents allowed)")
      ->capture_default_str();
  command.add_option("--database", common.database,
                     "libpq DSN or URI; replaces the plan's database (env DATABASE_URL)");
  command.add_option("--plan", common.plan_name, "the plan to use when the files hold several");
  command.add_option("-o,--output", common.output, "text, json or yaml")
      ->check(CLI::IsMember({"text", "json", "yaml"}))
      ->capture_default_str();
  command
      .add_option("--lock-wait", common.lock_wait,
                  "how long to wait for another run's migration lock")
      ->capture_default_str();
  command.add_option("--log-level", common.log_level, "debug, info, warn or error")
      ->capture_default_str();
}

// One subcommand of both programs. To add a command, add an entry to kCommands.
struct Command {
  const char* name;
  const char* help;
  bool common_flags;  // DeclareCommonFlags before its own: -f, --database, --plan, -o, ...
  void (*declare)(CLI::App& command, Invocation& invocation);  // its own flags
  int (*run)(Invocation& invocation);                          // after parsing; the exit code
};

// In the order of the help.
constexpr Command kCommands[] = {
    {"status", "list steps as applied [X] or not [ ] (showmigrations)", true, DeclareNoOwnFlags,
     [](Invocation& in) { return RunStatus(in.common, /*as_plan=*/false); }},
    {"plan", "list what apply would do (migrate --plan)", true, DeclarePlan,
     [](Invocation& in) { return RunStatus(in.common, /*as_plan=*/true, in.plan); }},
    {"sql", "print a step's SQL (sqlmigrate)", true, DeclareSql,
     [](Invocation& in) { return RunSql(in.common, in.sql); }},
    {"apply", "apply and revert steps to reach the targets (migrate)", true, DeclareApply,
     [](Invocation& in) { return RunApply(in.common, in.apply); }},
    {"check", "exit 1 when anything is pending (migrate --check)", true, DeclareCheck,
     [](Invocation& in) { return RunCheck(in.common, in.check_phase); }},
    {"lint", "report SQL that takes long locks or breaks running code", true, DeclareLint,
     [](Invocation& in) { return RunLint(in.common, in.lint); }},
    {"resolve", "mark a dirty non-atomic step as resolved", true, DeclareResolve,
     [](Invocation& in) { return RunResolve(in.common, in.resolve); }},
    {"run", "reconcile every plan of the files, print their status", true, DeclareRun, RunRun},
    {"wait", "exit 0 once steps are applied: an init container's gate (LISTEN/NOTIFY)", false,
     DeclareWait, [](Invocation& in) { return RunWait(in.common, in.wait); }},
    {"operator", "run the Kubernetes controller for MigrationPlans", false, DeclareOperator,
     RunOperatorCommand},
};

// The flags every command reads, checked once CLI11 has parsed them; sets up logging.
int CheckCommonFlags(const CommonOptions& common) {
  log::Level level = log::Level::kWarn;
  if (!log::ParseLevel(common.log_level, &level))
    return Invalid("--log-level: " + common.log_level);
  log::Init(log::Format::kText, level);
  std::chrono::milliseconds ignored;
  if (!resource::ParseDuration(common.lock_wait, &ignored))
    return Invalid("--lock-wait: " + common.lock_wait);
  return kExitOk;
}

}  // namespace

int Main(int argc, char** argv, const ServerCommands* server) {
  // tidemark-operator has every command of tidemark; its help gives its own name.
  const std::string program = server != nullptr ? "tidemark-operator" : "tidemark";
  CLI::App app{program + ": declarative database migrations (Django's ledger, PostgreSQL)",
               program};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(kVersion));
  Invocation invocation;
  invocation.argv = argv;
  invocation.server = server;
  if (const char* url = std::getenv("DATABASE_URL")) invocation.common.database = url;
  std::vector<const CLI::App*> subcommands;
  for (const Command& command : kCommands) {
    CLI::App* subcommand = app.add_subcommand(command.name, command.help);
    if (command.common_flags) DeclareCommonFlags(*subcommand, invocation.common);
    command.declare(*subcommand, invocation);
    subcommands.push_back(subcommand);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitInvalid;
  }
  if (const int invalid = CheckCommonFlags(invocation.common); invalid != kExitOk) return invalid;
  for (size_t i = 0; i < subcommands.size(); ++i) {
    if (!*subcommands[i]) continue;
    // An exception no adapter turned into a Status is a bug: say so, rather than abort.
    try {
      return kCommands[i].run(invocation);
    } catch (const std::exception& e) {
      std::cerr << "error: InternalError: "
                << Printable(plan::UnexpectedError(e.what()).message, kMaxMessage) << "\n";
      return kExitPending;
    }
  }
  return kExitInvalid;
}

}  // namespace tidemark::cli
