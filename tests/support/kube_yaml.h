// YAML documents as JSON values, the way Kubernetes tools read manifests.
//
// yaml-cpp parses; this adapter only maps its nodes onto nlohmann::json with the scalar
// rules of sigs.k8s.io/yaml (YAML 1.1): plain `true`/`yes`/`on`/`Off`... are booleans,
// plain numbers are numbers, `~`/`null`/empty are null, quoted and block scalars stay
// strings. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/base/status.h"

namespace tidemark::testing {

// Every non-empty document of a YAML stream.
Result<std::vector<nlohmann::json>> YamlDocumentsToJson(const std::string& text);
// A stream holding exactly one document.
Result<nlohmann::json> YamlToJson(const std::string& text);
// Every non-empty document of a YAML file.
Result<std::vector<nlohmann::json>> LoadYamlFile(const std::string& path);

}  // namespace tidemark::testing
