// The decoding of the parts of a MigrationPlan beside its steps' SQL and the database: a
// step's lintAllow, spec.runner, spec.rollout, spec.approvedDigest. Split from decode.cc,
// which maps the rest, so that neither grows past a screenful of fields.
#include "resource/decode_parts.h"

#include <algorithm>
#include <charconv>
#include <regex>
#include <set>

#include "base/text.h"
#include "plan/approval.h"
#include "resource/decode.h"
#include "resource/documents.h"

namespace tidemark::resource {

using nlohmann::json;

namespace {

// Environment variable names as POSIX shells accept them.
const std::regex kEnvName("^[A-Za-z_][A-Za-z0-9_]*$");

void DecodeRunnerEnv(Decoder& d, const json& list, const std::string& path,
                     std::vector<plan::EnvVar>* env) {
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = d.Index(path, i);
    const json& item = list[i];
    if (!d.ExpectMap(item, item_path)) continue;
    d.CheckFields(item, item_path, {"name", "value", "valueFrom"});
    plan::EnvVar var;
    if (auto s = d.RequiredStringAt(item, item_path, "name", "the variable's name")) {
      var.name = *s;
      if (!std::regex_match(*s, kEnvName)) {
        d.Fail(item_path + ".name", "\"" + *s + "\" is not a variable name (letters, digits, _)");
      } else if (!seen.insert(*s).second) {
        d.Fail(item_path + ".name", "\"" + *s + "\" is set twice");
      }
    }
    const json* source = Field(item, "valueFrom");
    if (Field(item, "value") && source) {
      d.Fail(item_path, "set either value or valueFrom, not both");
    } else if (source) {
      DecodeValueSource(d, *source, item_path + ".valueFrom", &var.value);
    } else if (auto s = d.StringAt(item, item_path, "value")) {
      var.value.literal = *s;
    } else if (!Field(item, "value")) {
      d.Fail(item_path + ".value", "required: the value, or valueFrom a Secret, env or file");
    }
    env->push_back(std::move(var));
  }
}

// The path of the first key or string under `node` that is not valid UTF-8: for a subtree
// kept as JSON text (jobTemplate) rather than read field by field, whose dump would throw.
// Walked with a stack of its own: an API object may nest deeper than the call stack allows.
std::optional<std::string> FirstNonUtf8(const json& node, const std::string& path) {
  std::vector<std::pair<const json*, std::string>> left{{&node, path}};
  while (!left.empty()) {
    const auto [value, at] = std::move(left.back());
    left.pop_back();
    if (value->is_string() && FirstInvalidUtf8(value->get_ref<const std::string&>())) return at;
    if (value->is_object()) {
      for (const auto& item : value->items()) {
        if (FirstInvalidUtf8(item.key())) return at;
        left.emplace_back(&item.value(), at + "." + item.key());
      }
    } else if (value->is_array()) {
      for (size_t i = 0; i < value->size(); ++i) {
        left.emplace_back(&(*value)[i], Decoder::Index(at, i));
      }
    }
  }
  return std::nullopt;
}

}  // namespace

