#include "tests/support/kube_yaml.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace tidemark::testing {
namespace {

using nlohmann::json;

json PlainScalar(const std::string& text) {
  static const std::set<std::string> kTrue = {"y",  "Y",  "yes",  "Yes",  "YES", "on",
                                              "On", "ON", "true", "True", "TRUE"};
  static const std::set<std::string> kFalse = {"n",   "N",   "no",    "No",    "NO",   "off",
                                               "Off", "OFF", "false", "False", "FALSE"};
  static const std::regex kInteger("^[-+]?[0-9]+$");
  static const std::regex kFloat("^[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?$");
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (kTrue.count(text)) return true;
  if (kFalse.count(text)) return false;
  if (std::regex_match(text, kInteger)) {
    int64_t value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    if (std::from_chars(begin, text.data() + text.size(), value).ec == std::errc()) return value;
  }
  if (std::regex_match(text, kFloat)) return std::stod(text);
  return text;
}

json NodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // yaml-cpp tags plain scalars "?" and quoted or block scalars "!".
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return node.Scalar();
      return PlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      json array = json::array();
      for (const auto& item : node) array.push_back(NodeToJson(item));
      return array;
    }
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& entry : node)
        object[entry.first.as<std::string>()] = NodeToJson(entry.second);
      return object;
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<json>> YamlDocumentsToJson(const std::string& text) {
  try {
    std::vector<json> documents;
    for (const auto& node : YAML::LoadAll(text)) {
      json document = NodeToJson(node);
      if (!document.is_null()) documents.push_back(std::move(document));
    }
    return documents;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("invalid YAML: ") + e.what());
  }
}

Result<json> YamlToJson(const std::string& text) {
  TM_ASSIGN_OR_RETURN(auto documents, YamlDocumentsToJson(text));
  if (documents.size() != 1) {
    return Status::InvalidArgument("expected one YAML document, found " +
                                   std::to_string(documents.size()));
  }
  return std::move(documents[0]);
}

Result<std::vector<json>> LoadYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto documents = YamlDocumentsToJson(buffer.str());
  if (!documents.ok()) return documents.status().WithContext(path);
  return documents;
}

}  // namespace tidemark::testing
