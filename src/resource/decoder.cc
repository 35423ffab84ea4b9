#include "resource/decoder.h"

#include <algorithm>
#include <string_view>

#include "base/text.h"

namespace tidemark::resource {
namespace {

using nlohmann::json;

// An error lists the first problems of a document, each cut short, and counts the rest.
constexpr size_t kMaxProblemsListed = 20;
constexpr size_t kMaxProblemBytes = 512;

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

const json* Field(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

void Decoder::Fail(const std::string& path, const std::string& message) {
  errors_.push_back(path + ": " + message);
}

Status Decoder::Result() const {
  if (errors_.empty()) return Status::Ok();
  std::string text = origin_ + ": invalid MigrationPlan:";
  const size_t listed =
      errors_.size() <= kMaxProblemsListed + 1 ? errors_.size() : kMaxProblemsListed;
  for (size_t i = 0; i < listed; ++i) text += "\n  " + Printable(errors_[i], kMaxProblemBytes);
  if (listed < errors_.size()) {
    text += "\n  and " + GroupThousands(errors_.size() - listed) + " more problems";
  }
  return Status::InvalidArgument(text);
}

void Decoder::CheckFields(const json& node, const std::string& path,
                          std::initializer_list<const char*> known) {
  for (const auto& item : node.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 (tools/fuzz)
                                          // cannot capture one
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) !=
        known.end()) {
      continue;
    }
    std::string best;
    size_t best_distance = 3;
    for (const char* k : known) {
      // "password" -> "passwordFrom": a prefix counts as close.
      const size_t d = std::string_view(k).starts_with(key) ? 1 : EditDistance(key, k);
      if (d < best_distance) best_distance = d, best = k;
    }
    std::string known_list;
    for (const char* k : known) known_list += std::string(known_list.empty() ? "" : ", ") + k;
    Fail(Join(path, key), "unknown field" + (best.empty() ? "; known fields here: " + known_list
                                                          : "; did you mean \"" + best + "\"?"));
  }
}

bool Decoder::ExpectMap(const json& node, const std::string& path) {
  if (node.is_object()) return true;
  Fail(path, "must be an object (key: value pairs)");
  return false;
}

bool Decoder::ExpectList(const json& node, const std::string& path) {
  if (node.is_array()) return true;
  Fail(path, "must be a list");
  return false;
}

const json* Decoder::ListAt(const json& object, const std::string& path, const char* key) {
  const json* list = Field(object, key);
  return list && ExpectList(*list, Join(path, key)) ? list : nullptr;
}

std::optional<std::string> Decoder::String(const json& node, const std::string& path) {
  auto text = ScalarText(node);
  if (!text) {
    Fail(path, "must be a string");
  } else if (const auto bad = FirstInvalidUtf8(*text)) {
    Fail(path, "not valid UTF-8 (byte " + std::to_string(*bad + 1) +
                   " of the value); save the file as UTF-8");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> Decoder::StringAt(const json& object, const std::string& path,
                                             const char* key) {
  const json* value = Field(object, key);
  return value ? String(*value, Join(path, key)) : std::nullopt;
}

std::optional<std::string> Decoder::RequiredStringAt(const json& object, const std::string& path,
                                                     const char* key, const std::string& what) {
  if (!Field(object, key)) {
    Fail(Join(path, key), "required: " + what);
    return std::nullopt;
  }
  return StringAt(object, path, key);
}

std::optional<bool> Decoder::Bool(const json& node, const std::string& path) {
  const std::string s = ScalarText(node).value_or("");
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  Fail(path, "must be true or false");
  return std::nullopt;
}

std::optional<plan::StepId> Decoder::Id(const json& node, const std::string& path) {
  auto text = String(node, path);
  if (!text) return std::nullopt;
  auto id = plan::ParseStepId(*text);
  if (!id) Fail(path, "\"" + *text + "\" is not app.migration; write e.g. auth.0001_initial");
  return id;
}

std::vector<plan::StepId> Decoder::Ids(const json& node, const std::string& path) {
  std::vector<plan::StepId> ids;
  if (!ExpectList(node, path)) return ids;
  for (size_t i = 0; i < node.size(); ++i) {
    if (auto id = Id(node[i], Index(path, i))) ids.push_back(*id);
  }
  return ids;
}

}  // namespace tidemark::resource
