#include "sql/lint.h"

#include <map>
#include <optional>
#include <set>

#include "sql/lint_allow.h"
#include "sql/lint_rules.h"
#include "sql/tables.h"
#include "sql/volatility.h"

namespace tidemark::sql {
namespace {

using nlohmann::json;

const std::set<std::string> kSerialTypes = {"serial",  "serial2",   "serial4",
                                            "serial8", "bigserial", "smallserial"};

// `USING column` or `USING column::type` (Django writes this when the field's type changes):
// no other expression than the type change itself, so it rewrites only if that does.
bool IsCastOfColumn(const json& expr, const std::string& column,
                    const std::optional<ColumnType>& type) {
  const json* value = &expr;
  if (expr.contains("TypeCast")) {
    const auto cast = TypeOf(expr["TypeCast"].value("typeName", json()));
    if (!cast || !type || cast->ToString() != type->ToString()) return false;
    value = &expr["TypeCast"]["arg"];
  }
  return value->contains("ColumnRef") &&
         LastName(value->at("ColumnRef").value("fields", json::array())) == column;
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

class StepLinter {
 public:
  StepLinter(const plan::Step& step, const LintOptions& options, Schema& schema,
             std::vector<plan::LintFinding>* findings)
      : step_(step),
        options_(options),
        schema_(schema),
        findings_(findings),
        in_transaction_(step.atomic) {}

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
        if (ServerBefore(12)) {
          Report(kNeedsNewerServer, what + " CONCURRENTLY needs PostgreSQL 12" + ServerRuns());
        }
        ConcurrentlyCheck(what + " CONCURRENTLY");
      } else {
        Report(
            kReindexWithoutConcurrently,
            what + (ServerBefore(12) ? " (PostgreSQL " + std::to_string(*options_.server_version) +
                                           " has no REINDEX CONCURRENTLY: CREATE INDEX "
                                           "CONCURRENTLY a copy, then DROP INDEX CONCURRENTLY "
                                           "the old one)"
                                     : ""));
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
    schema_.Apply(tree);
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

  bool ServerBefore(int major) const {
    return options_.server_version && *options_.server_version < major;
  }
  std::string ServerRuns() const {
    return ", the server runs " + std::to_string(*options_.server_version);
  }

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
      } else if (subtype == "AT_ColumnDefault" && !cmd.contains("def")) {
        DropDefault(table, column);
      } else if (subtype == "AT_SetNotNull") {
        // A validated CHECK (column IS NOT NULL) lets PostgreSQL 12+ skip the scan.
        if (!schema_.HasValidNotNullCheck(table, column) || ServerBefore(12)) {
          Report(kSetNotNull, "ALTER COLUMN " + column + " SET NOT NULL on " + table);
        }
      } else if (subtype == "AT_AlterColumnType") {
        TypeChange(table, column, def.value("ColumnDef", json::object()));
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
          if (ServerBefore(14)) {
            Report(kNeedsNewerServer, what + " CONCURRENTLY needs PostgreSQL 14" + ServerRuns());
          }
          ConcurrentlyCheck(what + " CONCURRENTLY");
        } else {
          Report(kDetachWithoutConcurrently,
                 what + (ServerBefore(14)
                             ? " (PostgreSQL " + std::to_string(*options_.server_version) +
                                   " has no DETACH PARTITION CONCURRENTLY: detach at "
                                   "a quiet time, bounded by policy.lockTimeout)"
                             : ""));
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
      if (kind == "CONSTR_CHECK" && !constraint.value("skip_validation", false)) {
        Report(kConstraintWithoutNotValid,
               "inline CHECK on " + what + ", checked against every row");
      }
      if (kind == "CONSTR_IDENTITY") Report(kColumnRewritesTable, what + " is an identity column");
      if (kind == "CONSTR_GENERATED")
        Report(kColumnRewritesTable, what + " is GENERATED ... STORED");
      if (kind == "CONSTR_DEFAULT" && !IsNullConstant(constraint.value("raw_expr", json()))) {
        default_expr = constraint.value("raw_expr", json());
      }
    }
    if (kSerialTypes.count(type)) Report(kColumnRewritesTable, what + " is " + type);
    if (default_expr && ServerBefore(11)) {
      Report(kColumnRewritesTable, what + " has a DEFAULT, which PostgreSQL " +
                                       std::to_string(*options_.server_version) +
                                       " writes into every row (11+ only for a volatile one)");
    } else if (default_expr) {
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
    if (not_null && default_expr) {
      defaulted_not_null_[{table, column.value("colname", "")}] = index_;
    }
  }

  // Django's AddField with a default adds the column NOT NULL with a DEFAULT for the existing
  // rows, then drops the default: the old release's INSERTs, which leave the column out,
  // fail from then on. Harmless once no old release runs (phase: PostDeploy).
  void DropDefault(const std::string& table, const std::string& column) {
    auto added = defaulted_not_null_.find({table, column});
    if (added == defaulted_not_null_.end() || step_.phase == plan::Phase::kPostDeploy) return;
    Report(kDropDefaultBreaksOldInserts, "DROP DEFAULT of column " + column + " of " + table +
                                             ", added NOT NULL with a DEFAULT "
                                             "by statement " +
                                             std::to_string(added->second + 1));
  }

  // A type change PostgreSQL makes in the catalogue only (a widening, varchar to text) is
  // safe; any other, or one from a type tidemark does not know, rewrites the table.
  void TypeChange(const std::string& table, const std::string& column, const json& def) {
    const std::optional<ColumnType> to = TypeOf(def.value("typeName", json()));
    const std::string what =
        "ALTER COLUMN " + column + " TYPE " + (to ? to->ToString() : "") + " on " + table;
    if (def.contains("raw_default") && !IsCastOfColumn(def["raw_default"], column, to)) {
      Report(kColumnTypeChange, what + " USING an expression, which rewrites every row");
      return;
    }
    if (def.contains("collClause")) {
      Report(kColumnTypeChange, what + " with a COLLATE, which rebuilds the column's indexes");
      return;
    }
    const std::optional<ColumnType> from = schema_.Find(table, column);
    if (!from || !to) {
      Report(kColumnTypeChange, what +
                                    " (its current type is unknown: no earlier step creates "
                                    "it; tidemark lint --database reads it from the database)");
    } else if (auto why = RewriteReason(*from, *to)) {
      Report(kColumnTypeChange, what + " " + *why);
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
  const LintOptions& options_;
  Schema& schema_;
  std::vector<plan::LintFinding>* findings_;
  std::set<std::string> created_;
  bool in_transaction_;
  std::optional<int> open_begin_;  // the BEGIN of a non-atomic step not yet closed
  // What the current transaction did, whose locks it still holds.
  std::set<std::string> altered_;
  std::map<std::string, std::set<std::string>> not_valid_;  // table -> constraints
  // Columns the step added NOT NULL with a DEFAULT: (table, column) -> statement index.
  std::map<std::pair<std::string, std::string>, int> defaulted_not_null_;
  int index_ = 0;
};

}  // namespace

PlanLinter::PlanLinter(LintOptions options)
    : options_(std::move(options)), schema_(options_.default_schema, std::move(options_.catalog)) {}

std::vector<plan::LintFinding> PlanLinter::Lint(const plan::Step& step,
                                                const std::vector<Statement>& statements) {
  std::vector<plan::LintFinding> findings;
  StepLinter linter(step, options_, schema_, &findings);
  for (size_t i = 0; i < statements.size(); ++i) {
    linter.Statement(statements[i].tree, static_cast<int>(i));
  }
  linter.Finish();
  AcceptAllowedFindings(step, statements, &findings);
  return findings;
}

std::vector<plan::LintFinding> LintStep(const plan::Step& step,
                                        const std::vector<Statement>& statements) {
  return PlanLinter().Lint(step, statements);
}

}  // namespace tidemark::sql
