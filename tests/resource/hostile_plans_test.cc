// Malformed and hostile plan files, each with the exact message a user sees: the file, the
// document and the field named, the limit said, and every message bounded and valid UTF-8
// however large or strange the input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/text.h"
#include "plan/graph.h"
#include "resource/decode.h"
#include "resource/documents.h"
#include "resource/objects.h"

namespace tidemark::resource {
namespace {

// What loading `text` as plan.yaml ends with: the load's error, the completion's, the
// graph's problem ("Reason: message"), or "ok".
std::string Load(const std::string& text) {
  LoadedFiles files;
  if (Status added = files.AddText(text, "plan.yaml"); !added.ok()) return added.message();
  if (files.plans.empty()) return "no plan";
  plan::MigrationPlan plan = files.plans.front();
  if (Status completed = CompletePlan(&plan, files); !completed.ok()) return completed.message();
  if (auto problem = plan::Validate(plan)) {
    return std::string(plan::ReasonName(problem->reason)) + ": " + problem->message;
  }
  return "ok";
}

const std::string kHead =
    "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: shop}\n";
const std::string kDatabase = "  database: {dsn: \"postgresql://app@db/shop\"}\n";

// A plan with `steps` (YAML list items, indented 4) and more spec lines.
std::string Plan(const std::string& steps, const std::string& spec = "") {
  return kHead + "spec:\n" + kDatabase + "  migrations:\n" + steps + spec;
}
std::string Step(const std::string& fields) { return "    - {" + fields + "}\n"; }

std::string Repeat(const std::string& text, size_t times) {
  std::string out;
  out.reserve(text.size() * times);
  for (size_t i = 0; i < times; ++i) out += text;
  return out;
}

// `count` steps of app a, each depending on the one before (or, `chained` false, none).
std::string ManySteps(size_t count, bool chained) {
  std::string steps;
  for (size_t i = 0; i < count; ++i) {
    steps += "    - {app: a, name: s" + std::to_string(i) + ", forward: SELECT 1";
    if (chained && i > 0) steps += ", dependencies: [a.s" + std::to_string(i - 1) + "]";
    steps += "}\n";
  }
  return steps;
}

// A ConfigMap beside the plan holding `steps_yaml` under steps.yaml.
std::string WithConfigMap(const std::string& plan, const std::string& steps_yaml) {
  std::string indented;
  size_t start = 0;
  while (start < steps_yaml.size()) {
    const size_t end = steps_yaml.find('\n', start);
    indented += "    " + steps_yaml.substr(start, end - start) + "\n";
    start = end == std::string::npos ? steps_yaml.size() : end + 1;
  }
  return plan + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: more}\ndata:\n" +
         "  steps.yaml: |\n" + indented;
}
const std::string kFromConfigMap = "  migrationsFrom: [{configMapRef: {name: more}}]\n";

struct Case {
  std::string name;
  std::string text;
  std::string expected;
};

const std::string kLong(300, 'x');
const std::string kInvalidUtf8 = "caf\xC3";  // a two-byte character cut short
const std::string kE = "\xC3\xA9";           // é

std::vector<Case> Cases() {
  const std::string one = Step("app: a, name: \"0001\", forward: SELECT 1");
  return {
      // Not a document at all.
      {"binary_garbage", "\x01\x02\x03", "no plan"},
      {"unclosed_flow", kHead + "spec: {database: {dsn: x}\n",
       "plan.yaml: not valid YAML at line 5, column 1: end of map flow not found"},
      {"unclosed_quote", kHead + "spec:\n  migrations: [{app: \"a}]\n",
       "plan.yaml: not valid YAML at line 6, column 1: end of map flow not found"},
      {"tab_indent", kHead + "spec:\n\tmigrations: []\n",
       "plan.yaml: not valid YAML at line 5, column 12: illegal map value"},
      {"json_truncated", "{\"apiVersion\": \"tidemark.dev/v1alpha1\", \"kind\":",
       "plan.yaml: not valid JSON: parse error at line 1, column 48: syntax error while parsing "
       "value - unexpected end of input; expected '[', '{', or a literal"},
      {"json_trailing_garbage", "{\"kind\": \"MigrationPlan\"} }",
       "plan.yaml: not valid JSON: parse error at line 1, column 27: syntax error while parsing "
       "value - unexpected '}'; expected end of input"},
      // Found by the fuzzer: the parser throws out_of_range, not parse_error, for it.
      {"json_number_too_large", "{\"kind\": \"MigrationPlan\", \"x\": 1e999}",
       "plan.yaml: not valid JSON: number overflow parsing '1e999'"},
      {"bom", "\xEF\xBB\xBF" + Plan(one), "ok"},
      {"empty_file", "", "no plan"},
      {"only_separators", "---\n---\n", "no plan"},
      {"scalar_document", "just a line of text\n", "no plan"},
      {"list_document", "- a\n- b\n", "no plan"},
      // Nesting.
      {"deep_json_object", Repeat("{\"a\":", 40000) + "1" + Repeat("}", 40000),
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_json_array", "{\"spec\":" + Repeat("[", 40000) + Repeat("]", 40000) + "}",
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_json_65", Repeat("{\"a\":", 65) + "1" + Repeat("}", 65),
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_yaml_flow_sequence", "a: " + Repeat("[", 40000) + Repeat("]", 40000) + "\n",
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_yaml_flow_map", "a: " + Repeat("{a: ", 40000) + "1" + Repeat("}", 40000) + "\n",
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_yaml_block",
       [] {
         std::string text;
         for (int i = 0; i < 2000; ++i) text += std::string(i, ' ') + "a:\n";
         return text;
       }(),
       "plan.yaml: nested deeper than 64 levels"},
      {"deep_yaml_dashes", Repeat("- ", 20000) + "1\n", "plan.yaml: nested deeper than 64 levels"},
      {"deep_yaml_70_block",
       [] {
         std::string text;
         for (int i = 0; i < 70; ++i) text += std::string(i, ' ') + "a:\n";
         return text;
       }(),
       "plan.yaml: nested deeper than 64 levels"},
      // Expansion and size.
      {"billion_laughs",
       "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, "
       "*c]\n"
       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, "
       "*e]\n",
       "plan.yaml: expands into far more values than it spells out (aliases of aliases?)"},
      {"text_too_large", Plan(one) + "# " + std::string(kMaxTextBytes, 'x') + "\n",
       "plan.yaml: " + GroupThousands(Plan(one).size() + kMaxTextBytes + 3) +
           " bytes, more than the 4,194,304 a plan file or ConfigMap key may "
           "hold; split the steps across files or ConfigMaps (spec.migrationsFrom)"},
      {"too_many_steps", Plan(Repeat(one, kMaxSteps + 1)),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations: 20,001 steps, more than the 20,000 "
       "a plan may hold; squash old migrations (Django's squashmigrations) or split the apps "
       "across plans with their own ledger tables"},
      {"too_many_steps_from_config_maps",
       WithConfigMap(Plan(ManySteps(10000, false), kFromConfigMap),
                     [] {
                       std::string steps;
                       for (int i = 0; i < 10001; ++i)
                         steps += "- {app: b, name: s" + std::to_string(i) + "}\n";
                       return steps;
                     }()),
       "spec.migrationsFrom: 20,001 steps, more than the 20,000 a plan may hold; squash old "
       "migrations (Django's squashmigrations) or split the apps across plans with their own "
       "ledger tables"},
      // Names.
      {"app_too_long", Plan(Step("app: " + kLong + ", name: \"0001\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].app: 300 bytes, more than the "
       "255 of the ledger's app column (\"" +
           std::string(37, 'x') + "...\")"},
      {"name_too_long", Plan(Step("app: a, name: " + kLong)),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].name: 300 bytes, more than the "
       "255 of the ledger's name column (\"" +
           std::string(37, 'x') + "...\")"},
      {"app_starts_with_digit", Plan(Step("app: 1shop, name: \"0001\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].app: \"1shop\" is not an app "
       "label (letters, digits, _)"},
      {"name_with_dot", Plan(Step("app: a, name: 0001.x")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].name: \"0001.x\" is not a "
       "migration name (letters, digits, _)"},
      {"name_with_accent", Plan(Step("app: a, name: caf" + kE)),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].name: \"caf" + kE +
           "\" is not a migration name (letters, digits, _)"},
      {"app_missing", Plan(Step("name: \"0001\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].app: required: the Django app "
       "label, e.g. shop"},
      {"empty_name", Plan(Step("app: a, name: \"\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].name: \"\" is not a migration "
       "name (letters, digits, _)"},
      {"huge_bad_name_is_cut", Plan(Step("app: a, name: \"" + Repeat("-", 200) + "\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].name: \"" + Repeat("-", 200) +
           "\" is not a migration name (letters, digits, _)"},
      {"huge_unknown_field_is_cut",
       "{\"apiVersion\": \"tidemark.dev/v1alpha1\", \"kind\": \"MigrationPlan\", \"metadata\": "
       "{\"name\": \"shop\"}, \"spec\": {\"" +
           Repeat("z", 5000) + "\": 1}}",
       "plan.yaml: invalid MigrationPlan:\n  spec." + Repeat("z", 504) + "..."},
      {"plan_name_uppercase",
       "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: Shop}\nspec:\n" +
           kDatabase + "  migrations: []\n",
       "plan.yaml: invalid MigrationPlan:\n  metadata.name: \"Shop\" is not a Kubernetes name "
       "(lower-case letters, digits, '-' and '.')"},
      {"plan_name_missing",
       "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {}\nspec:\n" + kDatabase,
       "plan.yaml: invalid MigrationPlan:\n  metadata.name: required: the plan's name, e.g. shop"},
      // SQL.
      {"sql_too_long",
       Plan(Step("app: a, name: b, forward: \"" + std::string(kMaxSqlBytes + 1, 'x') + "\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].forward: 1,048,577 bytes, more "
       "than the 1,048,576 of a step's SQL (\"" +
           std::string(37, 'x') + "...\")"},
      {"sql_is_a_list", Plan(Step("app: a, name: b, forward: [SELECT 1]")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].forward: must be a string"},
      {"sql_is_a_map", Plan(Step("app: a, name: b, backward: {x: 1}")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].backward: must be a string"},
      // Text that is not UTF-8.
      {"invalid_utf8_in_sql",
       Plan(Step("app: a, name: b, forward: \"SELECT '" + kInvalidUtf8 + "'\"")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].forward: not valid UTF-8 (byte 12 "
       "of the value); save the file as UTF-8"},
      {"invalid_utf8_in_json_sql",
       "{\"apiVersion\": \"tidemark.dev/v1alpha1\", \"kind\": \"MigrationPlan\", \"metadata\": "
       "{\"name\": \"shop\"}, \"spec\": {\"database\": {\"dsn\": \"x\"}, \"migrations\": "
       "[{\"app\": "
       "\"a\", \"name\": \"b\", \"forward\": \"SELECT '" +
           kInvalidUtf8 + "'\"}]}}",
       // The quoted text is made printable: the bad byte shows as U+FFFD.
       "plan.yaml: not valid JSON: parse error at line 1, column 196: syntax error while parsing "
       "value - invalid string: ill-formed UTF-8 byte; last read: '\"SELECT 'caf\xEF\xBF\xBD''"},
      {"invalid_utf8_in_config_map_step",
       WithConfigMap(Plan(one, kFromConfigMap),
                     "- {app: b, name: c, forward: \"" + kInvalidUtf8 + "\"}"),
       "ConfigMap more key steps.yaml: invalid MigrationPlan:\n  ConfigMap more key "
       "steps.yaml[0].forward: not valid UTF-8 (byte 4 of the value); save the file as UTF-8"},
      {"invalid_utf8_in_a_second_document",
       Plan(one) + "---\n" + kHead + "spec:\n  database: {dsn: \"x" + kInvalidUtf8 + "\"}\n",
       "plan.yaml (document 2): invalid MigrationPlan:\n  spec.database.dsn: not valid UTF-8 "
       "(byte 5 of the value); save the file as UTF-8"},
      {"utf8_sql_is_fine", Plan(Step("app: a, name: b, forward: \"SELECT '" + kE + "'\"")), "ok"},
      // Types and fields.
      {"migrations_not_a_list", kHead + "spec:\n" + kDatabase + "  migrations: {app: a}\n",
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations: must be a list"},
      {"step_not_a_map", Plan("    - just text\n"),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0]: must be an object (key: value "
       "pairs)"},
      {"dependencies_not_a_list", Plan(Step("app: a, name: b, dependencies: a.0001")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].dependencies: must be a list"},
      {"dependency_not_an_id", Plan(Step("app: a, name: b, dependencies: [nodot]")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].dependencies[0]: \"nodot\" is not "
       "app.migration; write e.g. auth.0001_initial"},
      {"atomic_not_a_bool", Plan(Step("app: a, name: b, atomic: maybe")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].atomic: must be true or false"},
      {"unknown_field_with_suggestion", Plan(Step("app: a, name: b, fowrard: SELECT 1")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].fowrard: unknown field; did you "
       "mean \"forward\"?"},
      {"policy_choice", Plan(one, "  policy: {revert: Sometimes}\n"),
       "plan.yaml: invalid MigrationPlan:\n  spec.policy.revert: must be one of Deny, Allow (got "
       "\"Sometimes\")"},
      {"bad_duration", Plan(one, "  policy: {lockTimeout: soon}\n"),
       "plan.yaml: invalid MigrationPlan:\n  spec.policy.lockTimeout: \"soon\" is not a duration; "
       "write e.g. 5s, 15m, 1h30m"},
      // Found by the fuzzer: a duration past int64's milliseconds was undefined behaviour.
      {"duration_too_long", Plan(one, "  policy: {lockTimeout: 960000000000000000000000000000h}\n"),
       "plan.yaml: invalid MigrationPlan:\n  spec.policy.lockTimeout: "
       "\"960000000000000000000000000000h\" is not a duration; write e.g. 5s, 15m, 1h30m"},
      // Back-fills (kind: Backfill); the statement's kind is checked before running (cli tests).
      {"backfill_without_forward", Plan(Step("app: a, name: b, kind: Backfill")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].forward: required for kind: "
       "Backfill: the batch statement, run until it changes no row, e.g. UPDATE t SET c = 0 "
       "WHERE id IN (SELECT id FROM t WHERE c IS NULL LIMIT 1000)"},
      {"backfill_kind_unknown", Plan(Step("app: a, name: b, kind: BackFill, forward: SELECT 1")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].kind: must be one of Sql, "
       "Backfill (got \"BackFill\")"},
      {"backfill_fields_without_kind", Plan(Step("app: a, name: b, batchDelay: 1s")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].batchDelay: only for a back-fill "
       "step (kind: Backfill); remove it"},
      {"backfill_bad_delay",
       Plan(Step("app: a, name: b, kind: Backfill, forward: DELETE FROM t, batchDelay: soon")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].batchDelay: \"soon\" is not a "
       "duration; write e.g. 100ms, 1s, or 0"},
      {"backfill_bad_max_batches",
       Plan(Step("app: a, name: b, kind: Backfill, forward: DELETE FROM t, maxBatches: 0")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].maxBatches: \"0\" is not a "
       "positive whole number of batches, e.g. 10000"},
      {"backfill_not_atomic",
       Plan(Step("app: a, name: b, kind: Backfill, forward: DELETE FROM t, atomic: false")),
       "plan.yaml: invalid MigrationPlan:\n  spec.migrations[0].atomic: a back-fill runs each "
       "batch in a transaction of its own; remove atomic: false"},
      {"backfill_is_fine",
       Plan(Step("app: a, name: b, kind: Backfill, forward: DELETE FROM t, batchDelay: 0, "
                 "maxBatches: 50")),
       "ok"},
      {"two_value_sources",
       kHead + "spec:\n  database: {passwordFrom: {env: A, file: /b}}\n  migrations: []\n",
       "plan.yaml: invalid MigrationPlan:\n  spec.database.passwordFrom: set exactly one of "
       "secretKeyRef, env, file"},
      {"wrong_api_version",
       "apiVersion: tidemark.dev/v2\nkind: MigrationPlan\nmetadata: {name: shop}\nspec: {}\n",
       "plan.yaml: invalid MigrationPlan:\n  apiVersion: must be tidemark.dev/v1alpha1 (got "
       "\"tidemark.dev/v2\")"},
      {"secret_not_base64",
       Plan(one) +
           "---\napiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: \"!!!\"}\n",
       "plan.yaml (document 2): Secret db data.password is not base64"},
      {"config_map_missing", Plan(one, kFromConfigMap),
       "spec.migrationsFrom: ConfigMap more (namespace default) is not among the loaded files; "
       "add its YAML beside the plan"},
      {"config_map_key_not_a_list", WithConfigMap(Plan(one, kFromConfigMap), "app: b"),
       "ConfigMap more key steps.yaml: invalid MigrationPlan:\n  ConfigMap more key steps.yaml: "
       "must be a list"},
      {"config_map_deep",
       WithConfigMap(Plan(one, kFromConfigMap), Repeat("[", 5000) + Repeat("]", 5000)),
       "ConfigMap more key steps.yaml: nested deeper than 64 levels"},
      // Many problems in one document: the first are listed, the rest counted.
      {"ten_thousand_bad_steps", Plan(Repeat(Step("app: 1, name: \"0001\""), 10000)),
       [] {
         std::string text = "plan.yaml: invalid MigrationPlan:";
         for (int i = 0; i < 20; ++i) {
           text += "\n  spec.migrations[" + std::to_string(i) +
                   "].app: \"1\" is not an app label (letters, digits, _)";
         }
         return text + "\n  and 9,980 more problems";
       }()},
      // The graph.
      {"duplicate_step", Plan(one + one),
       "InvalidSpec: step a.0001 is defined twice (spec.migrations[0] and spec.migrations[1]); "
       "remove one of them"},
      {"unknown_dependency", Plan(Step("app: a, name: b, dependencies: [z.0001]")),
       "UnknownDependency: spec.migrations[0].dependencies: step a.b depends on z.0001, which no "
       "step of this plan defines; add that step (inline or through migrationsFrom) or correct "
       "the name"},
      {"cycle",
       Plan(Step("app: a, name: x, dependencies: [b.y]") +
            Step("app: b, name: y, dependencies: [a.x]")),
       "DependencyCycle: dependency cycle: a.x -> b.y -> a.x; remove one of these dependencies"},
      {"long_cycle", Plan([] {
         std::string steps;
         for (int i = 0; i < 5000; ++i) {
           steps += "    - {app: a, name: s" + std::to_string(i) + ", dependencies: [a.s" +
                    std::to_string((i + 1) % 5000) + "]}\n";
         }
         return steps;
       }()),
       "DependencyCycle: dependency cycle: a.s0 -> a.s4999 -> a.s4998 -> a.s4997 -> (4,993 more "
       "steps) -> a.s3 -> a.s2 -> a.s1 -> a.s0; remove one of these dependencies"},
      {"ten_thousand_leaves", Plan(ManySteps(10000, false)),
       "InvalidSpec: conflicting migrations: more than one latest step (s0, s1, s10, s100, s1000 "
       "and 9,995 more in a); add a merge step that depends on all of them (Django: "
       "makemigrations --merge)"},
      {"leaves_in_many_apps", Plan([] {
         std::string steps;
         for (int i = 0; i < 100; ++i) {
           steps += "    - {app: a" + std::to_string(i) + ", name: x}\n    - {app: a" +
                    std::to_string(i) + ", name: y}\n";
         }
         return steps;
       }()),
       "InvalidSpec: conflicting migrations: more than one latest step (x, y in a0; x, y in a1; "
       "x, y in a10; x, y in a11; x, y in a12 and 95 more); add a merge step that depends on all "
       "of them (Django: makemigrations --merge)"},
      {"ambiguous_target",
       Plan(ManySteps(3, true) + Step("app: a, name: s9, dependencies: [a.s2]"),
            "  targets: [{app: a, migration: s}]\n"),
       "InvalidSpec: spec.targets[0].migration: \"s\" matches several steps of a (s0, s1, s2, "
       "s9); write the full name"},
      {"target_unknown_step", Plan(one, "  targets: [{app: a, migration: \"0009\"}]\n"),
       "InvalidSpec: spec.targets[0].migration: app a has no step \"0009\"; use a step name of "
       "that app or \"zero\""},
      // Found by fuzzing (fuzz/corpus/plan_yaml, fuzz/corpus/plan_json): a jobTemplate,
      // kept as JSON text, whose dump threw; a text on which yaml-cpp looped for ever.
      {"invalid_utf8_in_job_template",
       Plan(one,
            "  runner:\n    command: [python3]\n    jobTemplate: {spec: {template: {spec: "
            "{containers: [{name: \"" +
                kInvalidUtf8 + "\", image: x}]}}}}\n"),
       "plan.yaml: invalid MigrationPlan:\n  spec.runner.jobTemplate.spec.template.spec."
       "containers[0].name: not valid UTF-8; save the file as UTF-8"},
      {"yaml_document_starting_with_a_comma", ",\n" + Plan(one),
       "plan.yaml: not valid YAML at line 1, column 1: a document cannot start with this "
       "character"},
      {"twenty_thousand_steps_load", Plan(ManySteps(kMaxSteps, true)), "ok"},
  };
}

TEST(HostilePlansTest, EachGetsItsExactMessageBoundedAndValid) {
  const std::vector<Case> cases = Cases();
  EXPECT_GE(cases.size(), 60u);
  for (const Case& c : cases) {
    const std::string message = Load(c.text);
    EXPECT_EQ(message, c.expected) << c.name;
    EXPECT_LE(message.size(), 16384u) << c.name;
    EXPECT_EQ(FirstInvalidUtf8(message), std::nullopt) << c.name;
  }
}

}  // namespace
}  // namespace tidemark::resource
