#include "spec/decode.h"

#include <algorithm>
#include <functional>
#include <map>
#include <regex>
#include <set>

namespace tidemark::spec {
namespace {

using plan::StepId;

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Collects every problem of one document with its field path.
class Decoder {
 public:
  explicit Decoder(std::string origin) : origin_(std::move(origin)) {}

  void Fail(const std::string& path, const std::string& message) {
    errors_.push_back(path + ": " + message);
  }

  Status Result() const {
    if (errors_.empty()) return Status::Ok();
    std::string text = origin_ + ": invalid MigrationPlan:";
    for (const auto& e : errors_) text += "\n  " + e;
    return Status::InvalidArgument(text);
  }

  // Reports fields of `node` that are not in `known`, with a suggestion when one is close.
  void CheckFields(const YAML::Node& node, const std::string& path,
                   std::initializer_list<const char*> known) {
    for (const auto& entry : node) {
      const std::string key = entry.first.Scalar();
      if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) !=
          known.end()) {
        continue;
      }
      std::string best;
      size_t best_distance = 3;
      for (const char* k : known) {
        // "password" -> "passwordFrom": a prefix counts as close.
        const size_t d = std::string_view(k).starts_with(key) ? 1 : EditDistance(key, k);
        if (d < best_distance) best_distance = d, best = k;
      }
      std::string known_list;
      for (const char* k : known) known_list += std::string(known_list.empty() ? "" : ", ") + k;
      Fail(Join(path, key), "unknown field" + (best.empty() ? "; known fields here: " + known_list
                                                            : "; did you mean \"" + best + "\"?"));
    }
  }

  bool ExpectMap(const YAML::Node& node, const std::string& path) {
    if (node.IsMap()) return true;
    Fail(path, "must be an object (key: value pairs)");
    return false;
  }

  bool ExpectList(const YAML::Node& node, const std::string& path) {
    if (node.IsSequence()) return true;
    Fail(path, "must be a list");
    return false;
  }

  std::optional<std::string> String(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      Fail(path, "must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<bool> Bool(const YAML::Node& node, const std::string& path) {
    const std::string& s = node.IsScalar() ? node.Scalar() : "";
    if (s == "true" || s == "True") return true;
    if (s == "false" || s == "False") return false;
    Fail(path, "must be true or false");
    return std::nullopt;
  }

  template <typename Enum>
  std::optional<Enum> OneOf(const YAML::Node& node, const std::string& path,
                            const std::vector<std::pair<const char*, Enum>>& choices) {
    const std::string s = node.IsScalar() ? node.Scalar() : "";
    std::string names;
    for (const auto& [name, value] : choices) {
      if (s == name) return value;
      names += std::string(names.empty() ? "" : ", ") + name;
    }
    Fail(path, "must be one of " + names + (s.empty() ? "" : " (got \"" + s + "\")"));
    return std::nullopt;
  }

  std::optional<StepId> Id(const YAML::Node& node, const std::string& path) {
    auto text = String(node, path);
    if (!text) return std::nullopt;
    auto id = plan::ParseStepId(*text);
    if (!id) Fail(path, "\"" + *text + "\" is not app.migration; write e.g. auth.0001_initial");
    return id;
  }

  std::vector<StepId> Ids(const YAML::Node& node, const std::string& path) {
    std::vector<StepId> ids;
    if (!ExpectList(node, path)) return ids;
    for (size_t i = 0; i < node.size(); ++i) {
      if (auto id = Id(node[i], Index(path, i))) ids.push_back(*id);
    }
    return ids;
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  std::string origin_;
  std::vector<std::string> errors_;
};

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
// App labels are Python identifiers; step names are module names (may start with a digit).
bool IsAppLabel(const std::string& s) {
  return !s.empty() && !std::isdigit(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), IsWordChar);
}
bool IsStepName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsWordChar);
}
// Kubernetes object names (DNS-1123 subdomain).
const std::regex kObjectName("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
const std::regex kSqlIdentifier("^[A-Za-z_][A-Za-z0-9_$]*$");

void DecodeValueSource(Decoder& d, const YAML::Node& node, const std::string& path,
                       plan::Value* value) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path, {"secretKeyRef", "env", "file"});
  plan::ValueSource source;
  int kinds = 0;
  if (node["secretKeyRef"]) {
    ++kinds;
    const std::string ref_path = path + ".secretKeyRef";
    const YAML::Node ref = node["secretKeyRef"];
    if (d.ExpectMap(ref, ref_path)) {
      d.CheckFields(ref, ref_path, {"name", "key", "optional"});
      source.kind = plan::ValueSource::Kind::kSecretKeyRef;
      if (!ref["name"])
        d.Fail(ref_path + ".name", "required: the Secret's name");
      else if (auto s = d.String(ref["name"], ref_path + ".name"))
        source.secret_name = *s;
      if (!ref["key"])
        d.Fail(ref_path + ".key", "required: the key inside the Secret");
      else if (auto s = d.String(ref["key"], ref_path + ".key"))
        source.secret_key = *s;
    }
  }
  if (node["env"]) {
    ++kinds;
    source.kind = plan::ValueSource::Kind::kEnv;
    if (auto s = d.String(node["env"], path + ".env")) source.env = *s;
  }
  if (node["file"]) {
    ++kinds;
    source.kind = plan::ValueSource::Kind::kFile;
    if (auto s = d.String(node["file"], path + ".file")) source.file = *s;
  }
  if (kinds != 1) {
    d.Fail(path, "set exactly one of secretKeyRef, env, file");
    return;
  }
  value->from = source;
}

