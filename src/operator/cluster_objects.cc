#include "operator/cluster_objects.h"

#include "base/base64.h"

namespace tidemark::op {

Result<std::map<std::string, std::string>> ClusterObjects::ConfigMapData(const std::string& ns,
                                                                         const std::string& name) {
  runtime::ObjectPtr object = config_maps_.Get(ns + "/" + name);
  if (!object) {
    return Status::NotFound("ConfigMap " + name + " (namespace " + ns +
                            ") does not exist; create it, or fix spec.migrationsFrom");
  }
  std::map<std::string, std::string> data;
  const auto found = object->find("data");
  if (found == object->end() || !found->is_object()) return data;
  for (auto it = found->begin(); it != found->end(); ++it) {
    if (it->is_string()) data[it.key()] = it->get<std::string>();
  }
  return data;
}

Result<std::string> ClusterObjects::SecretValue(const std::string& ns, const std::string& name,
                                                const std::string& key) {
  runtime::ObjectPtr object = secrets_.Get(ns + "/" + name);
  if (!object) {
    return Status::NotFound("Secret " + name + " (namespace " + ns +
                            ") does not exist; create it, or fix the secretKeyRef");
  }
  const nlohmann::json data = object->value("data", nlohmann::json::object());
  if (!data.contains(key) || !data[key].is_string()) {
    return Status::NotFound("Secret " + name + " (namespace " + ns + ") has no key \"" + key +
                            "\"");
  }
  auto decoded = Base64Decode(data[key].get<std::string>());
  if (!decoded.ok()) {
    return Status::InvalidArgument("Secret " + name + " key " + key + " is not valid base64");
  }
  return decoded;
}

namespace {

// Every secretKeyRef name under spec.database (dsnFrom, passwordFrom, hostFrom, ...).
void CollectSecretNames(const nlohmann::json& database, std::vector<std::string>* names) {
  if (!database.is_object()) return;
  for (const auto& [field, value] : database.items()) {
    if (!value.is_object() || !value.contains("secretKeyRef")) continue;
    const auto& ref = value["secretKeyRef"];
    if (ref.is_object() && ref.contains("name") && ref["name"].is_string()) {
      names->push_back(ref["name"].get<std::string>());
    }
  }
}

}  // namespace

bool PlanReferences(const nlohmann::json& plan, const std::string& kind, const std::string& ns,
                    const std::string& name) {
  const nlohmann::json metadata = plan.value("metadata", nlohmann::json::object());
  if (metadata.value("namespace", "") != ns) return false;
  const nlohmann::json spec = plan.value("spec", nlohmann::json::object());
  std::vector<std::string> names;
  if (kind == "ConfigMap") {
    const auto sources = spec.find("migrationsFrom");
    if (sources != spec.end() && sources->is_array()) {
      for (const auto& source : *sources) {
        const auto ref = source.find("configMapRef");
        if (ref != source.end() && ref->is_object() && ref->contains("name") &&
            (*ref)["name"].is_string()) {
          names.push_back((*ref)["name"].get<std::string>());
        }
      }
    }
  } else {
    CollectSecretNames(spec.value("database", nlohmann::json::object()), &names);
  }
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace tidemark::op
