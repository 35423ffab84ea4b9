#include "sql/tables.h"

namespace tidemark::sql {

std::string QualifiedName(const nlohmann::json& relation) {
  if (!relation.is_object()) return "";
  const std::string schema = relation.value("schemaname", "");
  const std::string name = relation.value("relname", "");
  return schema.empty() ? name : schema + "." + name;
}

std::string LastName(const nlohmann::json& names) {
  if (!names.is_array() || names.empty()) return "";
  const nlohmann::json& last = names.back();
  return last.contains("String") ? last["String"].value("sval", "") : "";
}

std::vector<std::string> CreatedTables(const std::vector<Statement>& statements) {
  std::vector<std::string> tables;
  for (const Statement& statement : statements) {
    if (!statement.tree.contains("CreateStmt")) continue;
    tables.push_back(
        QualifiedName(statement.tree["CreateStmt"].value("relation", nlohmann::json())));
  }
  return tables;
}

bool IsBatchStatement(const Statement& statement) {
  const nlohmann::json& tree = statement.tree;
  if (tree.contains("UpdateStmt") || tree.contains("DeleteStmt")) return true;
  if (!tree.contains("InsertStmt")) return false;
  const nlohmann::json select = tree["InsertStmt"].value("selectStmt", nlohmann::json::object());
  return select.contains("SelectStmt") && !select["SelectStmt"].contains("valuesLists");
}

std::optional<ConcurrentStatement> Concurrently(const Statement& statement) {
  const nlohmann::json& tree = statement.tree;
  if (tree.contains("IndexStmt")) {
    const nlohmann::json& index = tree["IndexStmt"];
    if (!index.value("concurrent", false)) return std::nullopt;
    const nlohmann::json relation = index.value("relation", nlohmann::json::object());
    return ConcurrentStatement{relation.value("schemaname", ""), index.value("idxname", "")};
  }
  if (tree.contains("DropStmt")) {
    if (!tree["DropStmt"].value("concurrent", false)) return std::nullopt;
    return ConcurrentStatement{};
  }
  if (tree.contains("ReindexStmt")) {
    for (const auto& param : tree["ReindexStmt"].value("params", nlohmann::json::array())) {
      if (param.contains("DefElem") && param["DefElem"].value("defname", "") == "concurrently") {
        return ConcurrentStatement{};
      }
    }
    return std::nullopt;
  }
  if (tree.contains("AlterTableStmt")) {
    for (const auto& item : tree["AlterTableStmt"].value("cmds", nlohmann::json::array())) {
      const nlohmann::json cmd = item.value("AlterTableCmd", nlohmann::json::object());
      if (cmd.value("subtype", "") == "AT_DetachPartition" &&
          cmd.value("def", nlohmann::json::object())
              .value("PartitionCmd", nlohmann::json::object())
              .value("concurrent", false)) {
        return ConcurrentStatement{};
      }
    }
  }
  return std::nullopt;
}

}  // namespace tidemark::sql
