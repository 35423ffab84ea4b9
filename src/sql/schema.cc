#include "sql/schema.h"

#include <set>

#include "sql/parse.h"
#include "sql/tables.h"

namespace tidemark::sql {
namespace {

using nlohmann::json;

// Types whose modifier is a length or precision that PostgreSQL widens, or drops, without
// touching the rows (their support functions: varchar_support, varbit_support,
// timestamp_support, time_support).
const std::set<std::string> kWidenableTypes = {"varchar", "varbit", "timestamp", "timestamptz",
                                               "time"};

// The column a CHECK constraint's expression `column IS NOT NULL` tests, else "".
std::string NotNullTestColumn(const json& expr) {
  if (!expr.is_object()) return "";
  const json& test = expr.value("NullTest", json::object());
  if (test.value("nulltesttype", "") != "IS_NOT_NULL") return "";
  const json& fields = test.value("arg", json::object())
                           .value("ColumnRef", json::object())
                           .value("fields", json::array());
  if (fields.size() != 1 || !fields[0].contains("String")) return "";
  return fields[0]["String"].value("sval", "");
}

bool SameType(const ColumnType& a, const ColumnType& b) {
  return a.name == b.name && a.modifiers == b.modifiers && a.array == b.array;
}

// numeric(p) is numeric(p,0).
std::vector<int> NumericModifiers(const ColumnType& type) {
  std::vector<int> modifiers = type.modifiers;
  if (modifiers.size() == 1) modifiers.push_back(0);
  return modifiers;
}

}  // namespace

std::string ColumnType::ToString() const {
  std::string text = name;
  for (size_t i = 0; i < modifiers.size(); ++i) {
    text += (i == 0 ? "(" : ",") + std::to_string(modifiers[i]);
  }
  if (!modifiers.empty()) text += ")";
  return array ? text + "[]" : text;
}

std::optional<ColumnType> TypeOf(const json& type_name) {
  if (!type_name.is_object()) return std::nullopt;
  const json& names = type_name.value("names", json::array());
  if (!names.is_array() || names.empty() || !names.back().contains("String")) return std::nullopt;
  ColumnType type;
  type.name = names.back()["String"].value("sval", "");
  for (const json& modifier : type_name.value("typmods", json::array())) {
    const json& constant = modifier.value("A_Const", json());
    if (!constant.is_object() || !constant.contains("ival")) return std::nullopt;
    type.modifiers.push_back(constant["ival"].value("ival", 0));
  }
  type.array = !type_name.value("arrayBounds", json::array()).empty();
  return type;
}

std::optional<std::string> RewriteReason(const ColumnType& from, const ColumnType& to) {
  const std::string change = from.ToString() + " to " + to.ToString();
  if (SameType(from, to)) return std::nullopt;
  if (from.array || to.array) return "changes " + change + ", which rewrites every row";
  const bool text_like_from = from.name == "varchar" || from.name == "text";
  if (to.name == "text" && text_like_from) return std::nullopt;
  if (from.name == "cidr" && to.name == "inet") return std::nullopt;
  if (from.name == "numeric" && to.name == "numeric") {
    if (to.modifiers.empty()) return std::nullopt;
    const std::vector<int> old = NumericModifiers(from), now = NumericModifiers(to);
    if (old.empty()) return "limits " + change + ", which checks and rewrites every row";
    if (old[1] != now[1]) return "changes the scale, " + change + ", which rewrites every row";
    if (now[0] >= old[0]) return std::nullopt;
    return "narrows " + change + ", which checks and rewrites every row";
  }
  const bool widenable = kWidenableTypes.count(to.name) > 0;
  if (widenable && (from.name == to.name || (to.name == "varchar" && from.name == "text"))) {
    if (to.modifiers.empty()) return std::nullopt;
    if (from.name == to.name && !from.modifiers.empty() && from.modifiers <= to.modifiers &&
        from.modifiers.size() == to.modifiers.size()) {
      return std::nullopt;
    }
    const bool narrows = !from.modifiers.empty() && from.name == to.name;
    return (narrows ? "narrows " : "limits ") + change + ", which checks and rewrites every row";
  }
  return "changes " + change + ", which rewrites every row and rebuilds the indexes";
}

Schema::Schema(std::string default_schema, CatalogColumns catalog)
    : default_schema_(std::move(default_schema)), catalog_(std::move(catalog)) {}

std::string Schema::Key(const std::string& table) const {
  return table.find('.') == std::string::npos ? default_schema_ + "." + table : table;
}

std::optional<ColumnType> Schema::CatalogType(const std::string& key,
                                              const std::string& column) const {
  auto table = catalog_.find(key);
  if (table == catalog_.end()) return std::nullopt;
  auto type = table->second.find(column);
  if (type == table->second.end()) return std::nullopt;
  // The catalogue writes types as SQL (format_type); the parser reads them as the steps'.
  auto parsed = Parse("SELECT NULL::" + type->second, /*with_trees=*/true);
  if (!parsed.ok() || parsed->size() != 1) return std::nullopt;
  const json& target =
      (*parsed)[0].tree.value("SelectStmt", json::object()).value("targetList", json::array());
  if (target.size() != 1) return std::nullopt;
  const json& cast = target[0]
                         .value("ResTarget", json::object())
                         .value("val", json::object())
                         .value("TypeCast", json::object());
  return TypeOf(cast.value("typeName", json()));
}

std::optional<ColumnType> Schema::Find(const std::string& table, const std::string& column) const {
  const std::string key = Key(table);
  auto found = tables_.find(key);
  if (found != tables_.end()) {
    const Table& known = found->second;
    if (known.dropped) return std::nullopt;
    auto type = known.columns.find(column);
    if (type != known.columns.end()) return type->second;
    if (known.complete) return std::nullopt;
  }
  return CatalogType(key, column);
}

bool Schema::HasValidNotNullCheck(const std::string& table, const std::string& column) const {
  return valid_not_null_.count({Key(table), column}) > 0;
}

void Schema::Apply(const json& tree) {
  if (tree.contains("CreateStmt")) {
    const json& create = tree["CreateStmt"];
    Table table;
    // Inherited, LIKE, OF type and PARTITION OF columns are not in the column list.
    table.complete = create.value("inhRelations", json::array()).empty() &&
                     !create.contains("ofTypename") && !create.contains("partbound");
    for (const json& element : create.value("tableElts", json::array())) {
      if (element.contains("ColumnDef")) {
        const json& column = element["ColumnDef"];
        table.columns[column.value("colname", "")] = TypeOf(column.value("typeName", json()));
      } else if (element.contains("TableLikeClause")) {
        table.complete = false;
      }
    }
    tables_[Key(QualifiedName(create.value("relation", json())))] = std::move(table);
  } else if (tree.contains("CreateTableAsStmt")) {
    const json& into = tree["CreateTableAsStmt"].value("into", json::object());
    Table table;
    table.complete = true;  // columns of a query: known to nobody here
    tables_[Key(QualifiedName(into.value("rel", json())))] = std::move(table);
  } else if (tree.contains("AlterTableStmt")) {
    const json& alter = tree["AlterTableStmt"];
    if (alter.value("objtype", "") != "OBJECT_TABLE") return;
    const std::string key = Key(QualifiedName(alter.value("relation", json())));
    Table& table = tables_[key];
    for (const json& item : alter.value("cmds", json::array())) {
      const json& cmd = item.value("AlterTableCmd", json::object());
      const std::string subtype = cmd.value("subtype", "");
      const json& def = cmd.value("def", json::object()).value("ColumnDef", json::object());
      if (subtype == "AT_AddColumn") {
        table.columns[def.value("colname", "")] = TypeOf(def.value("typeName", json()));
      } else if (subtype == "AT_AlterColumnType") {
        table.columns[cmd.value("name", "")] = TypeOf(def.value("typeName", json()));
      } else if (subtype == "AT_DropColumn") {
        table.columns[cmd.value("name", "")] = std::nullopt;
      } else if (subtype == "AT_AddConstraint") {
        const json& constraint =
            cmd.value("def", json::object()).value("Constraint", json::object());
        const std::string column = NotNullTestColumn(constraint.value("raw_expr", json()));
        if (constraint.value("contype", "") != "CONSTR_CHECK" || column.empty()) continue;
        if (constraint.value("skip_validation", false)) {
          not_null_checks_[key][constraint.value("conname", "")] = column;
        } else {
          valid_not_null_.insert({key, column});
        }
      } else if (subtype == "AT_ValidateConstraint") {
        auto checks = not_null_checks_.find(key);
        if (checks == not_null_checks_.end()) continue;
        auto check = checks->second.find(cmd.value("name", ""));
        if (check != checks->second.end()) valid_not_null_.insert({key, check->second});
      }
    }
  } else if (tree.contains("RenameStmt")) {
    const json& rename = tree["RenameStmt"];
    const std::string type = rename.value("renameType", "");
    const std::string from = QualifiedName(rename.value("relation", json()));
    const std::string key = Key(from);
    const std::string new_name = rename.value("newname", "");
    if (type == "OBJECT_COLUMN") {
      const std::string column = rename.value("subname", "");
      std::optional<ColumnType> moved = Find(from, column);
      Table& table = tables_[key];
      table.columns[column] = std::nullopt;
      table.columns[new_name] = moved;
    } else if (type == "OBJECT_TABLE") {
      Table moved = tables_[key];
      if (auto catalog = catalog_.find(key); catalog != catalog_.end()) {
        for (const auto& [column, text] : catalog->second) {
          if (!moved.columns.count(column)) moved.columns[column] = CatalogType(key, column);
        }
        moved.complete = true;
      }
      Table gone;
      gone.dropped = true;
      tables_[key] = gone;
      tables_[key.substr(0, key.find('.') + 1) + new_name] = std::move(moved);
    }
  } else if (tree.contains("DropStmt")) {
    const json& drop = tree["DropStmt"];
    if (drop.value("removeType", "") != "OBJECT_TABLE") return;
    for (const json& object : drop.value("objects", json::array())) {
      std::string name;
      for (const json& part : object.value("List", json::object()).value("items", json::array())) {
        name += (name.empty() ? "" : ".") + part.value("String", json::object()).value("sval", "");
      }
      Table gone;
      gone.dropped = true;
      tables_[Key(name)] = gone;
    }
  }
}

}  // namespace tidemark::sql
