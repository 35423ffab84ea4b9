#include "cli/lint_command.h"

#include <algorithm>
#include <iostream>

#include "base/text.h"
#include "cli/commands.h"
#include "plan/graph.h"
#include "postgres/catalog.h"

namespace tidemark::cli {
namespace {

// The plan's steps in the order a run from an empty ledger applies them (Django's migrate
// order); then, apart, the steps such a run leaves out (those a squash replaces, which run
// only on a database that has some of them), in the file's order.
std::vector<std::vector<const plan::Step*>> InRunOrder(const plan::MigrationPlan& plan) {
  std::vector<const plan::Step*> run;
  const plan::DiffOrProblem diff = plan::ComputeDiff(plan.migrations, {}, {}, {});
  if (const auto* d = std::get_if<plan::Diff>(&diff)) {
    for (const plan::Action& action : d->actions) run.push_back(action.step);
  }
  std::vector<const plan::Step*> rest;
  for (const plan::Step& step : plan.migrations) {
    if (std::find(run.begin(), run.end(), &step) == run.end()) rest.push_back(&step);
  }
  return {run, rest};
}

// What lint knows of `plan`'s database: its catalogue when the command has a database.
Result<sql::LintOptions> Options(const CommonOptions& common, const LintFlags& flags,
                                 const plan::MigrationPlan& plan, resource::ObjectSource& objects) {
  sql::LintOptions options;
  options.default_schema = plan.database.schema;
  if (!common.database.empty()) {
    TM_ASSIGN_OR_RETURN(postgres::ConnectionParams params,
                        postgres::ResolveConnection(plan.database, plan.meta.ns, objects,
                                                    /*allow_local_sources=*/true));
    postgres::ConnectOptions connect;
    connect.schema = plan.database.schema;
    connect.ledger = plan.ledger;
    TM_ASSIGN_OR_RETURN(postgres::LiveCatalog catalog, postgres::ReadCatalog(params, connect));
    options.server_version = catalog.server_version;
    options.catalog = std::move(catalog.columns);
  }
  if (flags.pg_version != 0) options.server_version = flags.pg_version;
  return options;
}

}  // namespace

int RunLint(const CommonOptions& common, const LintFlags& flags) {
  auto loaded = LoadPlans(common);
  if (!loaded.ok()) return Invalid(loaded.status().message());
  int exit_code = kExitOk;
  nlohmann::ordered_json findings_json = nlohmann::ordered_json::array();
  for (const plan::MigrationPlan& plan : loaded->plans) {
    auto options = Options(common, flags, plan, loaded->files);
    if (!options.ok()) {
      std::cerr << "error: plan " << plan.Key() << ": "
                << Printable(options.status().message(), kMaxMessage) << "\n";
      return kExitPending;
    }
    std::vector<plan::LintFinding> findings;
    for (const auto& steps : InRunOrder(plan)) {
      for (auto& finding : engine::LintSteps(steps, *options)) findings.push_back(finding);
    }
    for (const plan::LintFinding& finding : findings) {
      if (finding.severity == plan::Severity::kError && finding.accepted.empty()) {
        exit_code = kExitPending;
      }
      if (Format(common) == OutputFormat::kText) {
        std::cout << finding.migration.ToString() << ": " << plan::SeverityName(finding.severity)
                  << ": " << finding.message << " [" << finding.rule << "]\n";
      } else {
        findings_json.push_back({{"plan", plan.Key()},
                                 {"migration", finding.migration.ToString()},
                                 {"rule", finding.rule},
                                 {"severity", plan::SeverityName(finding.severity)},
                                 {"message", finding.message},
                                 {"accepted", finding.accepted}});
      }
    }
  }
  if (Format(common) != OutputFormat::kText) PrintDocument(findings_json, Format(common));
  return exit_code;
}

}  // namespace tidemark::cli
