#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <regex>

#include "base/text.h"
#include "resource/decode.h"

namespace tidemark::cli {
namespace {

// Strings a YAML reader would take for another type ("True", "5", "null") keep quotes.
bool NeedsQuotes(const std::string& text) {
  static const std::regex kPlainScalar(
      "(|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|no|No|on|On|off|Off|"
      "[-+]?[0-9][0-9_.:eE+-]*|\\.inf|\\.nan)");
  return std::regex_match(text, kPlainScalar);
}

void Emit(YAML::Emitter& out, const nlohmann::ordered_json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      Emit(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    if (value.empty()) {
      out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
      return;
    }
    out << YAML::BeginSeq;
    for (const auto& item : value) Emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    // The same replacement as DumpJson: yaml-cpp would stop at the first invalid byte.
    const std::string text = ToValidUtf8(value.get_ref<const std::string&>());
    if (text.find('\n') != std::string::npos) {
      out << YAML::Literal;
    } else if (NeedsQuotes(text)) {
      out << YAML::DoubleQuoted;
    }
    out << text;
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<int64_t>();
  } else if (value.is_number()) {
    out << value.get<double>();
  } else {
    out << YAML::Null;
  }
}

const char* kPostDeployMark = " (post-deploy)";

const plan::Step* FindStep(const engine::Report& report, const plan::StepId& id) {
  for (const engine::StepView& view : report.steps) {
    if (view.step->id == id) return view.step;
  }
  return nullptr;
}

}  // namespace

std::string ToYaml(const nlohmann::ordered_json& value) {
  YAML::Emitter out;
  Emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string ShowSteps(const engine::Report& report, bool python_by_runner) {
  std::string text;
  std::string app;
  for (const engine::StepView& view : report.steps) {
    if (view.step->id.app != app) {
      app = view.step->id.app;
      text += app + "\n";
    }
    text += std::string(view.applied ? " [X] " : " [ ] ") + view.step->id.name;
    if (!view.step->replaces.empty()) {
      text += " (" + std::to_string(view.step->replaces.size()) + " squashed migrations)";
    }
    if (view.step->phase == plan::Phase::kPostDeploy) text += kPostDeployMark;
    if (python_by_runner && view.step->python && !view.applied) text += kByRunner;
    text += "\n";
  }
  return text;
}

std::string ShowActions(const std::vector<plan::PendingAction>& actions,
                        const engine::Report& report, const std::string& indent,
                        bool python_by_runner) {
  std::string text;
  for (const plan::PendingAction& action : actions) {
    text += indent + plan::RecordedActionName(action.action) + " " + action.migration.ToString();
    const plan::Step* step = FindStep(report, action.migration);
    if (step && step->phase == plan::Phase::kPostDeploy) text += kPostDeployMark;
    if (python_by_runner && step && step->python &&
        (action.action == plan::RecordedAction::kApply ||
         action.action == plan::RecordedAction::kRevert)) {
      text += kByRunner;
    }
    if (step && step->kind == plan::StepKind::kBackfill &&
        action.action == plan::RecordedAction::kApply) {
      const std::chrono::milliseconds delay = step->backfill.batch_delay;
      text += " (back-fill: batches of their own until none changes a row, " +
              (delay.count() == 0 ? "no pause between them"
                                  : resource::FormatDuration(delay) + " apart") +
              (step->backfill.max_batches > 0
                   ? ", at most " + std::to_string(step->backfill.max_batches) + " batches"
                   : "") +
              ")";
    }
    if (step && action.action == plan::RecordedAction::kRevert && !step->backward) {
      text += " (irreversible";
      if (!step->irreversible_reason.empty()) text += ": " + step->irreversible_reason;
      text += ")";
    }
    text += "\n";
  }
  return text;
}

nlohmann::ordered_json ReportJson(const plan::MigrationPlan& plan, const engine::Report& report,
                                  const nlohmann::ordered_json& status) {
  nlohmann::ordered_json out;
  out["plan"] = plan.Key();
  out["steps"] = nlohmann::ordered_json::array();
  for (const engine::StepView& view : report.steps) {
    out["steps"].push_back({{"migration", view.step->id.ToString()},
                            {"applied", view.applied},
                            {"phase", plan::PhaseName(view.step->phase)}});
  }
  out["done"] = nlohmann::ordered_json::array();
  for (const plan::StepRecord& record : report.done) {
    out["done"].push_back({{"migration", record.migration.ToString()},
                           {"action", plan::RecordedActionName(record.action)},
                           {"durationMs", record.duration_ms}});
  }
  if (!report.approval_digest.empty()) out["approvalDigest"] = report.approval_digest;
  out["status"] = status;
  return out;
}

}  // namespace tidemark::cli