void DecodeLintAllow(Decoder& d, const json& list, const std::string& path,
                     std::vector<plan::LintAllow>* allows) {
  static const std::regex kRuleName("[a-z][a-z0-9-]*");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = d.Index(path, i);
    if (!d.ExpectMap(list[i], item)) continue;
    d.CheckFields(list[i], item, {"rule", "reason"});
    plan::LintAllow allow;
    if (auto s =
            d.RequiredStringAt(list[i], item, "rule",
                               "the lint rule accepted, e.g. require-concurrent-index-creation "
                               "(docs/lint.md lists them)")) {
      if (s->size() > 63 || !std::regex_match(*s, kRuleName)) {
        d.Fail(item + ".rule", "\"" + Printable(*s, 63) +
                                   "\" is not a rule name (lower-case letters, digits and -, at "
                                   "most 63), e.g. require-concurrent-index-creation");
      }
      allow.rule = *s;
    }
    if (auto s = d.RequiredStringAt(list[i], item, "reason",
                                    "why the finding is safe here, for the reviewer")) {
      if (s->find_first_not_of(" \t\r\n") == std::string::npos) {
        d.Fail(item + ".reason", "must say why the finding is safe here, for the reviewer");
      } else if (s->size() > plan::kMaxLintAllowReason) {
        d.Fail(item + ".reason",
               "at most " + std::to_string(plan::kMaxLintAllowReason) + " bytes; shorten it");
      }
      allow.reason = *s;
    }
    for (size_t j = 0; j < allows->size(); ++j) {
      if (!allow.rule.empty() && (*allows)[j].rule == allow.rule) {
        d.Fail(item + ".rule", "accepts " + allow.rule + " again (already at " + d.Index(path, j) +
                                   "); keep one entry per rule");
      }
    }
    allows->push_back(std::move(allow));
  }
}

void DecodeStepKind(Decoder& d, const json& node, const std::string& path, plan::Step* step) {
  d.OneOfAt<plan::StepKind>(
      node, path, "kind", {{"Sql", plan::StepKind::kSql}, {"Backfill", plan::StepKind::kBackfill}},
      &step->kind);
  const bool backfill = step->kind == plan::StepKind::kBackfill;
  for (const char* field : {"batchDelay", "maxBatches"}) {
    if (Field(node, field) && !backfill) {
      d.Fail(path + "." + field, "only for a back-fill step (kind: Backfill); remove it");
    }
  }
  if (!backfill) return;
  if (step->forward.find_first_not_of(" \t\r\n") == std::string::npos) {
    d.Fail(path + ".forward",
           "required for kind: Backfill: the batch statement, run until it changes no row, e.g. "
           "UPDATE t SET c = 0 WHERE id IN (SELECT id FROM t WHERE c IS NULL LIMIT 1000)");
  }
  if (!step->atomic) {
    d.Fail(path + ".atomic",
           "a back-fill runs each batch in a transaction of its own; remove atomic: false");
  }
  if (step->python) {
    d.Fail(path + ".python", "a back-fill is one SQL statement, it has no Python code; remove it");
  }
  if (auto s = d.StringAt(node, path, "batchDelay")) {
    if (!ParseDuration(*s, &step->backfill.batch_delay)) {
      d.Fail(path + ".batchDelay",
             "\"" + Printable(*s, 40) + "\" is not a duration; write e.g. 100ms, 1s, or 0");
    }
  }
  if (const json* max = Field(node, "maxBatches")) {
    const std::string text = ScalarText(*max).value_or("");
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1) {
      d.Fail(path + ".maxBatches", "\"" + Printable(text, 40) +
                                       "\" is not a positive whole number of batches, e.g. 10000");
    } else {
      step->backfill.max_batches = value;
    }
  }
}

