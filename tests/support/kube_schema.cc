#include "tests/support/kube_schema.h"

#include <map>
#include <mutex>
#include <regex>
#include <set>

namespace tidemark::testing {
namespace {

using nlohmann::json;

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string Item(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

// CRD patterns compiled once: every write validates the whole object, and compiling a
// std::regex costs far more than matching it.
const std::regex& CompiledPattern(const std::string& pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::regex> compiled;
  std::lock_guard lock(mutex);
  auto found = compiled.find(pattern);
  if (found == compiled.end()) found = compiled.emplace(pattern, std::regex(pattern)).first;
  return found->second;
}

bool PreservesUnknown(const json& schema) {
  return schema.value("x-kubernetes-preserve-unknown-fields", false);
}

void PruneValue(json& value, const json& schema, const std::string& path,
                std::vector<std::string>* unknown) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    const json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
    const json* additional =
        schema.contains("additionalProperties") && schema["additionalProperties"].is_object()
            ? &schema["additionalProperties"]
            : nullptr;
    for (auto it = value.begin(); it != value.end();) {
      const json* child_schema = nullptr;
      if (properties && properties->contains(it.key())) {
        child_schema = &(*properties)[it.key()];
      } else if (additional) {
        child_schema = additional;
      }
      if (child_schema) {
        PruneValue(it.value(), *child_schema, Child(path, it.key()), unknown);
        ++it;
      } else if (PreservesUnknown(schema)) {
        ++it;
      } else {
        if (unknown) unknown->push_back(Child(path, it.key()));
        it = value.erase(it);
      }
    }
  } else if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      PruneValue(value[i], schema["items"], Item(path, i), unknown);
    }
  }
}

void DefaultValue(json& value, const json& schema) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    if (schema.contains("properties")) {
      for (const auto& [key, child] : schema["properties"].items()) {
        const bool absent =
            !value.contains(key) || (value[key].is_null() && !child.value("nullable", false));
        if (absent && child.contains("default")) value[key] = child["default"];
        if (value.contains(key)) DefaultValue(value[key], child);
      }
    }
    if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
      for (auto& [key, child] : value.items()) {
        DefaultValue(child, schema["additionalProperties"]);
      }
    }
  } else if (value.is_array() && schema.contains("items")) {
    for (auto& item : value) DefaultValue(item, schema["items"]);
  }
}

std::string JsonTypeName(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "boolean";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  if (value.is_array()) return "array";
  return "object";
}

bool HasType(const json& value, const std::string& type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  return true;
}

// How the real server quotes a value inside "Invalid value: ...".
std::string Quote(const json& value) {
  if (value.is_object() || value.is_array()) return "\"" + JsonTypeName(value) + "\"";
  return value.dump();
}

class Validator {
 public:
  std::vector<FieldError> errors;

  void Check(const json& value, const json& schema, const std::string& path) {
    if (!schema.is_object()) return;
    if (value.is_null() && !schema.value("nullable", false) && schema.contains("type")) {
      TypeError(path, "null", schema["type"].get<std::string>());
      return;
    }
    if (value.is_null()) return;
    if (schema.contains("type")) {
      const std::string type = schema["type"].get<std::string>();
      if (!HasType(value, type)) {
        TypeError(path, JsonTypeName(value), type);
        return;
      }
    }
    CheckEnum(value, schema, path);
    if (value.is_string()) CheckString(value.get<std::string>(), schema, path);
    if (value.is_number()) CheckNumber(value, schema, path);
    if (value.is_object()) CheckObject(value, schema, path);
    if (value.is_array()) CheckArray(value, schema, path);
    CheckCombinators(value, schema, path);
  }

 private:
  void Add(const std::string& path, std::string reason, std::string message) {
    errors.push_back({path, std::move(reason), std::move(message)});
  }
  void TypeError(const std::string& path, const std::string& actual, const std::string& type) {
    Add(path, "FieldValueTypeInvalid",
        "Invalid value: \"" + actual + "\": " + path + " in body must be of type " + type + ": \"" +
            actual + "\"");
  }
  void Invalid(const std::string& path, const json& value, const std::string& detail) {
    Add(path, "FieldValueInvalid", "Invalid value: " + Quote(value) + ": " + detail);
  }

  void CheckEnum(const json& value, const json& schema, const std::string& path) {
    if (!schema.contains("enum")) return;
    for (const auto& allowed : schema["enum"]) {
      if (allowed == value) return;
    }
    std::string supported;
    for (const auto& allowed : schema["enum"]) {
      supported += (supported.empty() ? "" : ", ") + allowed.dump();
    }
    Add(path, "FieldValueNotSupported",
        "Unsupported value: " + Quote(value) + ": supported values: " + supported);
  }

  void CheckString(const std::string& text, const json& schema, const std::string& path) {
    const json value = text;
    if (schema.contains("maxLength") && text.size() > schema["maxLength"].get<size_t>()) {
      Add(path, "FieldValueTooLong",
          "Too long: may not be more than " + schema["maxLength"].dump() + " bytes");
    }
    if (schema.contains("minLength") && text.size() < schema["minLength"].get<size_t>()) {
      Invalid(path, value,
              path + " in body should be at least " + schema["minLength"].dump() + " chars long");
    }
    if (schema.contains("pattern")) {
      const std::string pattern = schema["pattern"].get<std::string>();
      if (!std::regex_search(text, CompiledPattern(pattern))) {
        Invalid(path, value, path + " in body should match '" + pattern + "'");
      }
    }
    if (schema.value("format", "") == "date-time") {
      static const std::regex kDateTime(
          "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
          "([Zz]|[-+][0-9]{2}:[0-9]{2})$");
      if (!std::regex_match(text, kDateTime)) {
        Invalid(path, value, path + " in body must be of type date-time: " + value.dump());
      }
    }
  }

