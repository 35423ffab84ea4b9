#include "sql/lint.h"

#include <map>
#include <optional>
#include <set>

#include "sql/lint_rules.h"
#include "sql/tables.h"

namespace tidemark::sql {
namespace {

using nlohmann::json;

// Functions that are never volatile, so a DEFAULT calling them adds the column without a
// rewrite (PostgreSQL 11+). Any other function is treated as volatile.
const std::set<std::string> kNonVolatileFunctions = {"now",
                                                     "transaction_timestamp",
                                                     "statement_timestamp",
                                                     "current_setting",
                                                     "lower",
                                                     "upper",
                                                     "length",
                                                     "char_length",
                                                     "btrim",
                                                     "ltrim",
                                                     "rtrim",
                                                     "replace",
                                                     "substring",
                                                     "substr",
                                                     "concat",
                                                     "concat_ws",
                                                     "abs",
                                                     "round",
                                                     "floor",
                                                     "ceil",
                                                     "md5",
                                                     "date_trunc",
                                                     "make_interval",
                                                     "make_date",
                                                     "to_jsonb",
                                                     "jsonb_build_object",
                                                     "jsonb_build_array",
                                                     "json_build_object",
                                                     "json_build_array",
                                                     "timezone"};
const std::set<std::string> kVolatileFunctions = {
    "random",    "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v4", "clock_timestamp",
    "timeofday", "nextval",         "setval",           "txid_current"};
const std::set<std::string> kSerialTypes = {"serial",  "serial2",   "serial4",
                                            "serial8", "bigserial", "smallserial"};

std::string LastName(const json& names) {
  if (!names.is_array() || names.empty()) return "";
  const json& last = names.back();
  return last.contains("String") ? last["String"].value("sval", "") : "";
}

// The first function `expr` calls that is volatile or unknown, with why; nullopt when every
// call is known not to be volatile.
std::optional<std::string> VolatileCall(const json& expr) {
  if (expr.is_object()) {
    if (expr.contains("FuncCall")) {
      const std::string name = LastName(expr["FuncCall"].value("funcname", json::array()));
      if (kVolatileFunctions.count(name)) return name + "(), which is volatile";
      if (!kNonVolatileFunctions.count(name)) {
        return name + "(), unknown to tidemark and so treated as volatile";
      }
    }
    for (const auto& [key, value] : expr.items()) {
      if (auto call = VolatileCall(value)) return call;
    }
  } else if (expr.is_array()) {
    for (const auto& value : expr) {
      if (auto call = VolatileCall(value)) return call;
    }
  }
  return std::nullopt;
}

bool IsNullConstant(const json& expr) {
  return expr.contains("A_Const") && expr["A_Const"].value("isnull", false);
}

bool HasOption(const json& options, const std::string& name) {
  for (const auto& option : options) {
    if (option.contains("DefElem") && option["DefElem"].value("defname", "") == name) return true;
  }
  return false;
}

// LOCK TABLE's mode numbers (PostgreSQL's lockdefs.h), from SHARE up: the ones that block writes.
std::optional<std::string> WriteBlockingLockMode(int mode) {
  switch (mode) {
    case 5:
      return "SHARE";
    case 6:
      return "SHARE ROW EXCLUSIVE";
    case 7:
      return "EXCLUSIVE";
    case 8:
      return "ACCESS EXCLUSIVE";
    default:
      return std::nullopt;
  }
}

plan::LintFinding Finding(const plan::Step& step, const LintRule& rule, int index,
                          const std::string& what) {
  return {
      step.id,       rule.name,
      rule.severity, "statement " + std::to_string(index + 1) + ": " + what + ": " + rule.summary,
      index,         ""};
}

class StepLinter {
 public:
  StepLinter(const plan::Step& step, std::vector<plan::LintFinding>* findings)
      : step_(step), findings_(findings), in_transaction_(step.atomic) {}

