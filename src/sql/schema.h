// The plan's schema as lint follows it: the column types of the tables that the steps create
// and alter, in the order the steps run, over what the live catalogue says (tidemark lint
// --database). It tells a column type change that PostgreSQL makes without rewriting the
// table (widening a varchar, varchar to text) from one that rewrites it.
//
// Pure: no I/O. Not thread-safe; one Schema serves one lint of a plan.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tidemark::sql {

// A column type as the parser reads it: the type's own name (varchar, numeric, int4,
// timestamptz, text, ...), its modifiers (varchar(100): {100}; numeric(10,2): {10, 2}) and
// whether it is an array.
struct ColumnType {
  std::string name;
  std::vector<int> modifiers;
  bool array = false;
  // How messages show it: varchar(100), numeric(10,2), int4[].
  std::string ToString() const;
};

// The type a parse tree's TypeName names; nullopt when its modifiers are not plain integers.
std::optional<ColumnType> TypeOf(const nlohmann::json& type_name);

// Why changing a column from `from` to `to` (ALTER COLUMN ... TYPE without USING) rewrites
// the table, or nullopt when PostgreSQL only changes the catalogue: the types are binary
// coercible (varchar to text) or the modifier only widens (varchar(n) to varchar(m > n),
// numeric(p,s) to numeric(q > p,s), timestamp(p) to timestamp(q > p), or dropping it).
std::optional<std::string> RewriteReason(const ColumnType& from, const ColumnType& to);

// "schema.table" -> column -> type as the catalogue writes it (format_type: character
// varying(100)): the database's tables before the plan's steps.
using CatalogColumns = std::map<std::string, std::map<std::string, std::string>>;

class Schema {
 public:
  // `default_schema` is where an unqualified name lives (the plan's database.schema).
  explicit Schema(std::string default_schema = "public", CatalogColumns catalog = {});

  // Follows what `tree` (one statement's parse tree) does to tables and columns.
  void Apply(const nlohmann::json& tree);

  // The type of `column` of `table` (as the SQL names it, qualified or not) before the
  // statement being linted; nullopt when neither the steps so far nor the catalogue say.
  std::optional<ColumnType> Find(const std::string& table, const std::string& column) const;

  // Whether the steps so far gave `column` of `table` a validated CHECK (column IS NOT NULL),
  // with which SET NOT NULL skips its scan (PostgreSQL 12+).
  bool HasValidNotNullCheck(const std::string& table, const std::string& column) const;

 private:
  struct Table {
    bool dropped = false;
    // Created by a step with its column list: a column not listed does not exist, whatever
    // the catalogue says of an older table of that name.
    bool complete = false;
    std::map<std::string, std::optional<ColumnType>> columns;  // nullopt: type unknown
  };

  std::string Key(const std::string& table) const;
  std::optional<ColumnType> CatalogType(const std::string& key, const std::string& column) const;

  std::string default_schema_;
  CatalogColumns catalog_;
  std::map<std::string, Table> tables_;  // "schema.table" -> what the steps so far made of it
  // CHECK (column IS NOT NULL) constraints added NOT VALID: "schema.table" -> name -> column.
  std::map<std::string, std::map<std::string, std::string>> not_null_checks_;
  std::set<std::pair<std::string, std::string>> valid_not_null_;  // ("schema.table", column)
};

}  // namespace tidemark::sql
