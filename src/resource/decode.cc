// The field mapping of a MigrationPlan: each part of the object read into the model with
// a Decoder (resource/decoder.h), which collects the problems; durations as Go writes them.
#include "resource/decode.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <regex>
#include <set>

#include "base/text.h"
#include "resource/decode_parts.h"
#include "resource/decoder.h"
#include "resource/documents.h"

namespace tidemark::resource {

using nlohmann::json;

// Kubernetes object names (DNS-1123 subdomain).
const std::regex kObjectName("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");

bool CheckObjectName(Decoder& d, const std::string& path, const std::string& name) {
  if (std::regex_match(name, kObjectName) && name.size() <= 253) return true;
  d.Fail(path,
         "\"" + name + "\" is not a Kubernetes name (lower-case letters, digits, '-' and '.')");
  return false;
}

std::string TooLong(const std::string& value, size_t limit, const std::string& what) {
  return GroupThousands(value.size()) + " bytes, more than the " + GroupThousands(limit) + " of " +
         what + " (\"" + Truncate(value, 40) + "\")";
}

void DecodeValueSource(Decoder& d, const json& node, const std::string& path, plan::Value* value) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path, {"secretKeyRef", "env", "file"});
  plan::ValueSource source;
  int kinds = 0;
  if (const json* ref = Field(node, "secretKeyRef")) {
    ++kinds;
    const std::string ref_path = path + ".secretKeyRef";
    if (d.ExpectMap(*ref, ref_path)) {
      d.CheckFields(*ref, ref_path, {"name", "key", "optional"});
      source.kind = plan::ValueSource::Kind::kSecretKeyRef;
      if (auto s = d.RequiredStringAt(*ref, ref_path, "name", "the Secret's name")) {
        source.secret_name = *s;
      }
      if (auto s = d.RequiredStringAt(*ref, ref_path, "key", "the key inside the Secret")) {
        source.secret_key = *s;
      }
    }
  }
  if (Field(node, "env")) {
    ++kinds;
    source.kind = plan::ValueSource::Kind::kEnv;
    if (auto s = d.StringAt(node, path, "env")) source.env = *s;
  }
  if (Field(node, "file")) {
    ++kinds;
    source.kind = plan::ValueSource::Kind::kFile;
    if (auto s = d.StringAt(node, path, "file")) source.file = *s;
  }
  if (kinds != 1) {
    d.Fail(path, "set exactly one of secretKeyRef, env, file");
    return;
  }
  value->from = source;
}

namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
// App labels are Python identifiers; step names are module names (may start with a digit).
bool IsAppLabel(const std::string& s) {
  return !s.empty() && !std::isdigit(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), IsWordChar);
}
bool IsStepName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsWordChar);
}
const std::regex kSqlIdentifier("^[A-Za-z_][A-Za-z0-9_$]*$");

void DecodeDatabase(Decoder& d, const json& node, const std::string& path, plan::DatabaseSpec* db) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"dsn", "dsnFrom", "host", "hostFrom", "port", "portFrom", "dbname", "dbnameFrom",
                 "user", "userFrom", "passwordFrom", "sslMode", "sslModeFrom", "schema"});
  const std::pair<const char*, plan::Value*> fields[] = {
      {"dsn", &db->dsn},       {"host", &db->host}, {"port", &db->port},
      {"dbname", &db->dbname}, {"user", &db->user}, {"sslMode", &db->ssl_mode}};
  for (const auto& [name, value] : fields) {
    const std::string from = std::string(name) + "From";
    const json* source = Field(node, from.c_str());
    if (Field(node, name) && source) {
      d.Fail(d.Join(path, name), std::string("set either ") + name + " or " + from + ", not both");
      continue;
    }
    if (auto s = d.StringAt(node, path, name)) value->literal = *s;
    if (source) DecodeValueSource(d, *source, d.Join(path, from), value);
  }
  if (db->ssl_mode.literal) {
    static const std::set<std::string> kModes = {"disable", "allow",     "prefer",
                                                 "require", "verify-ca", "verify-full"};
    if (!kModes.count(*db->ssl_mode.literal)) {
      d.Fail(d.Join(path, "sslMode"),
             "must be one of disable, allow, prefer, require, verify-ca, verify-full");
    }
  }
  if (const json* source = Field(node, "passwordFrom")) {
    DecodeValueSource(d, *source, path + ".passwordFrom", &db->password);
  }
  if (auto s = d.StringAt(node, path, "schema")) {
    db->schema = *s;
    if (s->empty() || s->size() > 63) d.Fail(path + ".schema", "must be 1 to 63 characters");
  }
}

