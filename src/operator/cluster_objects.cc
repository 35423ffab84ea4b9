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

Result<runtime::ObjectPtr> ClusterObjects::Secret(const std::string& ns,
                                                  const std::string& name) const {
  runtime::ObjectPtr object = secrets_.Get(ns + "/" + name);
  if (!object) {
    return Status::NotFound("Secret " + name + " (namespace " + ns +
                            ") does not exist; create it, or fix the secretKeyRef");
  }
  return object;
}

namespace {

Result<std::string> Decoded(const std::string& name, const std::string& key,
                            const nlohmann::json& encoded) {
  auto decoded = Base64Decode(encoded.get<std::string>());
  if (!decoded.ok()) {
    return Status::InvalidArgument("Secret " + name + " key " + key + " is not valid base64");
  }
  return decoded;
}

}  // namespace

Result<std::string> ClusterObjects::SecretValue(const std::string& ns, const std::string& name,
                                                const std::string& key) {
  TM_ASSIGN_OR_RETURN(const runtime::ObjectPtr object, Secret(ns, name));
  const nlohmann::json data = object->value("data", nlohmann::json::object());
  if (!data.contains(key) || !data[key].is_string()) {
    return Status::NotFound("Secret " + name + " (namespace " + ns + ") has no key \"" + key +
                            "\"");
  }
  return Decoded(name, key, data[key]);
}

Result<std::map<std::string, std::string>> ClusterObjects::SecretData(const std::string& ns,
                                                                      const std::string& name) {
  TM_ASSIGN_OR_RETURN(const runtime::ObjectPtr object, Secret(ns, name));
  std::map<std::string, std::string> values;
  const nlohmann::json data = object->value("data", nlohmann::json::object());
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (!it->is_string()) continue;
    TM_ASSIGN_OR_RETURN(values[it.key()], Decoded(name, it.key(), *it));
  }
  return values;
}

}  // namespace tidemark::op
