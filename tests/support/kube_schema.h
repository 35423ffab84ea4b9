// A CRD's structural OpenAPI v3 schema applied to objects the way kube-apiserver does:
// pruning of undeclared fields, defaulting, then validation with the real server's error
// texts ("spec.policy.revert: Unsupported value: ..."), so tests see what users see.
//
// Covered: type, nullable, properties, additionalProperties, items, required, enum,
// pattern (ECMAScript regex), minimum/maximum, minLength/maxLength, minItems/maxItems,
// format date-time, oneOf/anyOf/allOf/not, x-kubernetes-preserve-unknown-fields,
// x-kubernetes-list-type map/set uniqueness. CEL rules (x-kubernetes-validations) are not.
// Immutable after construction; all methods are const and thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tidemark::testing {

// One field error, as in a Status's details.causes.
struct FieldError {
  std::string field;    // "spec.migrations[0].app"
  std::string reason;   // FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
  std::string message;  // "Required value", "Invalid value: \"x\": ..."
};

class OpenApiSchema {
 public:
  OpenApiSchema() = default;  // accepts and keeps everything
  explicit OpenApiSchema(nlohmann::json schema) : schema_(std::move(schema)) {}

  const nlohmann::json& document() const { return schema_; }

  // Removes undeclared fields from a whole object (apiVersion, kind, metadata are kept)
  // and appends their paths ("spec.foo", "spec.migrations[0].bar") to `unknown`.
  void Prune(nlohmann::json& object, std::vector<std::string>* unknown) const;
  // Fills absent (or null, non-nullable) fields that declare a default.
  void ApplyDefaults(nlohmann::json& object) const;
  // Every violation of the schema; metadata is not checked here.
  std::vector<FieldError> Validate(const nlohmann::json& object) const;

 private:
  nlohmann::json schema_;  // null: no schema
};

}  // namespace tidemark::testing