  void Statement(const json& tree, int index) {
    index_ = index;
    if (tree.contains("CreateStmt")) {
      created_.insert(QualifiedName(tree["CreateStmt"].value("relation", json())));
    } else if (tree.contains("CreateTableAsStmt")) {
      const json& into = tree["CreateTableAsStmt"].value("into", json::object());
      created_.insert(QualifiedName(into.value("rel", json())));
    } else if (tree.contains("IndexStmt")) {
      Index(tree["IndexStmt"]);
    } else if (tree.contains("AlterTableStmt")) {
      AlterTable(tree["AlterTableStmt"]);
    } else if (tree.contains("RenameStmt")) {
      Rename(tree["RenameStmt"]);
    } else if (tree.contains("DropStmt")) {
      Drop(tree["DropStmt"]);
    } else if (tree.contains("DropdbStmt")) {
      Report(kDropDatabase, "DROP DATABASE " + tree["DropdbStmt"].value("dbname", ""));
    } else if (tree.contains("ReindexStmt")) {
      const json& reindex = tree["ReindexStmt"];
      const std::string target = QualifiedName(reindex.value("relation", json()));
      const std::string what = "REINDEX " + (target.empty() ? reindex.value("name", "") : target);
      if (HasOption(reindex.value("params", json::array()), "concurrently")) {
        ConcurrentlyCheck(what + " CONCURRENTLY");
      } else {
        Report(kReindexWithoutConcurrently, what);
      }
    } else if (tree.contains("AlterDomainStmt")) {
      AlterDomain(tree["AlterDomainStmt"]);
    } else if (tree.contains("TruncateStmt")) {
      Truncate(tree["TruncateStmt"]);
    } else if (tree.contains("RefreshMatViewStmt")) {
      const json& refresh = tree["RefreshMatViewStmt"];
      const std::string view = QualifiedName(refresh.value("relation", json()));
      if (!refresh.value("concurrent", false) && !IsNew(view)) {
        Report(kRefreshWithoutConcurrently, "REFRESH MATERIALIZED VIEW " + view);
      }
    } else if (tree.contains("VacuumStmt")) {
      Vacuum(tree["VacuumStmt"]);
    } else if (tree.contains("ClusterStmt")) {
      const std::string table = QualifiedName(tree["ClusterStmt"].value("relation", json()));
      if (!IsNew(table)) Report(kCluster, "CLUSTER " + (table.empty() ? "(every table)" : table));
    } else if (tree.contains("LockStmt")) {
      Lock(tree["LockStmt"]);
    } else if (tree.contains("AlterTableMoveAllStmt")) {
      Report(kSetTablespace, "ALTER ... ALL IN TABLESPACE " +
                                 tree["AlterTableMoveAllStmt"].value("orig_tablespacename", ""));
    } else if (tree.contains("UpdateStmt")) {
      const std::string table = QualifiedName(tree["UpdateStmt"].value("relation", json()));
      if (in_transaction_ && altered_.count(table)) {
        Report(kBackfillInSameTransaction, "UPDATE of " + table + " after its ALTER TABLE");
      }
    } else if (tree.contains("TransactionStmt")) {
      Transaction(tree["TransactionStmt"].value("kind", ""));
    }
  }

  // Findings about the step as a whole, once every statement is seen.
  void Finish() {
    if (open_begin_) {
      index_ = *open_begin_;
      Report(kTransactionControl, "BEGIN never closed by COMMIT");
    }
  }

 private:
  void Report(const LintRule& rule, const std::string& what) {
    findings_->push_back(Finding(step_, rule, index_, what));
  }

  void ConcurrentlyCheck(const std::string& what) {
    if (!in_transaction_) return;
    Report(kConcurrentlyInTransaction,
           open_begin_ ? what + " after the BEGIN of statement " + std::to_string(*open_begin_ + 1)
                       : what + " in an atomic step");
  }

  bool IsNew(const std::string& table) const { return created_.count(table) > 0; }

  void Transaction(const std::string& kind) {
    const bool begins = kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START";
    const bool ends = kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" ||
                      kind == "TRANS_STMT_PREPARE" || kind == "TRANS_STMT_COMMIT_PREPARED" ||
                      kind == "TRANS_STMT_ROLLBACK_PREPARED";
    if (!begins && !ends) return;  // savepoints stay inside the transaction
    if (step_.atomic) {
      Report(kTransactionControl,
             (begins ? "BEGIN" : "COMMIT or ROLLBACK") + std::string(" in an atomic step"));
      return;
    }
    if (begins) {
      if (!open_begin_) open_begin_ = index_;
      in_transaction_ = true;
    } else {
      open_begin_.reset();
      in_transaction_ = false;
      altered_.clear();
      not_valid_.clear();
    }
  }

