// The error-collecting reader under resource/decode.cc, internal to the resource layer:
// typed readers of JSON fields (strings, booleans, choices, step ids) that report a wrong
// value with its field path instead of stopping, the check for unknown fields with its
// did-you-mean suggestion, and the one error that lists every problem of a document.
//
// One Decoder serves one document: it owns its list of problems and is not thread-safe.
// The JSON it reads is the caller's and must outlive the calls.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "plan/model.h"
#include "resource/documents.h"

namespace tidemark::resource {

// The field `key` of `object`, or nullptr when absent (or `object` is no object). A field
// present with a null value counts as present.
const nlohmann::json* Field(const nlohmann::json& object, const char* key);

// Collects every problem of one document with its field path.
class Decoder {
 public:
  explicit Decoder(std::string origin) : origin_(std::move(origin)) {}

  void Fail(const std::string& path, const std::string& message);
  // Ok, or InvalidArgument "<origin>: invalid MigrationPlan:" and one problem per line.
  Status Result() const;

  // Reports fields of `node` that are not in `known`, with a suggestion when one is close.
  void CheckFields(const nlohmann::json& node, const std::string& path,
                   std::initializer_list<const char*> known);

  bool ExpectMap(const nlohmann::json& node, const std::string& path);
  bool ExpectList(const nlohmann::json& node, const std::string& path);

  // The list at `key` of `object`; nullptr when absent or not a list (reported).
  const nlohmann::json* ListAt(const nlohmann::json& object, const std::string& path,
                               const char* key);

  std::optional<std::string> String(const nlohmann::json& node, const std::string& path);
  // The string at `key` of `object`; nullopt when absent or wrong (reported).
  std::optional<std::string> StringAt(const nlohmann::json& object, const std::string& path,
                                      const char* key);
  // As StringAt, and an absent field is reported as "required: <what>".
  std::optional<std::string> RequiredStringAt(const nlohmann::json& object, const std::string& path,
                                              const char* key, const std::string& what);

  std::optional<bool> Bool(const nlohmann::json& node, const std::string& path);

  // Sets *target from the boolean at `key` of `object` when present and right.
  template <typename Target>
  void BoolAt(const nlohmann::json& object, const std::string& path, const char* key,
              Target* target) {
    const nlohmann::json* value = Field(object, key);
    if (!value) return;
    if (auto b = Bool(*value, Join(path, key))) *target = *b;
  }

  // The choice at `key` of `object` named by the field's text; *target stays when absent.
  template <typename Enum>
  void OneOfAt(const nlohmann::json& object, const std::string& path, const char* key,
               const std::vector<std::pair<const char*, Enum>>& choices, Enum* target) {
    const nlohmann::json* value = Field(object, key);
    if (!value) return;
    const std::string s = ScalarText(*value).value_or("");
    std::string names;
    for (const auto& [name, choice] : choices) {
      if (s == name) {
        *target = choice;
        return;
      }
      names += std::string(names.empty() ? "" : ", ") + name;
    }
    Fail(Join(path, key), "must be one of " + names + (s.empty() ? "" : " (got \"" + s + "\")"));
  }

  std::optional<plan::StepId> Id(const nlohmann::json& node, const std::string& path);
  std::vector<plan::StepId> Ids(const nlohmann::json& node, const std::string& path);

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  std::string origin_;
  std::vector<std::string> errors_;
};

}  // namespace tidemark::resource