void DecodeDatabase(Decoder& d, const YAML::Node& node, const std::string& path,
                    plan::DatabaseSpec* db) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"dsn", "dsnFrom", "host", "hostFrom", "port", "portFrom", "dbname", "dbnameFrom",
                 "user", "userFrom", "passwordFrom", "sslMode", "sslModeFrom", "schema"});
  const std::pair<const char*, plan::Value*> fields[] = {
      {"dsn", &db->dsn},       {"host", &db->host}, {"port", &db->port},
      {"dbname", &db->dbname}, {"user", &db->user}, {"sslMode", &db->ssl_mode}};
  for (const auto& [name, value] : fields) {
    const std::string from = std::string(name) + "From";
    if (node[name] && node[from]) {
      d.Fail(d.Join(path, name), std::string("set either ") + name + " or " + from + ", not both");
      continue;
    }
    if (node[name]) {
      if (auto s = d.String(node[name], d.Join(path, name))) value->literal = *s;
    }
    if (node[from]) DecodeValueSource(d, node[from], d.Join(path, from), value);
  }
  if (db->ssl_mode.literal) {
    static const std::set<std::string> kModes = {"disable", "allow",     "prefer",
                                                 "require", "verify-ca", "verify-full"};
    if (!kModes.count(*db->ssl_mode.literal)) {
      d.Fail(d.Join(path, "sslMode"),
             "must be one of disable, allow, prefer, require, verify-ca, verify-full");
    }
  }
  if (node["passwordFrom"])
    DecodeValueSource(d, node["passwordFrom"], path + ".passwordFrom", &db->password);
  if (node["schema"]) {
    if (auto s = d.String(node["schema"], path + ".schema")) {
      db->schema = *s;
      if (s->empty() || s->size() > 63) d.Fail(path + ".schema", "must be 1 to 63 characters");
    }
  }
}

