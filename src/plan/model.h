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

// A step's lintAllow entry: the step's findings of `rule` are accepted for `reason`, as a
// `-- tidemark:allow RULE reason` comment accepts one statement's (docs/lint.md). The
// sql layer checks that `rule` names a rule.
struct LintAllow {
  std::string rule;
  std::string reason;
};
// A lintAllow reason is a note for reviewers, quoted in findings: one short paragraph.
inline constexpr size_t kMaxLintAllowReason = 1024;

// What a step is: SQL run once (atomic or statement by statement), or a back-fill: one
// batch statement (UPDATE, DELETE, INSERT ... SELECT) run again and again, each batch in a
// transaction of its own, until a batch changes no row (docs/plan-format.md, "Back-fills").
enum class StepKind { kSql, kBackfill };

// A back-fill's pacing.
struct BackfillSpec {
  std::chrono::milliseconds batch_delay{100};  // the pause after each batch, for replicas
  int64_t max_batches = 0;  // 0: no limit; else the batches after which it stops, unfinished
};

struct Step {
  StepId id;
  StepKind kind = StepKind::kSql;
  BackfillSpec backfill;  // kind kBackfill only
  std::vector<StepId> dependencies;
  bool atomic = true;                   // false: statements one by one, outside a transaction
  std::string forward;                  // SQL; may be empty (a RunPython-only step)
  std::optional<std::string> backward;  // nullopt: irreversible; "": reversible with no SQL
  std::string irreversible_reason;      // why there is no backward SQL, when known
  std::vector<StepId> replaces;         // a squashed step names what it replaces
  bool python = false;                  // had code (RunPython) that SQL cannot carry
  std::optional<bool> initial;          // Django's Migration.initial; unset: no in-app parent
  Phase phase = Phase::kPreDeploy;
  std::vector<LintAllow> lint_allow;  // findings accepted for the whole step
  std::string origin;                 // where it was defined, for messages
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
// Required: a run executes only what a person approved (spec.approvedDigest, plan/approval.h).
enum class ApprovalPolicy { kNone, kRequired };

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
  ApprovalPolicy approval = ApprovalPolicy::kNone;
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

// spec.rollout: the app's workloads whose rollout post-deploy steps wait for (the
// controller's gate; the command line's --phase does the same by hand).
enum class WorkloadKind { kDeployment, kStatefulSet };
const char* WorkloadKindName(WorkloadKind kind);  // "Deployment", "StatefulSet"

struct WorkloadRef {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string name;  // in the plan's namespace

  auto operator<=>(const WorkloadRef&) const = default;
};

inline constexpr size_t kMaxRolloutWorkloads = 64;

struct RolloutSpec {
  std::vector<WorkloadRef> workloads;  // 1 to kMaxRolloutWorkloads
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
  std::string approved_digest;         // the digest of the pending actions a person approved
  std::optional<RolloutSpec> rollout;  // none: post-deploy steps run with the rest
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
