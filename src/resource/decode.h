// Decoding MigrationPlan objects into the model of plan/model.h: the one decoder, over
// nlohmann::json as the API server sends objects. Plan files reach it the same way:
// resource/documents.h turns their YAML into JSON when they are loaded.
//
// Strict, as the API server is with strict field validation: an unknown field, a wrong
// type or a bad value is an error that names the field path and says what to write
// instead. All problems of a document are reported together, one per line. A string
// field takes a JSON string, number or boolean by its text; a boolean field takes a JSON
// boolean or one of the strings true, True, false, False. Free functions without state.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/model.h"

namespace tidemark::resource {

inline constexpr char kApiVersion[] = "tidemark.dev/v1alpha1";
inline constexpr char kKind[] = "MigrationPlan";

// Limits of a plan (docs/plan-format.md), so that any input is refused at once with a clear
// message rather than exhausting memory: steps of one plan, inline and from ConfigMaps; an
// app label or step name (the ledger's varchar(255)); a step's forward or backward SQL.
inline constexpr size_t kMaxSteps = 20000;
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxSqlBytes = 1 << 20;

// "25,000 steps, more than the 20,000 a plan may hold; ..." for a plan past kMaxSteps.
std::string TooMany(size_t steps);

// Decodes one MigrationPlan object (apiVersion, kind, metadata, spec; the status is
// skipped, not read). `origin` names the source in messages, e.g.
// "examples/shop.yaml (document 2)".
Result<plan::MigrationPlan> DecodePlan(const nlohmann::json& object, const std::string& origin);

// Decodes a list of steps, as a ConfigMap data key holds them. Each step's origin becomes
// `origin[i]`.
Result<std::vector<plan::Step>> DecodeSteps(const nlohmann::json& list, const std::string& origin);

// Parses "5s", "15m", "1h30m", "250ms", "0" (Go duration syntax, as Kubernetes writes it).
// False for anything else and for more than kMaxDuration: PostgreSQL's longest timeout,
// about 596 h (a longer one was undefined behaviour, past int64's milliseconds).
inline constexpr std::chrono::milliseconds kMaxDuration{2'147'483'647};
bool ParseDuration(const std::string& text, std::chrono::milliseconds* out);
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace tidemark::resource
