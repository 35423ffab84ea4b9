#include "cli/plan_commands.h"

#include <algorithm>
#include <iostream>

#include "base/text.h"
#include "cli/backup.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "engine/reconcile.h"
#include "plan/approval.h"

namespace tidemark::cli {
namespace {

// --target app.name|app.zero, as `manage.py migrate app name` reads it: it replaces the
// plan's target for that app, and other apps' steps that need what it reverts are reverted
// first. Returns what is wrong with a flag, if anything.
std::optional<std::string> AddTargetFlags(const std::vector<std::string>& texts,
                                          plan::MigrationPlan& plan) {
  for (const std::string& text : texts) {
    auto id = plan::ParseStepId(text);
    if (!id) return "--target " + text + ": write app.migration or app.zero";
    std::erase_if(plan.targets, [&](const plan::Target& t) { return t.app == id->app; });
    plan.targets.push_back({id->app, id->name, /*with_dependents=*/true});
  }
  return std::nullopt;
}

// policy.pythonSteps: Run: spec.runner runs the python steps.
bool RunsPythonSteps(const plan::MigrationPlan& plan) {
  return plan.policy.python_steps == plan::PythonStepsPolicy::kRun;
}

// Held actions wait for the other phase; said so that --phase pre never hides them.
void PrintHeld(const engine::Report& report, const std::string& indent, bool by_runner) {
  const std::vector<plan::PendingAction>& held = report.outcome.held;
  if (held.empty()) return;
  std::cout << indent << held.size() << " held for the other --phase:\n"
            << ShowActions(held, report, indent + "  ", by_runner);
}

}  // namespace

int RunStatus(const CommonOptions& common, bool as_plan, const PlanFlags& flags) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto plan = OnePlan(*loaded);
  if (!plan.ok()) return Invalid(plan.status().message());
  if (auto wrong = AddTargetFlags(flags.targets, *plan)) return Invalid(*wrong);
  engine::Options options = BaseOptions(common);
  options.execute = false;
  options.phase = flags.phase.Selected();
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
    std::cout << ShowActions(report.outcome.pending, report, "  ", RunsPythonSteps(*plan));
    PrintHeld(report, "  ", RunsPythonSteps(*plan));
    if (!report.approval_digest.empty()) {
      // What a reviewer approves: spec.approvedDigest, or apply --approve.
      std::cout << "Approval digest: " << report.approval_digest << "\n";
    }
  } else {
    std::cout << ShowSteps(report, RunsPythonSteps(*plan));
  }
  PrintProblem(report);
  if (!report.ledger_read) return std::max(ExitCode(report, false), kExitPending);
  return ExitCode(report, false) == kExitInvalid ? kExitInvalid : kExitOk;
}

int RunCheck(const CommonOptions& common, const PhaseFlag& phase) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  int worst = kExitOk;
  for (const plan::MigrationPlan& plan : loaded->plans) {
    engine::Options options = BaseOptions(common);
    options.execute = false;
    options.phase = phase.Selected();
    const engine::Report report =
        engine::Reconcile(plan, MakeConnector(plan, loaded->files), options);
    const OutputFormat format = Format(common);
    if (format != OutputFormat::kText) {
      PrintDocument(ReportJson(plan, report, StatusOf(plan, report)), format);
    } else if (report.ledger_read) {
      std::cout << plan.Key() << ": " << report.outcome.pending.size() << " pending\n"
                << ShowActions(report.outcome.pending, report, "  ", RunsPythonSteps(plan));
      PrintHeld(report, "  ", RunsPythonSteps(plan));
    }
    PrintProblem(report);
    const int code = ExitCode(report, /*pending_is_failure=*/true);
    worst = std::max(worst, report.ledger_read ? code : std::max(code, kExitPending));
  }
  return worst;
}