void DecodeLedger(Decoder& d, const json& node, const std::string& path, plan::LedgerSpec* ledger) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path, {"table", "historyTable", "idType"});
  d.OneOfAt<plan::LedgerIdType>(node, path, "idType",
                                {{"integer", plan::LedgerIdType::kInteger},
                                 {"bigint", plan::LedgerIdType::kBigint},
                                 {"smallint", plan::LedgerIdType::kSmallint}},
                                &ledger->id_type);
  const std::pair<const char*, std::string*> fields[] = {{"table", &ledger->table},
                                                         {"historyTable", &ledger->history_table}};
  for (const auto& [name, target] : fields) {
    if (auto s = d.StringAt(node, path, name)) {
      if (!std::regex_match(*s, kSqlIdentifier) || s->size() > 63) {
        d.Fail(d.Join(path, name), "must be a table name of letters, digits and _ (at most 63)");
      }
      *target = *s;
    }
  }
  if (ledger->table == ledger->history_table) {
    d.Fail(path + ".historyTable", "must differ from ledger.table");
  }
}

void DecodeStep(Decoder& d, const json& node, const std::string& path, plan::Step* step) {
  step->origin = path;
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(
      node, path,
      {"app", "name", "dependencies", "atomic", "forward", "backward", "replaces", "python",
       "initial", "irreversibleReason", "phase", "lintAllow", "kind", "batchDelay", "maxBatches"});
  if (auto s = d.RequiredStringAt(node, path, "app", "the Django app label, e.g. shop")) {
    step->id.app = *s;
    if (s->size() > kMaxNameBytes) {
      d.Fail(path + ".app", TooLong(*s, kMaxNameBytes, "the ledger's app column"));
    } else if (!IsAppLabel(*s)) {
      d.Fail(path + ".app", "\"" + *s + "\" is not an app label (letters, digits, _)");
    }
  }
  if (auto s = d.RequiredStringAt(node, path, "name", "the migration's name, e.g. 0001_initial")) {
    step->id.name = *s;
    if (s->size() > kMaxNameBytes) {
      d.Fail(path + ".name", TooLong(*s, kMaxNameBytes, "the ledger's name column"));
    } else if (!IsStepName(*s)) {
      d.Fail(path + ".name", "\"" + *s + "\" is not a migration name (letters, digits, _)");
    }
  }
  if (const json* ids = Field(node, "dependencies")) {
    step->dependencies = d.Ids(*ids, path + ".dependencies");
  }
  if (const json* ids = Field(node, "replaces")) step->replaces = d.Ids(*ids, path + ".replaces");
  d.BoolAt(node, path, "atomic", &step->atomic);
  d.BoolAt(node, path, "python", &step->python);
  d.BoolAt(node, path, "initial", &step->initial);
  d.OneOfAt<plan::Phase>(
      node, path, "phase",
      {{"PreDeploy", plan::Phase::kPreDeploy}, {"PostDeploy", plan::Phase::kPostDeploy}},
      &step->phase);
  if (const json* list = d.ListAt(node, path, "lintAllow")) {
    DecodeLintAllow(d, *list, path + ".lintAllow", &step->lint_allow);
  }
  // A null SQL field counts as absent: a null backward leaves the step irreversible.
  const auto sql = [&](const char* key) -> std::optional<std::string> {
    const json* field = Field(node, key);
    if (!field || field->is_null()) return std::nullopt;
    auto s = d.String(*field, path + "." + key);
    if (s && s->size() > kMaxSqlBytes) {
      d.Fail(path + "." + key, TooLong(*s, kMaxSqlBytes, "a step's SQL"));
      return std::nullopt;
    }
    return s;
  };
  if (auto s = sql("forward")) step->forward = *s;
  if (auto s = sql("backward")) step->backward = *s;
  DecodeStepKind(d, node, path, step);
  if (auto s = d.StringAt(node, path, "irreversibleReason")) {
    if (step->backward) {
      d.Fail(path + ".irreversibleReason",
             "a step with backward SQL is reversible; remove irreversibleReason or backward");
    } else if (s->size() > plan::kMaxIrreversibleReason) {
      d.Fail(path + ".irreversibleReason",
             "at most " + std::to_string(plan::kMaxIrreversibleReason) + " bytes; shorten it");
    } else {
      step->irreversible_reason = *s;
    }
  }
}

