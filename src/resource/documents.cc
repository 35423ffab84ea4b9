#include "resource/documents.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <sstream>

#include "base/text.h"

namespace tidemark::resource {
namespace {

using nlohmann::json;

std::string TooDeep(const std::string& origin) {
  return origin + ": nested deeper than " + std::to_string(kMaxDepth) + " levels";
}

// One YAML document into JSON, depth first, counting down a budget of values (shared by
// the documents of a text) so that aliases of aliases cannot blow up into billions of values.
class YamlToJson {
 public:
  YamlToJson(std::string origin, size_t* budget) : origin_(std::move(origin)), budget_(*budget) {}

  Result<json> Convert(const YAML::Node& node) {
    json out;
    if (!Convert(node, 1, &out)) return Status::InvalidArgument(error_);
    return out;
  }

 private:
  bool Convert(const YAML::Node& node, int depth, json* out) {
    if (depth > kMaxDepth) return Fail(TooDeep(origin_));
    if (budget_ == 0) {
      return Fail(origin_ +
                  ": expands into far more values than it spells out "
                  "(aliases of aliases?)");
    }
    --budget_;
    switch (node.Type()) {
      case YAML::NodeType::Map:
        *out = json::object();
        for (const auto& entry : node) {
          json value;
          if (!Convert(entry.second, depth + 1, &value)) return false;
          // A repeated key keeps its first value, as yaml-cpp's lookup did.
          out->emplace(entry.first.Scalar(), std::move(value));
        }
        return true;
      case YAML::NodeType::Sequence:
        *out = json::array();
        for (const auto& item : node) {
          json value;
          if (!Convert(item, depth + 1, &value)) return false;
          out->push_back(std::move(value));
        }
        return true;
      case YAML::NodeType::Scalar:
        *out = node.Scalar();
        return true;
      default:  // Null (Undefined does not occur in a loaded document)
        *out = nullptr;
        return true;
    }
  }

  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  std::string origin_;
  size_t& budget_;
  std::string error_;
};

// Without aliases a value takes at least one character of the text; twice that is room
// enough for every plan file that repeats a block through an alias.
size_t ValueBudget(const std::string& text) { return 2 * text.size() + 1024; }

Status YamlError(const std::string& origin, const YAML::Exception& e) {
  // yaml-cpp's own guard against deep nesting (some 2,000 levels) says only "bad file".
  if (dynamic_cast<const YAML::DeepRecursion*>(&e)) return Status::InvalidArgument(TooDeep(origin));
  return Status::InvalidArgument(origin + ": not valid YAML at line " +
                                 std::to_string(e.mark.line + 1) + ", column " +
                                 std::to_string(e.mark.column + 1) + ": " + e.msg);
}

// yaml-cpp 0.7 (Debian's) loops for ever in LoadAll on some malformed texts, such as a "," where
// a document starts (yaml-cpp issue 1040), adding a null document each time round without
// reading on, until memory runs out. This pass over the parser's events, keeping nothing,
// finds a document that starts where the one before it did and refuses the text there.
class StuckParserCheck : public YAML::EventHandler {
 public:
  std::optional<YAML::Mark> stuck_at;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (last_start_ && last_start_->pos == mark.pos) stuck_at = mark;
    last_start_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::optional<YAML::Mark> last_start_;
};

Status CheckParserProgress(const std::string& text, const std::string& origin) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  StuckParserCheck check;
  try {
    while (!check.stuck_at && parser.HandleNextDocument(check)) {
    }
  } catch (const YAML::Exception& e) {
    return YamlError(origin, e);
  }
  if (!check.stuck_at) return Status::Ok();
  return Status::InvalidArgument(origin + ": not valid YAML at line " +
                                 std::to_string(check.stuck_at->line + 1) + ", column " +
                                 std::to_string(check.stuck_at->column + 1) +
                                 ": a document cannot start with this character");
}

Result<json> ParseJson(const std::string& text, const std::string& origin) {
  // nlohmann's parser keeps its own stack, so depth costs no recursion; values past the
  // limit are discarded as they start, and the text is refused.
  bool too_deep = false;
  const json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t event, json&) {
    const bool opens =
        event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    if (opens && depth >= kMaxDepth) too_deep = true;
    return !too_deep;
  };
  json value;
  try {
    value = json::parse(text, limit_depth);
  } catch (const json::exception& e) {
    // A parse_error, or an out_of_range for a number too large for a double ("number
    // overflow parsing '1e999'"), which the parser throws as well.
    if (too_deep) return Status::InvalidArgument(TooDeep(origin));
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..." without its tag,
    // and what it quotes of the text made printable.
    std::string_view what = e.what();
    if (const size_t tag = what.find("] "); tag != std::string_view::npos) {
      what.remove_prefix(tag + 2);
    }
    return Status::InvalidArgument(origin + ": not valid JSON: " + Printable(what, 512));
  }
  if (too_deep) return Status::InvalidArgument(TooDeep(origin));
  return value;
}

}  // namespace

Result<std::vector<json>> ParseDocuments(const std::string& text, const std::string& origin) {
  TM_RETURN_IF_ERROR(CheckTextSize(text.size(), origin));
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    TM_ASSIGN_OR_RETURN(json document, ParseJson(text, origin));
    return std::vector<json>{std::move(document)};
  }
  TM_RETURN_IF_ERROR(CheckParserProgress(text, origin));
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    return YamlError(origin, e);
  }
  std::vector<json> documents;
  size_t budget = ValueBudget(text);
  for (size_t i = 0; i < nodes.size(); ++i) {
    YamlToJson conversion(DocumentOrigin(origin, i, nodes.size()), &budget);
    TM_ASSIGN_OR_RETURN(json document, conversion.Convert(nodes[i]));
    documents.push_back(std::move(document));
  }
  return documents;
}

Result<json> ParseYamlDocument(const std::string& text, const std::string& origin) {
  TM_RETURN_IF_ERROR(CheckTextSize(text.size(), origin));
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return YamlError(origin, e);
  }
  size_t budget = ValueBudget(text);
  return YamlToJson(origin, &budget).Convert(node);
}

Status CheckTextSize(size_t bytes, const std::string& origin) {
  if (bytes <= kMaxTextBytes) return Status::Ok();
  return Status::InvalidArgument(origin + ": " + GroupThousands(bytes) + " bytes, more than the " +
                                 GroupThousands(kMaxTextBytes) +
                                 " a plan file or ConfigMap key may hold; split the steps "
                                 "across files or ConfigMaps (spec.migrationsFrom)");
}

std::string DocumentOrigin(const std::string& origin, size_t index, size_t count) {
  return count > 1 ? origin + " (document " + std::to_string(index + 1) + ")" : origin;
}

std::optional<std::string> ScalarText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

}  // namespace tidemark::resource
