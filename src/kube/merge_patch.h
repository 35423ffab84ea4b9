// JSON merge patches (RFC 7386) that write a whole object over what the server holds.
// A merge patch leaves alone every field it does not name, so a field that should be gone
// (a failure once the step succeeds) must be named with null; this adds those nulls.
#pragma once

#include <nlohmann/json.hpp>

namespace tidemark::kube {

// `desired`, plus null for each field of `current` (at any depth of objects) that desired
// lacks: applied to `current`, it yields `desired`. Arrays are replaced whole, as merge
// patches do. Neither side may hold a null (a merge patch cannot write one).
nlohmann::json MergePatchReplacing(const nlohmann::json& current, const nlohmann::json& desired);

}  // namespace tidemark::kube