void DecodePolicy(Decoder& d, const json& node, const std::string& path, plan::Policy* policy) {
  using namespace plan;
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"revert", "lockTimeout", "statementTimeout", "concurrentLockTimeout", "lint",
                 "checksum", "unknownApplied", "pythonSteps", "approval"});
  d.OneOfAt<RevertPolicy>(node, path, "revert",
                          {{"Deny", RevertPolicy::kDeny}, {"Allow", RevertPolicy::kAllow}},
                          &policy->revert);
  d.OneOfAt<LintPolicy>(
      node, path, "lint",
      {{"Off", LintPolicy::kOff}, {"Warn", LintPolicy::kWarn}, {"Block", LintPolicy::kBlock}},
      &policy->lint);
  d.OneOfAt<ChecksumPolicy>(node, path, "checksum",
                            {{"Block", ChecksumPolicy::kBlock},
                             {"Warn", ChecksumPolicy::kWarn},
                             {"Ignore", ChecksumPolicy::kIgnore}},
                            &policy->checksum);
  d.OneOfAt<UnknownAppliedPolicy>(
      node, path, "unknownApplied",
      {{"Warn", UnknownAppliedPolicy::kWarn}, {"Block", UnknownAppliedPolicy::kBlock}},
      &policy->unknown_applied);
  d.OneOfAt<PythonStepsPolicy>(node, path, "pythonSteps",
                               {{"Block", PythonStepsPolicy::kBlock},
                                {"RecordOnly", PythonStepsPolicy::kRecordOnly},
                                {"Run", PythonStepsPolicy::kRun}},
                               &policy->python_steps);
  d.OneOfAt<ApprovalPolicy>(
      node, path, "approval",
      {{"None", ApprovalPolicy::kNone}, {"Required", ApprovalPolicy::kRequired}},
      &policy->approval);
  const std::pair<const char*, std::chrono::milliseconds*> durations[] = {
      {"lockTimeout", &policy->lock_timeout},
      {"statementTimeout", &policy->statement_timeout},
      {"concurrentLockTimeout", &policy->concurrent_lock_timeout}};
  for (const auto& [name, target] : durations) {
    auto s = d.StringAt(node, path, name);
    if (s && !ParseDuration(*s, target)) {
      d.Fail(d.Join(path, name), "\"" + *s + "\" is not a duration; write e.g. 5s, 15m, 1h30m");
    }
  }
}

void DecodeConfigMapRefs(Decoder& d, const json& list, const std::string& path,
                         std::vector<std::string>* names) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = d.Index(path, i);
    const json& item = list[i];
    if (!d.ExpectMap(item, item_path)) continue;
    d.CheckFields(item, item_path, {"configMapRef"});
    const json* ref = Field(item, "configMapRef");
    if (!ref || !ref->is_object() || !Field(*ref, "name")) {
      d.Fail(item_path + ".configMapRef.name", "required: the ConfigMap's name");
      continue;
    }
    d.CheckFields(*ref, item_path + ".configMapRef", {"name"});
    if (auto s = d.StringAt(*ref, item_path + ".configMapRef", "name")) names->push_back(*s);
  }
}

