#include "sql/tables.h"

namespace tidemark::sql {

std::vector<std::string> CreatedTables(const std::vector<Statement>& statements) {
  std::vector<std::string> tables;
  for (const Statement& statement : statements) {
    if (!statement.tree.contains("CreateStmt")) continue;
    const auto& relation = statement.tree["CreateStmt"].value("relation", nlohmann::json());
    const std::string schema = relation.value("schemaname", "");
    const std::string name = relation.value("relname", "");
    tables.push_back(schema.empty() ? name : schema + "." + name);
  }
  return tables;
}

}  // namespace tidemark::sql
