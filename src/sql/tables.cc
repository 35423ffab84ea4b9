#include "sql/tables.h"

namespace tidemark::sql {

std::string QualifiedName(const nlohmann::json& relation) {
  if (!relation.is_object()) return "";
  const std::string schema = relation.value("schemaname", "");
  const std::string name = relation.value("relname", "");
  return schema.empty() ? name : schema + "." + name;
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

}  // namespace tidemark::sql
