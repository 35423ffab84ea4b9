#include "sql/lint.h"

#include <set>

namespace tidemark::sql {
namespace {

using nlohmann::json;

const LintRule kIndexWithoutConcurrently{
    "require-concurrent-index-creation", plan::Severity::kError,
    "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds"};
const LintRule kConcurrentlyInTransaction{
    "ban-concurrently-in-transaction", plan::Severity::kError,
    "CONCURRENTLY cannot run inside a transaction: mark the step atomic: false"};
const LintRule kNotNullWithoutDefault{
    "adding-required-field", plan::Severity::kError,
    "adding a NOT NULL column without a DEFAULT fails on a table that has rows"};
const LintRule kSetNotNull{
    "setting-not-nullable-field", plan::Severity::kError,
    "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock; add a CHECK (col IS "
    "NOT NULL) NOT VALID constraint, VALIDATE it, then SET NOT NULL"};
const LintRule kColumnTypeChange{
    "changing-column-type", plan::Severity::kError,
    "changing a column's type usually rewrites the table under an ACCESS EXCLUSIVE lock"};
const LintRule kConstraintWithoutNotValid{
    "constraint-missing-not-valid", plan::Severity::kError,
    "adding a FOREIGN KEY or CHECK constraint without NOT VALID scans the table under lock; "
    "add it NOT VALID, then VALIDATE CONSTRAINT in a later step"};
const LintRule kUniqueConstraint{
    "disallowed-unique-constraint", plan::Severity::kError,
    "adding a UNIQUE constraint builds its index under lock; CREATE UNIQUE INDEX "
    "CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX"};
const LintRule kVolatileDefault{
    "adding-field-with-volatile-default", plan::Severity::kError,
    "a volatile DEFAULT (random(), gen_random_uuid(), clock_timestamp(), ...) rewrites the table"};
const LintRule kDropColumn{"ban-drop-column", plan::Severity::kWarning,
                           "dropping a column breaks code that still reads it"};
const LintRule kDropTable{"ban-drop-table", plan::Severity::kWarning,
                          "dropping a table breaks code that still uses it"};
const LintRule kRenameColumn{"renaming-column", plan::Severity::kWarning,
                             "renaming a column breaks code that uses the old name"};
const LintRule kRenameTable{"renaming-table", plan::Severity::kWarning,
                            "renaming a table breaks code that uses the old name"};
const LintRule kDropIndexWithoutConcurrently{
    "require-concurrent-index-deletion", plan::Severity::kWarning,
    "DROP INDEX without CONCURRENTLY blocks reads and writes of the table"};
const LintRule kDropDatabase{"ban-drop-database", plan::Severity::kError,
                             "a migration must not drop a database"};

const std::set<std::string> kVolatileFunctions = {
    "random",    "gen_random_uuid",     "uuid_generate_v1", "uuid_generate_v4", "clock_timestamp",
    "timeofday", "statement_timestamp", "nextval",          "txid_current"};

std::string RelationName(const json& relation) {
  return relation.is_object() ? relation.value("relname", "") : "";
}

std::string LastName(const json& names) {
  if (!names.is_array() || names.empty()) return "";
  const json& last = names.back();
  return last.contains("String") ? last["String"].value("sval", "") : "";
}

// True when `expr` calls a volatile function anywhere inside.
bool CallsVolatile(const json& expr) {
  if (expr.is_object()) {
    if (expr.contains("FuncCall") &&
        kVolatileFunctions.count(LastName(expr["FuncCall"].value("funcname", json::array())))) {
      return true;
    }
    for (const auto& [key, value] : expr.items()) {
      if (CallsVolatile(value)) return true;
    }
  } else if (expr.is_array()) {
    for (const auto& value : expr) {
      if (CallsVolatile(value)) return true;
    }
  }
  return false;
}

class StepLinter {
 public:
  StepLinter(const plan::Step& step, std::vector<plan::LintFinding>* findings)
      : step_(step), findings_(findings) {}

  void Statement(const json& tree, int index) {
    index_ = index;
    if (tree.contains("CreateStmt")) {
      created_.insert(RelationName(tree["CreateStmt"].value("relation", json())));
    } else if (tree.contains("IndexStmt")) {
      Index(tree["IndexStmt"]);
    } else if (tree.contains("AlterTableStmt")) {
      AlterTable(tree["AlterTableStmt"]);
    } else if (tree.contains("RenameStmt")) {
      const json& rename = tree["RenameStmt"];
      const std::string type = rename.value("renameType", "");
      const std::string table = RelationName(rename.value("relation", json()));
      if (type == "OBJECT_COLUMN") {
        Report(kRenameColumn, "column " + rename.value("subname", "") + " of " + table +
                                  " renamed to " + rename.value("newname", ""));
      } else if (type == "OBJECT_TABLE") {
        Report(kRenameTable, "table " + table + " renamed to " + rename.value("newname", ""));
      }
    } else if (tree.contains("DropStmt")) {
      const json& drop = tree["DropStmt"];
      const std::string type = drop.value("removeType", "");
      if (type == "OBJECT_TABLE") Report(kDropTable, "DROP TABLE");
      if (type == "OBJECT_INDEX") {
        if (drop.value("concurrent", false)) {
          ConcurrentlyCheck("DROP INDEX CONCURRENTLY");
        } else {
          Report(kDropIndexWithoutConcurrently, "DROP INDEX without CONCURRENTLY");
        }
      }
    } else if (tree.contains("DropdbStmt")) {
      Report(kDropDatabase, "DROP DATABASE " + tree["DropdbStmt"].value("dbname", ""));
    }
  }

