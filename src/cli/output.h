// How the command line shows things: JSON to YAML for status documents, and the
// Django-like text of status, plan and apply.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/reconcile.h"
#include "plan/model.h"

namespace tidemark::cli {

enum class OutputFormat { kText, kJson, kYaml };

// Block-style YAML of a JSON value (multi-line strings as literal blocks).
std::string ToYaml(const nlohmann::ordered_json& value);

// How `tidemark status` and `plan` mark a step that spec.runner will run.
inline constexpr char kByRunner[] = "  (python: run by spec.runner)";

// `tidemark status` as Django's showmigrations prints it: app, then [X]/[ ] per step;
// `python_by_runner` marks the unapplied python steps (policy.pythonSteps: Run).
std::string ShowSteps(const engine::Report& report, bool python_by_runner = false);

// One line per action, "<indent>apply shop.0003_drop_old (post-deploy)": a post-deploy
// step says so, a pre-deploy one (the default) does not; `python_by_runner` marks the python
// steps spec.runner will run; a revert of a step without a way back says why.
std::string ShowActions(const std::vector<plan::PendingAction>& actions,
                        const engine::Report& report, const std::string& indent,
                        bool python_by_runner);

// The report's steps, pending actions and status as one JSON document.
nlohmann::ordered_json ReportJson(const plan::MigrationPlan& plan, const engine::Report& report,
                                  const nlohmann::ordered_json& status);

}  // namespace tidemark::cli
