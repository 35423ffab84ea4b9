// The MigrationPlan model: plain structs with the defaults of SPEC section 1 beside each
// field. Built by src/resource from YAML or JSON, read by everything else. Little behaviour here.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark::plan {

// A migration's identity, "app.name" as Django writes it (shop.0001_initial).
struct StepId {
  std::string app;
  std::string name;

  std::string ToString() const { return app + "." + name; }
  auto operator<=>(const StepId&) const = default;
};

// Splits "app.name" at the first dot; nullopt when either side is empty.
std::optional<StepId> ParseStepId(std::string_view text);

// Where a value comes from when it is not written in the plan (docs/plan-format.md).
struct ValueSource {
  enum class Kind { kSecretKeyRef, kEnv, kFile };
  Kind kind = Kind::kSecretKeyRef;
  std::string secret_name;  // kSecretKeyRef
  std::string secret_key;   // kSecretKeyRef
  std::string env;          // kEnv: variable name
  std::string file;         // kFile: path
};

// A database field: written in the plan, or taken from a source, or absent.
struct Value {
  std::optional<std::string> literal;
  std::optional<ValueSource> from;
  bool empty() const { return !literal && !from; }
};

struct DatabaseSpec {
  Value dsn;   // a libpq connection string or URI; the fields below add to it
  Value host;  // a host name or a unix-socket folder (/cloudsql/proj:region:inst)
  Value port;
  Value dbname;
  Value user;
  Value password;  // only from a source: a password is never written in a plan
  Value ssl_mode;
  std::string schema = "public";  // search_path for the steps and the ledger
};

// The type of the ledger's id column when tidemark creates the table: Django's
// DEFAULT_AUTO_FIELD (AutoField, BigAutoField, SmallAutoField) as its recorder makes it.
enum class LedgerIdType { kInteger, kBigint, kSmallint };

struct LedgerSpec {
  std::string table = "django_migrations";
  std::string history_table = "tidemark_history";
  LedgerIdType id_type = LedgerIdType::kInteger;  // an existing table is used as it is
};

// irreversibleReason is a note for people, quoted in messages: one short paragraph at most.
inline constexpr size_t kMaxIrreversibleReason = 1024;

// When a step runs relative to the app's rollout: before the new pods start (expand), or
// once no old pod is left (contract: drops and renames the old code still reads).
enum class Phase { kPreDeploy, kPostDeploy };
const char* PhaseName(Phase phase);  // "PreDeploy", "PostDeploy"

struct Step {
  StepId id;
  std::vector<StepId> dependencies;
  bool atomic = true;                   // false: statements one by one, outside a transaction
  std::string forward;                  // SQL; may be empty (a RunPython-only step)
  std::optional<std::string> backward;  // nullopt: irreversible; "": reversible with no SQL
  std::string irreversible_reason;      // why there is no backward SQL, when known
  std::vector<StepId> replaces;         // a squashed step names what it replaces
  bool python = false;                  // had code (RunPython) that SQL cannot carry
  std::optional<bool> initial;          // Django's Migration.initial; unset: no in-app parent
  Phase phase = Phase::kPreDeploy;
  std::string origin;  // where it was defined, for messages
};

struct Target {
  std::string app;
  std::string migration;  // a step name (or a unique prefix of one), or "zero"
  // As `manage.py migrate APP NAME` reads it (the command line's --target): the steps of
  // other apps that need a step this target leaves out are left out too. Otherwise (a
  // plan's spec.targets) such a need is a TargetConflict.
  bool with_dependents = false;
};

enum class RevertPolicy { kDeny, kAllow };
enum class LintPolicy { kOff, kWarn, kBlock };
enum class ChecksumPolicy { kBlock, kWarn, kIgnore };
enum class UnknownAppliedPolicy { kWarn, kBlock };
enum class PythonStepsPolicy { kBlock, kRecordOnly, kRun };

struct Policy {
  RevertPolicy revert = RevertPolicy::kDeny;
  std::chrono::milliseconds lock_timeout{5'000};
  std::chrono::milliseconds statement_timeout{15 * 60'000};
  // lock_timeout of a CONCURRENTLY statement (non-atomic steps): an index build waits for
  // every older transaction without blocking the table's readers and writers, so it gets
  // a budget of its own instead of lock_timeout.
  std::chrono::milliseconds concurrent_lock_timeout{10 * 60'000};
  LintPolicy lint = LintPolicy::kWarn;
  ChecksumPolicy checksum = ChecksumPolicy::kBlock;
  UnknownAppliedPolicy unknown_applied = UnknownAppliedPolicy::kWarn;
  PythonStepsPolicy python_steps = PythonStepsPolicy::kBlock;
};

// An environment variable the runner gets: written in the plan, or from a source.
struct EnvVar {
  std::string name;
  Value value;
};

// spec.runner: how the application's own code runs one python step (pythonSteps: Run).
struct RunnerSpec {
  // tidemark run/apply: a program and its first arguments, run as a child process;
  // tidemark appends `apply APP NAME`, `revert APP NAME` or `post-migrate`.
  std::vector<std::string> command;
  std::string working_dir;  // empty: tidemark's own
  std::vector<EnvVar> env;  // added to tidemark's environment
  std::chrono::milliseconds timeout{60 * 60'000};
  bool post_migrate = true;       // after a run that changed the ledger, `post-migrate` once
  std::string job_template_json;  // in a cluster: a batch/v1 JobTemplateSpec, as JSON
};

enum class ResolvedState { kApplied, kUnapplied };

struct Resolution {
  StepId migration;
  ResolvedState state = ResolvedState::kApplied;
};

struct ObjectMeta {
  std::string name;
  std::string ns = "default";
  std::string uid;
  int64_t generation = 0;
};

struct MigrationPlan {
  ObjectMeta meta;
  DatabaseSpec database;
  LedgerSpec ledger;
  std::vector<Step> migrations;               // inline steps, then those of migrationsFrom
  std::vector<std::string> config_map_names;  // spec.migrationsFrom[].configMapRef.name
  std::vector<Target> targets;
  Policy policy;
  std::optional<RunnerSpec> runner;
  std::vector<StepId> fake;
  bool fake_initial = false;
  bool dry_run = false;
  bool suspend = false;
  std::vector<Resolution> resolve;

  std::string Key() const { return meta.ns + "/" + meta.name; }
};

// The Secrets a plan's database fields name (secretKeyRef), each once, in field order. A
// plan names objects of its own namespace only; ConfigMaps are `config_map_names`.
std::vector<std::string> SecretNames(const DatabaseSpec& database);

}  // namespace tidemark::plan
