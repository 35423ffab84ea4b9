// Decodes the Kubernetes protobuf encoding ("k8s\0" + runtime.Unknown) of the few
// built-in kinds kubectl's imperative commands create: Namespace, ConfigMap, Secret
// (`kubectl create namespace|configmap|secret generic`). The test API server turns them
// into the JSON objects it stores; every other kind is refused. Pure, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "src/base/status.h"

namespace tidemark::testing {

// The object as JSON (apiVersion, kind, metadata and the kind's fields; Secret and
// ConfigMap binary values base64-encoded as in JSON). Unsupported for other kinds.
Result<nlohmann::json> DecodeKubernetesProtobuf(const std::string& body);

}  // namespace tidemark::testing
