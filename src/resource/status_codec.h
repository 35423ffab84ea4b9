// The MigrationPlan status on the wire: plan::PlanStatus as the CRD stores it (camelCase
// fields, SPEC section 1), and the conditions read back from a stored status. The
// counterpart of resource/decode.h for the status; the model itself (plan/status.h) knows no
// JSON. Free functions without state.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "plan/status.h"

namespace tidemark::resource {

// The `status` object, fields in the CRD's order.
nlohmann::ordered_json StatusToJson(const plan::PlanStatus& status);

// The status fields that describe the last run that changed the ledger. A reconcile that
// changes nothing leaves them out of its status, and they stay as that run left them; every
// other field is the plan's state now, and a field left out is gone.
inline constexpr const char* kLastRunFields[] = {"lastApplied", "lastRun"};

// The conditions of a stored status (for lastTransitionTime bookkeeping); entries that are
// no object are skipped, missing fields read as empty.
std::vector<plan::Condition> ConditionsFromJson(const nlohmann::ordered_json& status);

}  // namespace tidemark::resource
