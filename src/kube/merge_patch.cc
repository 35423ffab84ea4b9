#include "kube/merge_patch.h"

namespace tidemark::kube {

nlohmann::json MergePatchReplacing(const nlohmann::json& current, const nlohmann::json& desired) {
  if (!current.is_object() || !desired.is_object()) return desired;
  nlohmann::json patch = desired;
  for (const auto& [key, value] : current.items()) {
    const auto wanted = desired.find(key);
    patch[key] = wanted == desired.end() ? nullptr : MergePatchReplacing(value, *wanted);
  }
  return patch;
}

}  // namespace tidemark::kube