int RunApply(const CommonOptions& common, const ApplyFlags& apply) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto chosen = OnePlan(*loaded);
  if (!chosen.ok()) return Invalid(chosen.status().message());
  plan::MigrationPlan plan = *chosen;
  if (auto wrong = AddTargetFlags(apply.targets, plan)) return Invalid(*wrong);
  engine::Options options = BaseOptions(common);
  options.dry_run = apply.dry_run;
  options.fake_all = apply.fake;
  options.fake_initial = apply.fake_initial;
  options.allow_revert = apply.allow_revert;
  options.phase = apply.phase.Selected();
  if (!apply.approve.empty()) {
    if (!plan::IsApprovalDigest(apply.approve)) {
      return Invalid("--approve " + apply.approve +
                     ": not a digest; copy the one `tidemark plan` prints (sha256: and 64 hex "
                     "digits)");
    }
    options.approve = apply.approve;
  }
  auto runner = MakeRunner(plan, loaded->files);
  if (!runner.ok()) return Invalid(runner.status().message());
  options.runner = runner->get();
  const OutputFormat format = Format(common);
  std::ostream& progress = format == OutputFormat::kText ? std::cout : std::cerr;
  if (!apply.backup.empty()) {
    options.before_first_change = [&plan, &loaded, &apply, &progress] {
      return BackUpDatabase(plan, loaded->files, apply.backup, progress);
    };
  }
  progress << "Running migrations for plan " << plan.Key() << ":\n" << std::flush;
  const engine::Report report = engine::Reconcile(plan, MakeConnector(plan, loaded->files), options,
                                                  ProgressPrinter(progress));
  if (format != OutputFormat::kText) {
    PrintDocument(ReportJson(plan, report, StatusOf(plan, report)), format);
  } else if (report.ledger_read && report.done.empty() && report.outcome.pending.empty()) {
    std::cout << "  No migrations to apply.\n";
  } else if (report.outcome.idle_reason == plan::Reason::kDryRun) {
    std::cout << "  Dry run: nothing executed. Planned:\n"
              << ShowActions(report.outcome.pending, report, "    ", RunsPythonSteps(plan));
  }
  if (format == OutputFormat::kText) PrintHeld(report, "  ", RunsPythonSteps(plan));
  for (const plan::LintFinding& finding : report.outcome.lint) {
    std::cerr << "lint " << plan::SeverityName(finding.severity) << ": "
              << finding.migration.ToString() << ": " << Printable(finding.message, kMaxMessage)
              << " [" << finding.rule << "]\n";
  }
  PrintProblem(report);
  return ExitCode(report, !apply.dry_run);
}

int RunSql(const CommonOptions& common, const SqlFlags& sql) {
  const std::string& migration = sql.migration;
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  auto plan = OnePlan(*loaded);
  if (!plan.ok()) return Invalid(plan.status().message());
  auto id = plan::ParseStepId(migration);
  if (!id) return Invalid(migration + ": write app.migration, e.g. shop.0001_initial");
  for (const plan::Step& step : plan->migrations) {
    if (step.id != *id) continue;
    if (sql.backwards && !step.backward) {
      return Invalid("step " + migration + " is irreversible: it has no backward SQL");
    }
    auto statements = engine::StepStatements(step, !sql.backwards);
    if (!statements.ok()) return Invalid(statements.status().message());
    if (Format(common) == OutputFormat::kJson) {
      std::cout << DumpJson(nlohmann::json{{"migration", migration},
                                           {"atomic", step.atomic},
                                           {"statements", *statements}},
                            2)
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

int RunResolve(const CommonOptions& common, const ResolveFlags& resolve) {
  const std::string& migration = resolve.migration;
  const std::string& state = resolve.state;
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
    std::cerr << "error: " << Printable(resolved.status().message(), kMaxMessage) << "\n";
    return resolved.status().code() == StatusCode::kInvalidArgument ? kExitInvalid : kExitPending;
  }
  std::cout << "step " << migration
            << (*resolved ? " resolved as " + state
                          : std::string(" is not dirty; nothing to resolve"))
            << "\n";
  return kExitOk;
}

}  // namespace tidemark::cli
