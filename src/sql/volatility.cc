#include "sql/volatility.h"

#include <set>

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

}  // namespace

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

}  // namespace tidemark::sql