void DecodeLedger(Decoder& d, const YAML::Node& node, const std::string& path,
                  plan::LedgerSpec* ledger) {
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path, {"table", "historyTable"});
  const std::pair<const char*, std::string*> fields[] = {{"table", &ledger->table},
                                                         {"historyTable", &ledger->history_table}};
  for (const auto& [name, target] : fields) {
    if (!node[name]) continue;
    if (auto s = d.String(node[name], d.Join(path, name))) {
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

void DecodeStep(Decoder& d, const YAML::Node& node, const std::string& path, plan::Step* step) {
  step->origin = path;
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"app", "name", "dependencies", "atomic", "forward", "backward", "replaces",
                 "python", "initial"});
  if (!node["app"]) {
    d.Fail(path + ".app", "required: the Django app label, e.g. shop");
  } else if (auto s = d.String(node["app"], path + ".app")) {
    step->id.app = *s;
    if (!IsAppLabel(*s)) {
      d.Fail(path + ".app", "\"" + *s + "\" is not an app label (letters, digits, _)");
    }
  }
  if (!node["name"]) {
    d.Fail(path + ".name", "required: the migration's name, e.g. 0001_initial");
  } else if (auto s = d.String(node["name"], path + ".name")) {
    step->id.name = *s;
    if (!IsStepName(*s)) {
      d.Fail(path + ".name", "\"" + *s + "\" is not a migration name (letters, digits, _)");
    }
  }
  if (node["dependencies"])
    step->dependencies = d.Ids(node["dependencies"], path + ".dependencies");
  if (node["replaces"]) step->replaces = d.Ids(node["replaces"], path + ".replaces");
  if (node["atomic"]) {
    if (auto b = d.Bool(node["atomic"], path + ".atomic")) step->atomic = *b;
  }
  if (node["python"]) {
    if (auto b = d.Bool(node["python"], path + ".python")) step->python = *b;
  }
  if (node["initial"]) {
    if (auto b = d.Bool(node["initial"], path + ".initial")) step->initial = *b;
  }
  if (node["forward"] && !node["forward"].IsNull()) {
    if (auto s = d.String(node["forward"], path + ".forward")) step->forward = *s;
  }
  if (node["backward"] && !node["backward"].IsNull()) {
    if (auto s = d.String(node["backward"], path + ".backward")) step->backward = *s;
  }
}

void DecodePolicy(Decoder& d, const YAML::Node& node, const std::string& path,
                  plan::Policy* policy) {
  using namespace plan;
  if (!d.ExpectMap(node, path)) return;
  d.CheckFields(node, path,
                {"revert", "lockTimeout", "statementTimeout", "lint", "checksum", "unknownApplied",
                 "pythonSteps"});
  if (node["revert"]) {
    if (auto v = d.OneOf<RevertPolicy>(
            node["revert"], path + ".revert",
            {{"Deny", RevertPolicy::kDeny}, {"Allow", RevertPolicy::kAllow}})) {
      policy->revert = *v;
    }
  }
  if (node["lint"]) {
    if (auto v = d.OneOf<LintPolicy>(node["lint"], path + ".lint",
                                     {{"Off", LintPolicy::kOff},
                                      {"Warn", LintPolicy::kWarn},
                                      {"Block", LintPolicy::kBlock}})) {
      policy->lint = *v;
    }
  }
  if (node["checksum"]) {
    if (auto v = d.OneOf<ChecksumPolicy>(node["checksum"], path + ".checksum",
                                         {{"Block", ChecksumPolicy::kBlock},
                                          {"Warn", ChecksumPolicy::kWarn},
                                          {"Ignore", ChecksumPolicy::kIgnore}})) {
      policy->checksum = *v;
    }
  }
  if (node["unknownApplied"]) {
    if (auto v = d.OneOf<UnknownAppliedPolicy>(
            node["unknownApplied"], path + ".unknownApplied",
            {{"Warn", UnknownAppliedPolicy::kWarn}, {"Block", UnknownAppliedPolicy::kBlock}})) {
      policy->unknown_applied = *v;
    }
  }
  if (node["pythonSteps"]) {
    if (auto v = d.OneOf<PythonStepsPolicy>(node["pythonSteps"], path + ".pythonSteps",
                                            {{"Block", PythonStepsPolicy::kBlock},
                                             {"RecordOnly", PythonStepsPolicy::kRecordOnly}})) {
      policy->python_steps = *v;
    }
  }
  const std::pair<const char*, std::chrono::milliseconds*> durations[] = {
      {"lockTimeout", &policy->lock_timeout}, {"statementTimeout", &policy->statement_timeout}};
  for (const auto& [name, target] : durations) {
    if (!node[name]) continue;
    auto s = d.String(node[name], d.Join(path, name));
    if (s && !ParseDuration(*s, target)) {
      d.Fail(d.Join(path, name), "\"" + *s + "\" is not a duration; write e.g. 5s, 15m, 1h30m");
    }
  }
}