  void Index(const json& index) {
    const std::string table = QualifiedName(index.value("relation", json()));
    if (index.value("concurrent", false)) {
      ConcurrentlyCheck("CREATE INDEX CONCURRENTLY on " + table);
    } else if (!IsNew(table)) {
      Report(kIndexWithoutConcurrently,
             "CREATE INDEX " + index.value("idxname", "") + " on " + table);
    }
  }

  void Rename(const json& rename) {
    const std::string type = rename.value("renameType", "");
    const std::string table = QualifiedName(rename.value("relation", json()));
    if (type == "OBJECT_COLUMN") {
      Report(kRenameColumn, "column " + rename.value("subname", "") + " of " + table +
                                " renamed to " + rename.value("newname", ""));
    } else if (type == "OBJECT_TABLE") {
      Report(kRenameTable, "table " + table + " renamed to " + rename.value("newname", ""));
    }
  }

  void Drop(const json& drop) {
    const std::string type = drop.value("removeType", "");
    if (type == "OBJECT_TABLE") Report(kDropTable, "DROP TABLE");
    if (type == "OBJECT_INDEX") {
      if (drop.value("concurrent", false)) {
        ConcurrentlyCheck("DROP INDEX CONCURRENTLY");
      } else {
        Report(kDropIndexWithoutConcurrently, "DROP INDEX without CONCURRENTLY");
      }
    }
  }

  void AlterTable(const json& alter) {
    const std::string table = QualifiedName(alter.value("relation", json()));
    if (IsNew(table)) return;
    if (in_transaction_) altered_.insert(table);
    for (const auto& item : alter.value("cmds", json::array())) {
      if (!item.contains("AlterTableCmd")) continue;
      const json& cmd = item["AlterTableCmd"];
      const std::string subtype = cmd.value("subtype", "");
      const std::string column = cmd.value("name", "");
      const json& def = cmd.value("def", json::object());
      if (subtype == "AT_AddColumn") {
        AddColumn(table, def.value("ColumnDef", json::object()));
      } else if (subtype == "AT_SetNotNull") {
        Report(kSetNotNull, "ALTER COLUMN " + column + " SET NOT NULL on " + table);
      } else if (subtype == "AT_AlterColumnType") {
        Report(kColumnTypeChange, "ALTER COLUMN " + column + " TYPE on " + table);
      } else if (subtype == "AT_DropColumn") {
        Report(kDropColumn, "DROP COLUMN " + column + " of " + table);
      } else if (subtype == "AT_AddConstraint") {
        AddConstraint(table, def.value("Constraint", json::object()));
      } else if (subtype == "AT_ValidateConstraint") {
        if (in_transaction_ && not_valid_[table].count(column)) {
          Report(kValidateInSameTransaction, "VALIDATE CONSTRAINT " + column + " on " + table);
        }
      } else if (subtype == "AT_DetachPartition") {
        const json& partition = def.value("PartitionCmd", json::object());
        const std::string what =
            "DETACH PARTITION " + QualifiedName(partition.value("name", json())) + " of " + table;
        if (partition.value("concurrent", false)) {
          ConcurrentlyCheck(what + " CONCURRENTLY");
        } else {
          Report(kDetachWithoutConcurrently, what);
        }
      } else if (subtype == "AT_SetTableSpace") {
        Report(kSetTablespace, "SET TABLESPACE " + column + " on " + table);
      } else if (subtype == "AT_SetLogged" || subtype == "AT_SetUnLogged") {
        Report(kSetLogged, std::string(subtype == "AT_SetLogged" ? "SET LOGGED" : "SET UNLOGGED") +
                               " on " + table);
      }
    }
  }

