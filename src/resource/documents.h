// Plan files' text as JSON documents, the one form the decoder (resource/decode.h) reads, as
// the API server sends objects. A JSON text is parsed as it is; a YAML text is converted
// node by node, once, when the file is loaded.
//
// The conversion keeps every YAML scalar as a JSON string of its text as written, so that
// `name: 0001` stays "0001"; the decoder reads `true` and `5432` from strings as from JSON's
// own booleans and numbers (ScalarText). A YAML null (`~`, `null`, an empty value) becomes
// JSON null. Nesting is limited to kMaxDepth levels and a YAML text may not expand (through
// aliases) into far more values than it spells out, so a hostile file gives an error, not
// a stack overflow or an exhausted memory. Free functions without state.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tidemark::resource {

// A MigrationPlan is about 8 levels deep; anything past this is not a plan file.
inline constexpr int kMaxDepth = 64;
// The largest text (a file, a ConfigMap key) read as documents: about 40,000 small steps.
// Parsing takes some 60 times the text in memory, so this keeps a load well under 512 MiB.
inline constexpr size_t kMaxTextBytes = 4 << 20;

// InvalidArgument naming `origin` when a text of `bytes` is past kMaxTextBytes.
Status CheckTextSize(size_t bytes, const std::string& origin);

// The documents of a YAML text (separated by `---`), or the one document of a JSON text
// (one whose first character is `{`). `origin` names the text in messages.
Result<std::vector<nlohmann::json>> ParseDocuments(const std::string& text,
                                                   const std::string& origin);

// The first document of a YAML text, e.g. a ConfigMap key holding a list of steps.
Result<nlohmann::json> ParseYamlDocument(const std::string& text, const std::string& origin);

// How messages name document `index` (0-based) of the `count` a text holds.
std::string DocumentOrigin(const std::string& origin, size_t index, size_t count);

// A scalar's text: a string as it is, a number or boolean as JSON writes it; nullopt for
// null, objects and arrays.
std::optional<std::string> ScalarText(const nlohmann::json& value);

}  // namespace tidemark::resource