void DecodeTargets(Decoder& d, const json& list, const std::string& path,
                   std::vector<plan::Target>* targets) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = d.Index(path, i);
    const json& item = list[i];
    if (!d.ExpectMap(item, item_path)) continue;
    d.CheckFields(item, item_path, {"app", "migration"});
    plan::Target target;
    if (auto s = d.RequiredStringAt(item, item_path, "app", "the app label")) target.app = *s;
    if (auto s = d.RequiredStringAt(item, item_path, "migration",
                                    "a step name of the app, or \"zero\"")) {
      target.migration = *s;
    }
    targets->push_back(target);
  }
}

void DecodeResolutions(Decoder& d, const json& list, const std::string& path,
                       std::vector<plan::Resolution>* resolutions) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = d.Index(path, i);
    const json& item = list[i];
    if (!d.ExpectMap(item, item_path)) continue;
    d.CheckFields(item, item_path, {"migration", "state"});
    plan::Resolution resolution;
    if (const json* migration = Field(item, "migration")) {
      if (auto id = d.Id(*migration, item_path + ".migration")) resolution.migration = *id;
    } else {
      d.Fail(item_path + ".migration", "required: app.migration");
    }
    if (!Field(item, "state")) d.Fail(item_path + ".state", "required: applied or unapplied");
    d.OneOfAt<plan::ResolvedState>(item, item_path, "state",
                                   {{"applied", plan::ResolvedState::kApplied},
                                    {"unapplied", plan::ResolvedState::kUnapplied}},
                                   &resolution.state);
    resolutions->push_back(resolution);
  }
}

void DecodeSpec(Decoder& d, const json& spec, plan::MigrationPlan* plan) {
  const std::string path = "spec";
  if (!d.ExpectMap(spec, path)) return;
  d.CheckFields(
      spec, path,
      {"database", "ledger", "migrations", "migrationsFrom", "targets", "policy", "fake",
       "fakeInitial", "dryRun", "suspend", "resolve", "runner", "approvedDigest", "rollout"});
  if (const json* db = Field(spec, "database")) {
    DecodeDatabase(d, *db, "spec.database", &plan->database);
  }
  if (const json* ledger = Field(spec, "ledger")) {
    DecodeLedger(d, *ledger, "spec.ledger", &plan->ledger);
  }
  if (const json* list = d.ListAt(spec, path, "migrations"); list && list->size() > kMaxSteps) {
    d.Fail("spec.migrations", TooMany(list->size()));
  } else if (list) {
    for (size_t i = 0; i < list->size(); ++i) {
      plan::Step step;
      DecodeStep(d, (*list)[i], d.Index("spec.migrations", i), &step);
      plan->migrations.push_back(std::move(step));
    }
  }
  if (const json* list = d.ListAt(spec, path, "migrationsFrom")) {
    DecodeConfigMapRefs(d, *list, "spec.migrationsFrom", &plan->config_map_names);
  }
  if (const json* list = d.ListAt(spec, path, "targets")) {
    DecodeTargets(d, *list, "spec.targets", &plan->targets);
  }
  if (const json* policy = Field(spec, "policy")) {
    DecodePolicy(d, *policy, "spec.policy", &plan->policy);
  }
  if (const json* runner = Field(spec, "runner")) {
    DecodeRunner(d, *runner, "spec.runner", &plan->runner.emplace());
  }
  if (const json* rollout = Field(spec, "rollout")) {
    DecodeRollout(d, *rollout, "spec.rollout", &plan->rollout.emplace());
  }
  if (plan->policy.python_steps == plan::PythonStepsPolicy::kRun && !plan->runner) {
    d.Fail("spec.runner",
           "required with policy.pythonSteps: Run: how to run a step with the app's code, e.g. "
           "{command: [python3, manage.py, tidemark_step]}");
  }
  DecodeApprovedDigest(d, spec, path, &plan->approved_digest);
  if (const json* fake = Field(spec, "fake")) plan->fake = d.Ids(*fake, "spec.fake");
  d.BoolAt(spec, path, "fakeInitial", &plan->fake_initial);
  d.BoolAt(spec, path, "dryRun", &plan->dry_run);
  d.BoolAt(spec, path, "suspend", &plan->suspend);
  if (const json* list = d.ListAt(spec, path, "resolve")) {
    DecodeResolutions(d, *list, "spec.resolve", &plan->resolve);
  }
}