void DecodeSpec(Decoder& d, const YAML::Node& spec, plan::MigrationPlan* plan) {
  const std::string path = "spec";
  if (!d.ExpectMap(spec, path)) return;
  d.CheckFields(spec, path,
                {"database", "ledger", "migrations", "migrationsFrom", "targets", "policy", "fake",
                 "fakeInitial", "dryRun", "suspend", "resolve"});
  if (spec["database"]) DecodeDatabase(d, spec["database"], "spec.database", &plan->database);
  if (spec["ledger"]) DecodeLedger(d, spec["ledger"], "spec.ledger", &plan->ledger);
  if (spec["migrations"] && d.ExpectList(spec["migrations"], "spec.migrations")) {
    for (size_t i = 0; i < spec["migrations"].size(); ++i) {
      plan::Step step;
      DecodeStep(d, spec["migrations"][i], d.Index("spec.migrations", i), &step);
      plan->migrations.push_back(std::move(step));
    }
  }
  if (spec["migrationsFrom"] && d.ExpectList(spec["migrationsFrom"], "spec.migrationsFrom")) {
    for (size_t i = 0; i < spec["migrationsFrom"].size(); ++i) {
      const std::string item_path = d.Index("spec.migrationsFrom", i);
      const YAML::Node item = spec["migrationsFrom"][i];
      if (!d.ExpectMap(item, item_path)) continue;
      d.CheckFields(item, item_path, {"configMapRef"});
      const YAML::Node ref = item["configMapRef"];
      if (!ref || !ref.IsMap() || !ref["name"]) {
        d.Fail(item_path + ".configMapRef.name", "required: the ConfigMap's name");
        continue;
      }
      d.CheckFields(ref, item_path + ".configMapRef", {"name"});
      if (auto s = d.String(ref["name"], item_path + ".configMapRef.name")) {
        plan->config_map_names.push_back(*s);
      }
    }
  }
  if (spec["targets"] && d.ExpectList(spec["targets"], "spec.targets")) {
    for (size_t i = 0; i < spec["targets"].size(); ++i) {
      const std::string item_path = d.Index("spec.targets", i);
      const YAML::Node item = spec["targets"][i];
      if (!d.ExpectMap(item, item_path)) continue;
      d.CheckFields(item, item_path, {"app", "migration"});
      plan::Target target;
      if (!item["app"])
        d.Fail(item_path + ".app", "required: the app label");
      else if (auto s = d.String(item["app"], item_path + ".app"))
        target.app = *s;
      if (!item["migration"]) {
        d.Fail(item_path + ".migration", "required: a step name of the app, or \"zero\"");
      } else if (auto s = d.String(item["migration"], item_path + ".migration")) {
        target.migration = *s;
      }
      plan->targets.push_back(target);
    }
  }
  if (spec["policy"]) DecodePolicy(d, spec["policy"], "spec.policy", &plan->policy);
  if (spec["fake"]) plan->fake = d.Ids(spec["fake"], "spec.fake");
  const std::pair<const char*, bool*> flags[] = {{"fakeInitial", &plan->fake_initial},
                                                 {"dryRun", &plan->dry_run},
                                                 {"suspend", &plan->suspend}};
  for (const auto& [name, target] : flags) {
    if (!spec[name]) continue;
    if (auto b = d.Bool(spec[name], d.Join(path, name))) *target = *b;
  }
  if (spec["resolve"] && d.ExpectList(spec["resolve"], "spec.resolve")) {
    for (size_t i = 0; i < spec["resolve"].size(); ++i) {
      const std::string item_path = d.Index("spec.resolve", i);
      const YAML::Node item = spec["resolve"][i];
      if (!d.ExpectMap(item, item_path)) continue;
      d.CheckFields(item, item_path, {"migration", "state"});
      plan::Resolution resolution;
      if (!item["migration"])
        d.Fail(item_path + ".migration", "required: app.migration");
      else if (auto id = d.Id(item["migration"], item_path + ".migration")) {
        resolution.migration = *id;
      }
      if (!item["state"]) {
        d.Fail(item_path + ".state", "required: applied or unapplied");
      } else if (auto state = d.OneOf<plan::ResolvedState>(
                     item["state"], item_path + ".state",
                     {{"applied", plan::ResolvedState::kApplied},
                      {"unapplied", plan::ResolvedState::kUnapplied}})) {
        resolution.state = *state;
      }
      plan->resolve.push_back(resolution);
    }
  }
}

}  // namespace

