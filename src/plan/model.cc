#include "plan/model.h"

#include <algorithm>

namespace tidemark::plan {

std::optional<StepId> ParseStepId(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) return std::nullopt;
  return StepId{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
}

const char* PhaseName(Phase phase) {
  return phase == Phase::kPostDeploy ? "PostDeploy" : "PreDeploy";
}

const char* WorkloadKindName(WorkloadKind kind) {
  return kind == WorkloadKind::kStatefulSet ? "StatefulSet" : "Deployment";
}

std::vector<std::string> SecretNames(const DatabaseSpec& database) {
  std::vector<std::string> names;
  for (const Value* value : {&database.dsn, &database.host, &database.port, &database.dbname,
                             &database.user, &database.password, &database.ssl_mode}) {
    if (!value->from || value->from->kind != ValueSource::Kind::kSecretKeyRef) continue;
    if (std::find(names.begin(), names.end(), value->from->secret_name) == names.end()) {
      names.push_back(value->from->secret_name);
    }
  }
  return names;
}

}  // namespace tidemark::plan
