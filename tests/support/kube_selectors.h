// Query pieces of the Kubernetes API, for the test API server: label and field selectors
// (the `labelSelector` / `fieldSelector` parameters), the JSONPath subset printer columns
// use, and kubectl's human-readable ages. Pure values and functions, thread-safe.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/status.h"

namespace tidemark::testing {

// `a=b, c!=d, e in (x,y), f notin (z), g, !h` over metadata.labels.
class LabelSelector {
 public:
  static Result<LabelSelector> Parse(std::string_view text);
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

// `metadata.name=x,metadata.namespace!=y`: each field label is a dotted path into the
// object (a missing field reads as ""). The caller checks the labels a type supports.
class FieldSelector {
 public:
  struct Requirement {
    std::string field;
    bool equals = true;  // false: !=
    std::string value;
  };

  static Result<FieldSelector> Parse(std::string_view text);
  bool Matches(const nlohmann::json& object) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

// Values a JSONPath such as `.status.conditions[?(@.type=="Ready")].reason` selects
// (dotted fields, `[N]`, `[*]`, and `[?(@.field=="literal")]` / `!=` filters).
Result<std::vector<nlohmann::json>> EvaluateJsonPath(const nlohmann::json& root,
                                                     std::string_view path);

// kubectl's age format: "45s", "3m20s", "5h", "12d".
std::string HumanDuration(std::chrono::seconds age);

}  // namespace tidemark::testing