  void AddColumn(const std::string& table, const json& column) {
    const std::string what = "column " + column.value("colname", "") + " of " + table;
    const std::string type =
        LastName(column.value("typeName", json::object()).value("names", json()));
    bool not_null = false;
    std::optional<json> default_expr;
    bool references = false;
    for (const auto& item : column.value("constraints", json::array())) {
      const json& constraint = item.value("Constraint", json::object());
      const std::string kind = constraint.value("contype", "");
      if (kind == "CONSTR_NOTNULL" || kind == "CONSTR_PRIMARY") not_null = true;
      if (kind == "CONSTR_UNIQUE" || kind == "CONSTR_PRIMARY") {
        Report(kUniqueConstraint,
               "inline " + std::string(kind == "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY") +
                   " on " + what);
      }
      if (kind == "CONSTR_FOREIGN") references = true;
      if (kind == "CONSTR_IDENTITY") Report(kColumnRewritesTable, what + " is an identity column");
      if (kind == "CONSTR_GENERATED")
        Report(kColumnRewritesTable, what + " is GENERATED ... STORED");
      if (kind == "CONSTR_DEFAULT" && !IsNullConstant(constraint.value("raw_expr", json()))) {
        default_expr = constraint.value("raw_expr", json());
      }
    }
    if (kSerialTypes.count(type)) Report(kColumnRewritesTable, what + " is " + type);
    if (default_expr) {
      if (auto call = VolatileCall(*default_expr)) {
        Report(kVolatileDefault, what + ": DEFAULT calls " + *call);
      }
      if (references) {
        Report(kConstraintWithoutNotValid, "inline REFERENCES with a DEFAULT on " + what);
      }
    }
    if (not_null && !default_expr && !kSerialTypes.count(type)) {
      Report(kNotNullWithoutDefault, what);
    }
  }

  void AddConstraint(const std::string& table, const json& constraint) {
    const std::string type = constraint.value("contype", "");
    const std::string name = constraint.value("conname", "");
    const bool not_valid = constraint.value("skip_validation", false);
    if (type == "CONSTR_FOREIGN" || type == "CONSTR_CHECK") {
      if (!not_valid) {
        Report(kConstraintWithoutNotValid, "constraint " + name + " on " + table);
      } else if (in_transaction_) {
        not_valid_[table].insert(name);
      }
    }
    if ((type == "CONSTR_UNIQUE" || type == "CONSTR_PRIMARY") &&
        constraint.value("indexname", "").empty()) {
      Report(kUniqueConstraint, "constraint " + name + " on " + table);
    }
    if (type == "CONSTR_EXCLUSION")
      Report(kExclusionConstraint, "constraint " + name + " on " + table);
  }

  void AlterDomain(const json& alter) {
    const std::string domain = LastName(alter.value("typeName", json()));
    const std::string subtype = alter.value("subtype", "");
    if (subtype == "O") {
      Report(kDomainConstraint, "SET NOT NULL on domain " + domain +
                                    " (there is no NOT VALID form: use a CHECK (VALUE IS NOT "
                                    "NULL) constraint)");
    } else if (subtype == "C") {
      const json& constraint =
          alter.value("def", json::object()).value("Constraint", json::object());
      if (!constraint.value("skip_validation", false)) {
        Report(kDomainConstraint,
               "constraint " + constraint.value("conname", "") + " on domain " + domain);
      }
    }
  }

  void Truncate(const json& truncate) {
    std::string tables;
    bool all_new = true;
    for (const auto& item : truncate.value("relations", json::array())) {
      const std::string table = QualifiedName(item.value("RangeVar", json::object()));
      tables += (tables.empty() ? "" : ", ") + table;
      all_new = all_new && IsNew(table);
    }
    if (truncate.value("behavior", "") == "DROP_CASCADE") {
      Report(kTruncateCascade, "TRUNCATE " + tables + " CASCADE");
    } else if (!all_new) {
      Report(kTruncate, "TRUNCATE " + tables);
    }
  }