// metadata.generation: a number from the API server, its text from a YAML file.
int64_t Generation(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  const std::string text = ScalarText(value).value_or("");
  int64_t generation = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), generation);
  return error == std::errc() && end == text.data() + text.size() ? generation : 0;
}

void DecodeMetadata(Decoder& d, const json& object, plan::ObjectMeta* meta) {
  const json* metadata = Field(object, "metadata");
  if (!metadata || !metadata->is_object() || !Field(*metadata, "name")) {
    d.Fail("metadata.name", "required: the plan's name, e.g. shop");
    return;
  }
  if (auto s = d.StringAt(*metadata, "metadata", "name")) {
    meta->name = *s;
    CheckObjectName(d, "metadata.name", *s);
  }
  if (auto s = d.StringAt(*metadata, "metadata", "namespace")) meta->ns = *s;
  if (const json* uid = Field(*metadata, "uid")) meta->uid = ScalarText(*uid).value_or("");
  if (const json* generation = Field(*metadata, "generation")) {
    meta->generation = Generation(*generation);
  }
}

}  // namespace

std::string TooMany(size_t steps) {
  return GroupThousands(steps) + " steps, more than the " + GroupThousands(kMaxSteps) +
         " a plan may hold; squash old migrations (Django's squashmigrations) or split the "
         "apps across plans with their own ledger tables";
}

bool ParseDuration(const std::string& text, std::chrono::milliseconds* out) {
  if (text == "0") {
    *out = std::chrono::milliseconds(0);
    return true;
  }
  static const std::regex kPart("([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h)");
  double total_ms = 0;
  size_t consumed = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPart);
       it != std::sregex_iterator(); ++it) {
    if (static_cast<size_t>(it->position()) != consumed) return false;
    consumed += it->length();
    // strtod, not stod: hundreds of digits are HUGE_VAL, not an exception.
    const double number = std::strtod((*it)[1].str().c_str(), nullptr);
    const std::string unit = (*it)[2];
    total_ms += number * (unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 6e4 : 3.6e6);
  }
  if (consumed == 0 || consumed != text.size()) return false;
  if (!(total_ms <= static_cast<double>(kMaxDuration.count()))) return false;  // NaN too
  *out = std::chrono::milliseconds(static_cast<int64_t>(total_ms));
  return true;
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Result<plan::MigrationPlan> DecodePlan(const json& object, const std::string& origin) {
  Decoder d(origin);
  plan::MigrationPlan plan;
  if (!d.ExpectMap(object, "(document)")) return d.Result();
  d.CheckFields(object, "", {"apiVersion", "kind", "metadata", "spec", "status"});
  const json* api_version_field = Field(object, "apiVersion");
  const std::string api_version =
      api_version_field ? ScalarText(*api_version_field).value_or("") : "";
  if (api_version != kApiVersion) {
    d.Fail("apiVersion", "must be " + std::string(kApiVersion) + " (got \"" + api_version + "\")");
  }
  DecodeMetadata(d, object, &plan.meta);
  if (const json* spec = Field(object, "spec")) {
    DecodeSpec(d, *spec, &plan);
  } else {
    d.Fail("spec", "required: the plan's database, migrations and targets");
  }
  TM_RETURN_IF_ERROR(d.Result());
  return plan;
}

Result<std::vector<plan::Step>> DecodeSteps(const json& list, const std::string& origin) {
  Decoder d(origin);
  std::vector<plan::Step> steps;
  if (d.ExpectList(list, origin) && list.size() > kMaxSteps) {
    d.Fail(origin, TooMany(list.size()));
  } else if (list.is_array()) {
    for (size_t i = 0; i < list.size(); ++i) {
      plan::Step step;
      DecodeStep(d, list[i], d.Index(origin, i), &step);
      steps.push_back(std::move(step));
    }
  }
  TM_RETURN_IF_ERROR(d.Result());
  return steps;
}

}  // namespace tidemark::resource