 private:
  void Report(const LintRule& rule, const std::string& what) {
    findings_->push_back(
        {step_.id, rule.name, rule.severity,
         "statement " + std::to_string(index_ + 1) + ": " + what + ": " + rule.summary, index_});
  }

  void ConcurrentlyCheck(const std::string& what) {
    if (step_.atomic) Report(kConcurrentlyInTransaction, what);
  }

  bool IsNew(const std::string& table) const { return created_.count(table) > 0; }

  void Index(const json& index) {
    const std::string table = RelationName(index.value("relation", json()));
    if (index.value("concurrent", false)) {
      ConcurrentlyCheck("CREATE INDEX CONCURRENTLY on " + table);
    } else if (!IsNew(table)) {
      Report(kIndexWithoutConcurrently,
             "CREATE INDEX " + index.value("idxname", "") + " on " + table);
    }
  }

  void AlterTable(const json& alter) {
    const std::string table = RelationName(alter.value("relation", json()));
    if (IsNew(table)) return;
    for (const auto& item : alter.value("cmds", json::array())) {
      if (!item.contains("AlterTableCmd")) continue;
      const json& cmd = item["AlterTableCmd"];
      const std::string subtype = cmd.value("subtype", "");
      const std::string column = cmd.value("name", "");
      if (subtype == "AT_AddColumn") {
        AddColumn(table, cmd.value("def", json()).value("ColumnDef", json::object()));
      } else if (subtype == "AT_SetNotNull") {
        Report(kSetNotNull, "ALTER COLUMN " + column + " SET NOT NULL on " + table);
      } else if (subtype == "AT_AlterColumnType") {
        Report(kColumnTypeChange, "ALTER COLUMN " + column + " TYPE on " + table);
      } else if (subtype == "AT_DropColumn") {
        Report(kDropColumn, "DROP COLUMN " + column + " of " + table);
      } else if (subtype == "AT_AddConstraint") {
        AddConstraint(table, cmd.value("def", json()).value("Constraint", json::object()));
      }
    }
  }

  void AddColumn(const std::string& table, const json& column) {
    bool not_null = false;
    bool has_default = false;
    for (const auto& item : column.value("constraints", json::array())) {
      const json& constraint = item.value("Constraint", json::object());
      const std::string type = constraint.value("contype", "");
      if (type == "CONSTR_NOTNULL" || type == "CONSTR_PRIMARY") not_null = true;
      if (type == "CONSTR_DEFAULT") {
        has_default = true;
        if (CallsVolatile(constraint.value("raw_expr", json()))) {
          Report(kVolatileDefault, "column " + column.value("colname", "") + " of " + table);
        }
      }
    }
    if (not_null && !has_default) {
      Report(kNotNullWithoutDefault, "column " + column.value("colname", "") + " of " + table);
    }
  }

  void AddConstraint(const std::string& table, const json& constraint) {
    const std::string type = constraint.value("contype", "");
    const std::string name = constraint.value("conname", "");
    if ((type == "CONSTR_FOREIGN" || type == "CONSTR_CHECK") &&
        !constraint.value("skip_validation", false)) {
      Report(kConstraintWithoutNotValid, "constraint " + name + " on " + table);
    }
    if ((type == "CONSTR_UNIQUE" || type == "CONSTR_PRIMARY") &&
        constraint.value("indexname", "").empty()) {
      Report(kUniqueConstraint, "constraint " + name + " on " + table);
    }
  }

  const plan::Step& step_;
  std::vector<plan::LintFinding>* findings_;
  std::set<std::string> created_;
  int index_ = 0;
};

}  // namespace

const std::vector<LintRule>& LintRules() {
  static const std::vector<LintRule> rules = {kIndexWithoutConcurrently,
                                              kConcurrentlyInTransaction,
                                              kNotNullWithoutDefault,
                                              kSetNotNull,
                                              kColumnTypeChange,
                                              kConstraintWithoutNotValid,
                                              kUniqueConstraint,
                                              kVolatileDefault,
                                              kDropColumn,
                                              kDropTable,
                                              kRenameColumn,
                                              kRenameTable,
                                              kDropIndexWithoutConcurrently,
                                              kDropDatabase};
  return rules;
}

std::vector<plan::LintFinding> LintStep(const plan::Step& step,
                                        const std::vector<Statement>& statements) {
  std::vector<plan::LintFinding> findings;
  StepLinter linter(step, &findings);
  for (size_t i = 0; i < statements.size(); ++i) {
    linter.Statement(statements[i].tree, static_cast<int>(i));
  }
  return findings;
}

}  // namespace tidemark::sql
