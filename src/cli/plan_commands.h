// The commands that read plan files and reconcile them once against the ledger, or only
// look: status, plan, check, apply, sql and resolve (the Django commands showmigrations,
// migrate --plan, migrate --check, migrate, sqlmigrate, and tidemark's own resolve). Each
// has its flags, as parsing fills them (cli/commands.cc declares them), and a Run function
// that returns the exit code (cli/commands.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/common.h"
#include "plan/model.h"

namespace tidemark::cli {

struct SqlFlags {
  std::string migration;
  bool backwards = false;
};

// --phase of apply and check: pre, post or all.
struct PhaseFlag {
  std::string phase = "all";

  std::optional<plan::Phase> Selected() const {
    if (phase == "pre") return plan::Phase::kPreDeploy;
    if (phase == "post") return plan::Phase::kPostDeploy;
    return std::nullopt;
  }
};

struct PlanFlags {
  PhaseFlag phase;
  std::vector<std::string> targets;
};

struct ApplyFlags {
  PhaseFlag phase;
  std::vector<std::string> targets;
  bool fake = false;
  bool fake_initial = false;
  bool dry_run = false;
  bool allow_revert = false;
  std::string approve;  // the digest `tidemark plan` printed; empty: none
  std::string backup;   // a pg_dump -Fc file to write before the first change; empty: none
};

struct ResolveFlags {
  std::string migration;
  std::string state;
};

// status (as_plan false) and plan (as_plan true): what is applied, and what would run.
int RunStatus(const CommonOptions& common, bool as_plan, const PlanFlags& flags = {});
// Exit 0 when nothing (of --phase) is pending, for CI and readiness checks.
int RunCheck(const CommonOptions& common, const PhaseFlag& phase);
int RunApply(const CommonOptions& common, const ApplyFlags& apply);
// The SQL of one step, as sqlmigrate prints it.
int RunSql(const CommonOptions& common, const SqlFlags& sql);
// Marks a dirty (half-run non-atomic) step applied or unapplied, after a person looked.
int RunResolve(const CommonOptions& common, const ResolveFlags& resolve);

}  // namespace tidemark::cli
