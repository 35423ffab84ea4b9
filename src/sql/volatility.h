// Whether an expression's value can change from row to row: a DEFAULT that calls a volatile
// function makes ADD COLUMN rewrite the table, a stable one (now(), CURRENT_TIMESTAMP) does
// not on PostgreSQL 11+. tidemark knows a list of functions either way; a function it does
// not know is treated as volatile, and the finding says so. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace tidemark::sql {

// The first function the parse tree `expr` calls that is volatile or unknown, with why
// ("random(), which is volatile"); nullopt when every call is known not to be volatile.
std::optional<std::string> VolatileCall(const nlohmann::json& expr);

}  // namespace tidemark::sql