  void CheckNumber(const json& value, const json& schema, const std::string& path) {
    const double number = value.get<double>();
    if (schema.contains("minimum") && number < schema["minimum"].get<double>()) {
      Invalid(path, value,
              path + " in body should be greater than or equal to " + schema["minimum"].dump());
    }
    if (schema.contains("maximum") && number > schema["maximum"].get<double>()) {
      Invalid(path, value,
              path + " in body should be less than or equal to " + schema["maximum"].dump());
    }
  }

  void CheckObject(const json& value, const json& schema, const std::string& path) {
    if (schema.contains("required")) {
      for (const auto& name : schema["required"]) {
        if (!value.contains(name.get<std::string>())) {
          Add(Child(path, name.get<std::string>()), "FieldValueRequired", "Required value");
        }
      }
    }
    for (const auto& [key, child] : value.items()) {
      if (path.empty() && key == "metadata") continue;  // checked by the server itself
      if (schema.contains("properties") && schema["properties"].contains(key)) {
        Check(child, schema["properties"][key], Child(path, key));
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        Check(child, schema["additionalProperties"], Child(path, key));
      }
    }
  }

  void CheckArray(const json& value, const json& schema, const std::string& path) {
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<size_t>()) {
      Add(path, "FieldValueTooMany",
          "Too many: " + std::to_string(value.size()) + ": must have at most " +
              schema["maxItems"].dump() + " items");
    }
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>()) {
      Invalid(path, value,
              path + " in body should have at least " + schema["minItems"].dump() + " items");
    }
    if (schema.contains("items")) {
      for (size_t i = 0; i < value.size(); ++i) Check(value[i], schema["items"], Item(path, i));
    }
    const std::string list_type = schema.value("x-kubernetes-list-type", "");
    if (list_type != "map" && list_type != "set") return;
    std::set<std::string> seen;
    for (size_t i = 0; i < value.size(); ++i) {
      json key = value[i];
      if (list_type == "map" && value[i].is_object()) {
        key = json::object();
        for (const auto& name : schema.value("x-kubernetes-list-map-keys", json::array())) {
          const std::string field = name.get<std::string>();
          if (value[i].contains(field)) key[field] = value[i][field];
        }
      }
      if (!seen.insert(key.dump()).second) {
        Add(Item(path, i), "FieldValueDuplicate", "Duplicate value: " + key.dump());
      }
    }
  }

  static size_t CountValid(const json& value, const json& alternatives, const std::string& path) {
    size_t valid = 0;
    for (const auto& alternative : alternatives) {
      Validator probe;
      probe.Check(value, alternative, path);
      if (probe.errors.empty()) ++valid;
    }
    return valid;
  }

  void CheckCombinators(const json& value, const json& schema, const std::string& path) {
    const std::string type = "\"" + JsonTypeName(value) + "\"";
    if (schema.contains("oneOf")) {
      const size_t valid = CountValid(value, schema["oneOf"], path);
      if (valid != 1) {
        Add(path, "FieldValueInvalid",
            "Invalid value: " + type + ": " + path +
                " in body must validate one and only one schema (oneOf). " +
                (valid == 0 ? "Found none valid"
                            : "Found " + std::to_string(valid) + " valid alternatives"));
      }
    }
    if (schema.contains("anyOf") && CountValid(value, schema["anyOf"], path) == 0) {
      Add(path, "FieldValueInvalid",
          "Invalid value: " + type + ": " + path +
              " in body must validate at least one schema (anyOf)");
    }
    if (schema.contains("allOf")) {
      for (const auto& part : schema["allOf"]) Check(value, part, path);
    }
    if (schema.contains("not") && CountValid(value, json::array({schema["not"]}), path) == 1) {
      Add(path, "FieldValueInvalid",
          "Invalid value: " + type + ": " + path + " in body should not validate the schema");
    }
  }
};

}  // namespace

void OpenApiSchema::Prune(json& object, std::vector<std::string>* unknown) const {
  if (!schema_.is_object() || !object.is_object()) return;
  for (auto it = object.begin(); it != object.end();) {
    const std::string key = it.key();
    if (key == "apiVersion" || key == "kind" || key == "metadata") {
      ++it;
    } else if (schema_.contains("properties") && schema_["properties"].contains(key)) {
      PruneValue(it.value(), schema_["properties"][key], key, unknown);
      ++it;
    } else if (PreservesUnknown(schema_)) {
      ++it;
    } else {
      if (unknown) unknown->push_back(key);
      it = object.erase(it);
    }
  }
}

void OpenApiSchema::ApplyDefaults(json& object) const {
  if (!schema_.is_object()) return;
  json metadata = object.value("metadata", json::object());
  DefaultValue(object, schema_);
  object["metadata"] = std::move(metadata);  // defaults never touch metadata
}

std::vector<FieldError> OpenApiSchema::Validate(const json& object) const {
  if (!schema_.is_object()) return {};
  // No copies: the schema (with its descriptions) is large, and this runs on every write.
  Validator validator;
  validator.Check(object, schema_, "");
  return validator.errors;
}

}  // namespace tidemark::testing