YAML::Node FromJson(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      YAML::Node node(YAML::NodeType::Map);
      // JSON keys are unique: no lookup (node[key] compares with every key so far).
      for (const auto& [key, item] : value.items()) node.force_insert(key, FromJson(item));
      return node;
    }
    case nlohmann::json::value_t::array: {
      YAML::Node node(YAML::NodeType::Sequence);
      for (const auto& item : value) node.push_back(FromJson(item));
      return node;
    }
    case nlohmann::json::value_t::string:
      return YAML::Node(value.get<std::string>());
    case nlohmann::json::value_t::null:
      return YAML::Node(YAML::NodeType::Null);
    default:  // numbers and booleans keep their JSON spelling, as YAML scalars do
      return YAML::Node(value.dump());
  }
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
    const double number = std::stod((*it)[1]);
    const std::string unit = (*it)[2];
    total_ms += number * (unit == "ms" ? 1 : unit == "s" ? 1e3 : unit == "m" ? 6e4 : 3.6e6);
  }
  if (consumed == 0 || consumed != text.size()) return false;
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

Result<plan::MigrationPlan> DecodePlan(const YAML::Node& node, const std::string& origin) {
  Decoder d(origin);
  plan::MigrationPlan plan;
  try {
    if (!d.ExpectMap(node, "(document)")) return d.Result();
    d.CheckFields(node, "", {"apiVersion", "kind", "metadata", "spec", "status"});
    const std::string api_version =
        node["apiVersion"] ? node["apiVersion"].as<std::string>("") : "";
    if (api_version != kApiVersion) {
      d.Fail("apiVersion",
             "must be " + std::string(kApiVersion) + " (got \"" + api_version + "\")");
    }
    const YAML::Node metadata = node["metadata"];
    if (!metadata || !metadata.IsMap() || !metadata["name"]) {
      d.Fail("metadata.name", "required: the plan's name, e.g. shop");
    } else {
      if (auto s = d.String(metadata["name"], "metadata.name")) {
        plan.meta.name = *s;
        if (!std::regex_match(*s, kObjectName) || s->size() > 253) {
          d.Fail("metadata.name", "\"" + *s +
                                      "\" is not a Kubernetes name (lower-case "
                                      "letters, digits, '-' and '.')");
        }
      }
      if (metadata["namespace"]) {
        if (auto s = d.String(metadata["namespace"], "metadata.namespace")) plan.meta.ns = *s;
      }
      if (metadata["uid"]) plan.meta.uid = metadata["uid"].as<std::string>("");
      if (metadata["generation"]) plan.meta.generation = metadata["generation"].as<int64_t>(0);
    }
    if (!node["spec"]) {
      d.Fail("spec", "required: the plan's database, migrations and targets");
    } else {
      DecodeSpec(d, node["spec"], &plan);
    }
  } catch (const YAML::Exception& e) {
    d.Fail("(document)", e.what());
  }
  TM_RETURN_IF_ERROR(d.Result());
  return plan;
}

Result<std::vector<plan::Step>> DecodeSteps(const YAML::Node& node, const std::string& origin) {
  Decoder d(origin);
  std::vector<plan::Step> steps;
  try {
    if (d.ExpectList(node, origin)) {
      for (size_t i = 0; i < node.size(); ++i) {
        plan::Step step;
        DecodeStep(d, node[i], d.Index(origin, i), &step);
        steps.push_back(std::move(step));
      }
    }
  } catch (const YAML::Exception& e) {
    d.Fail(origin, e.what());
  }
  TM_RETURN_IF_ERROR(d.Result());
  return steps;
}

}  // namespace tidemark::spec