void DecodeRunner(Decoder& d, const json& node, const std::string& path, plan::RunnerSpec* runner) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"command", "workingDir", "env", "timeout", "postMigrate", "jobTemplate"});
  if (const json* list = d.ListAt(node, path, "command")) {
    for (size_t i = 0; i < list->size(); ++i) {
      if (auto s = d.String((*list)[i], d.Index(path + ".command", i))) {
        runner->command.push_back(*s);
      }
    }
    if (runner->command.empty() || runner->command.front().empty()) {
      d.Fail(path + ".command", "must name a program, e.g. [python3, manage.py, tidemark_step]");
    }
  }
  if (auto s = d.StringAt(node, path, "workingDir")) runner->working_dir = *s;
  if (const json* list = d.ListAt(node, path, "env")) {
    DecodeRunnerEnv(d, *list, path + ".env", &runner->env);
  }
  if (auto s = d.StringAt(node, path, "timeout")) {
    if (!ParseDuration(*s, &runner->timeout) || runner->timeout.count() == 0) {
      d.Fail(path + ".timeout", "\"" + *s + "\" is not a positive duration; write e.g. 30m, 1h");
    }
  }
  d.BoolAt(node, path, "postMigrate", &runner->post_migrate);
  if (const json* job = Field(node, "jobTemplate")) {
    const json* containers = nullptr;
    if (job->is_object()) {
      const json* spec = Field(*job, "spec");
      const json* pod = spec && spec->is_object() ? Field(*spec, "template") : nullptr;
      const json* pod_spec = pod && pod->is_object() ? Field(*pod, "spec") : nullptr;
      containers = pod_spec && pod_spec->is_object() ? Field(*pod_spec, "containers") : nullptr;
    }
    if (!containers || !containers->is_array() || containers->empty()) {
      d.Fail(path + ".jobTemplate.spec.template.spec.containers",
             "required: a batch/v1 JobTemplateSpec with the app's container first");
    } else if (const auto bad = FirstNonUtf8(*job, path + ".jobTemplate")) {
      d.Fail(*bad, "not valid UTF-8; save the file as UTF-8");
    } else {
      runner->job_template_json = job->dump();
    }
  }
  if (runner->command.empty() && runner->job_template_json.empty()) {
    d.Fail(path, "set command (tidemark run and apply), jobTemplate (the controller), or both");
  }
}

// spec.rollout.workloads: each a Deployment or StatefulSet of the plan's namespace, once.
void DecodeRollout(Decoder& d, const json& node, const std::string& path,
                   plan::RolloutSpec* rollout) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path, {"workloads"});
  const json* list = d.ListAt(node, path, "workloads");
  if (!list || list->empty()) {
    d.Fail(path + ".workloads",
           "required: the app's Deployments or StatefulSets whose rollout the post-deploy steps "
           "wait for, e.g. [{kind: Deployment, name: web}]; without them, leave spec.rollout out");
    return;
  }
  if (list->size() > plan::kMaxRolloutWorkloads) {
    d.Fail(path + ".workloads", std::to_string(list->size()) + " workloads, more than the " +
                                    std::to_string(plan::kMaxRolloutWorkloads) +
                                    " a plan may name");
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string item_path = d.Index(path + ".workloads", i);
    const json& item = (*list)[i];
    if (!d.ExpectMap(item, item_path)) continue;
    d.CheckFields(item, item_path, {"kind", "name"});
    plan::WorkloadRef workload;
    if (!Field(item, "kind")) d.Fail(item_path + ".kind", "required: Deployment or StatefulSet");
    d.OneOfAt<plan::WorkloadKind>(item, item_path, "kind",
                                  {{"Deployment", plan::WorkloadKind::kDeployment},
                                   {"StatefulSet", plan::WorkloadKind::kStatefulSet}},
                                  &workload.kind);
    if (auto s = d.RequiredStringAt(item, item_path, "name",
                                    "the workload's name, in the plan's namespace")) {
      if (!CheckObjectName(d, item_path + ".name", *s)) continue;
      workload.name = *s;
    } else {
      continue;
    }
    if (std::find(rollout->workloads.begin(), rollout->workloads.end(), workload) !=
        rollout->workloads.end()) {
      d.Fail(item_path, std::string(plan::WorkloadKindName(workload.kind)) + " " + workload.name +
                            " is named twice");
      continue;
    }
    rollout->workloads.push_back(std::move(workload));
  }
}

void DecodeApprovedDigest(Decoder& d, const json& spec, const std::string& path,
                          std::string* approved_digest) {
  if (auto digest = d.StringAt(spec, path, "approvedDigest")) {
    if (!digest->empty() && !plan::IsApprovalDigest(*digest)) {
      d.Fail("spec.approvedDigest", "\"" + Truncate(*digest, 80) +
                                        "\" is not a digest: copy the one `tidemark plan` "
                                        "prints or status.approval.digest shows (sha256: and 64 "
                                        "hex digits)");
    }
    *approved_digest = *digest;
  }
}

}  // namespace tidemark::resource
