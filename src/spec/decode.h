// Decoding MigrationPlan documents (YAML or JSON) into the model of plan/model.h.
//
// Strict, as the API server is with strict field validation: an unknown field, a wrong
// type or a bad value is an error that names the field path and says what to write
// instead. All problems of a document are reported together, one per line.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/model.h"

namespace tidemark::spec {

inline constexpr char kApiVersion[] = "tidemark.dev/v1alpha1";
inline constexpr char kKind[] = "MigrationPlan";

// Decodes one MigrationPlan object (apiVersion, kind, metadata, spec; status ignored).
// `origin` names the source in messages, e.g. "examples/shop.yaml (document 2)".
Result<plan::MigrationPlan> DecodePlan(const YAML::Node& node, const std::string& origin);

// Decodes a YAML list of steps, as a ConfigMap data key holds them. Each step's origin
// becomes `origin[i]`.
Result<std::vector<plan::Step>> DecodeSteps(const YAML::Node& node, const std::string& origin);

// The same tree as YAML nodes, for objects that arrive as JSON (the API server, .json
// files): far cheaper than handing JSON text to the YAML parser.
YAML::Node FromJson(const nlohmann::json& value);

// Parses "5s", "15m", "1h30m", "250ms", "0" (Go duration syntax, as Kubernetes writes it).
bool ParseDuration(const std::string& text, std::chrono::milliseconds* out);
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace tidemark::spec