  void Vacuum(const json& vacuum) {
    if (!vacuum.value("is_vacuumcmd", false)) return;  // ANALYZE
    std::string tables;
    for (const auto& item : vacuum.value("rels", json::array())) {
      const json& relation = item.value("VacuumRelation", json::object()).value("relation", json());
      tables += (tables.empty() ? "" : ", ") + QualifiedName(relation);
    }
    const bool full = HasOption(vacuum.value("options", json::array()), "full");
    const std::string what =
        std::string(full ? "VACUUM FULL" : "VACUUM") + (tables.empty() ? "" : " " + tables);
    ConcurrentlyCheck(what);
    if (full) Report(kVacuumFull, what);
  }

  void Lock(const json& lock) {
    std::string tables;
    bool all_new = true;
    for (const auto& item : lock.value("relations", json::array())) {
      const std::string table = QualifiedName(item.value("RangeVar", json::object()));
      tables += (tables.empty() ? "" : ", ") + table;
      all_new = all_new && IsNew(table);
    }
    if (!in_transaction_) {
      Report(kLockTable, "LOCK TABLE " + tables + " outside a transaction");
    } else if (auto mode = WriteBlockingLockMode(lock.value("mode", 0)); mode && !all_new) {
      Report(kLockTable, "LOCK TABLE " + tables + " IN " + *mode + " MODE");
    }
  }

  const plan::Step& step_;
  std::vector<plan::LintFinding>* findings_;
  std::set<std::string> created_;
  bool in_transaction_;
  std::optional<int> open_begin_;  // the BEGIN of a non-atomic step not yet closed
  // What the current transaction did, whose locks it still holds.
  std::set<std::string> altered_;
  std::map<std::string, std::set<std::string>> not_valid_;  // table -> constraints
  int index_ = 0;
};

// `-- tidemark:allow RULE reason` lines in a statement's text (its leading comments).
struct Allow {
  std::string rule;
  std::string reason;
};

std::vector<Allow> Allows(const std::string& text) {
  static const std::string kMarker = "-- tidemark:allow";
  std::vector<Allow> allows;
  for (size_t at = text.find(kMarker); at != std::string::npos;
       at = text.find(kMarker, at + kMarker.size())) {
    const size_t end = std::min(text.find('\n', at), text.size());
    std::string rest = text.substr(at + kMarker.size(), end - at - kMarker.size());
    auto trim = [](std::string s) {
      const size_t first = s.find_first_not_of(" \t\r");
      if (first == std::string::npos) return std::string();
      return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
    };
    rest = trim(rest);
    const size_t space = rest.find_first_of(" \t");
    Allow allow;
    allow.rule = rest.substr(0, space);
    allow.reason = space == std::string::npos ? "" : trim(rest.substr(space));
    allows.push_back(std::move(allow));
  }
  return allows;
}

// Marks the findings of statement `index` that an allow accepts; a malformed allow is itself a
// finding.
void ApplyAllows(const plan::Step& step, const std::vector<Allow>& allows, int index,
                 std::vector<plan::LintFinding>* findings) {
  for (const Allow& allow : allows) {
    std::string problem;
    bool known = false;
    for (const LintRule& rule : LintRules()) known = known || allow.rule == rule.name;
    if (!known) {
      problem = "`-- tidemark:allow " + allow.rule + "` names no lint rule";
    } else if (allow.reason.empty()) {
      problem = "`-- tidemark:allow " + allow.rule + "` gives no reason";
    }
    if (!problem.empty()) {
      findings->push_back(Finding(step, kInvalidAllow, index, problem));
      continue;
    }
    for (plan::LintFinding& finding : *findings) {
      if (finding.statement_index != index || finding.rule != allow.rule) continue;
      if (!finding.accepted.empty()) continue;
      finding.accepted = allow.reason;
      finding.message += " (accepted: " + allow.reason + ")";
    }
  }
}

}  // namespace

std::vector<plan::LintFinding> LintStep(const plan::Step& step,
                                        const std::vector<Statement>& statements) {
  std::vector<plan::LintFinding> findings;
  StepLinter linter(step, &findings);
  for (size_t i = 0; i < statements.size(); ++i) {
    linter.Statement(statements[i].tree, static_cast<int>(i));
  }
  linter.Finish();
  for (size_t i = 0; i < statements.size(); ++i) {
    ApplyAllows(step, Allows(statements[i].text), static_cast<int>(i), &findings);
  }
  return findings;
}

}  // namespace tidemark::sql
