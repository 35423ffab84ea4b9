#include "tests/support/kube_selectors.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace tidemark::testing {
namespace {

using nlohmann::json;

std::string Trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> SplitTopLevel(std::string_view text) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(Trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!Trim(current).empty() || !parts.empty()) parts.push_back(Trim(current));
  return parts;
}

std::string LabelValue(const json& object, const std::string& key, bool* present) {
  const json labels =
      object.contains("metadata") ? object["metadata"].value("labels", json()) : json();
  *present = labels.is_object() && labels.contains(key);
  return *present && labels[key].is_string() ? labels[key].get<std::string>() : "";
}

}  // namespace

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector selector;
  for (const std::string& part : SplitTopLevel(text)) {
    if (part.empty()) return Status::InvalidArgument("empty label selector requirement");
    Requirement requirement;
    const auto set_start = part.find('(');
    if (set_start != std::string::npos) {
      const std::string head = Trim(part.substr(0, set_start));
      const auto space = head.find_last_of(" \t");
      if (space == std::string::npos || part.back() != ')') {
        return Status::InvalidArgument("unable to parse requirement: " + part);
      }
      requirement.key = Trim(head.substr(0, space));
      const std::string op = Trim(head.substr(space + 1));
      if (op == "in") {
        requirement.op = Op::kIn;
      } else if (op == "notin") {
        requirement.op = Op::kNotIn;
      } else {
        return Status::InvalidArgument("unknown operator " + op + " in " + part);
      }
      const std::string inner = part.substr(set_start + 1, part.size() - set_start - 2);
      size_t start = 0;
      while (start <= inner.size()) {
        const auto comma = inner.find(',', start);
        requirement.values.push_back(Trim(inner.substr(start, comma - start)));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (const auto pos = part.find("!="); pos != std::string::npos) {
      requirement = {Trim(part.substr(0, pos)), Op::kNotEquals, {Trim(part.substr(pos + 2))}};
    } else if (const auto eq = part.find('='); eq != std::string::npos) {
      const size_t width = part.compare(eq, 2, "==") == 0 ? 2 : 1;
      requirement = {Trim(part.substr(0, eq)), Op::kEquals, {Trim(part.substr(eq + width))}};
    } else if (part[0] == '!') {
      requirement = {Trim(part.substr(1)), Op::kNotExists, {}};
    } else {
      requirement = {part, Op::kExists, {}};
    }
    static const std::regex kQualifiedName(
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        "[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$");
    if (!std::regex_match(requirement.key, kQualifiedName)) {
      return Status::InvalidArgument("invalid label key \"" + requirement.key + "\" in " + part);
    }
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

bool LabelSelector::Matches(const json& object) const {
  for (const auto& requirement : requirements_) {
    bool present = false;
    const std::string value = LabelValue(object, requirement.key, &present);
    const auto& values = requirement.values;
    const bool listed = std::find(values.begin(), values.end(), value) != values.end();
    switch (requirement.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!present || !listed) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (present && listed) return false;
        break;
      case Op::kExists:
        if (!present) return false;
        break;
      case Op::kNotExists:
        if (present) return false;
        break;
    }
  }
  return true;
}

Result<FieldSelector> FieldSelector::Parse(std::string_view text) {
  FieldSelector selector;
  for (const std::string& part : SplitTopLevel(text)) {
    Requirement requirement;
    size_t op_at = part.find("!=");
    size_t width = 2;
    requirement.equals = op_at == std::string::npos;
    if (requirement.equals) {
      op_at = part.find('=');
      if (op_at == std::string::npos) {
        return Status::InvalidArgument("invalid field selector: " + part);
      }
      width = part.compare(op_at, 2, "==") == 0 ? 2 : 1;
    }
    requirement.field = Trim(part.substr(0, op_at));
    requirement.value = Trim(part.substr(op_at + width));
    selector.requirements_.push_back(std::move(requirement));
  }
  return selector;
}

bool FieldSelector::Matches(const json& object) const {
  for (const auto& requirement : requirements_) {
    const json* value = &object;
    size_t start = 0;
    while (value && start <= requirement.field.size()) {
      const auto dot = requirement.field.find('.', start);
      const std::string key = requirement.field.substr(start, dot - start);
      value = value->is_object() && value->contains(key) ? &(*value)[key] : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string actual;
    if (value && value->is_string()) actual = value->get<std::string>();
    if (value && value->is_number()) actual = value->dump();
    if ((actual == requirement.value) != requirement.equals) return false;
  }
  return true;
}

Result<std::vector<json>> EvaluateJsonPath(const json& root, std::string_view path) {
  std::vector<json> current = {root};
  size_t i = 0;
  const auto bad = [&] {
    return Status::InvalidArgument("unsupported JSONPath " + std::string(path));
  };
  while (i < path.size()) {
    std::vector<json> next;
    if (path[i] == '.') {
      size_t end = i + 1;
      while (end < path.size() && path[end] != '.' && path[end] != '[') ++end;
      const std::string key(path.substr(i + 1, end - i - 1));
      for (const auto& value : current) {
        if (value.is_object() && value.contains(key)) next.push_back(value[key]);
      }
      i = end;
    } else if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string_view::npos) return bad();
      const std::string inside(path.substr(i + 1, close - i - 1));
      if (inside == "*") {
        for (const auto& value : current) {
          if (value.is_array() || value.is_object()) {
            for (const auto& item : value) next.push_back(item);
          }
        }
      } else if (inside.rfind("?(@.", 0) == 0 && inside.back() == ')') {
        const std::string condition = inside.substr(4, inside.size() - 5);
        const bool equals = condition.find("!=") == std::string::npos;
        const size_t op = equals ? condition.find("==") : condition.find("!=");
        if (op == std::string::npos) return bad();
        const std::string field = condition.substr(0, op);
        std::string literal = Trim(condition.substr(op + 2));
        if (literal.size() >= 2 && (literal[0] == '"' || literal[0] == '\'')) {
          literal = literal.substr(1, literal.size() - 2);
        }
        for (const auto& value : current) {
          if (!value.is_array()) continue;
          for (const auto& item : value) {
            TM_ASSIGN_OR_RETURN(auto found, EvaluateJsonPath(item, "." + field));
            const bool match =
                !found.empty() && found[0].is_string() && found[0].get<std::string>() == literal;
            if (match == equals) next.push_back(item);
          }
        }
      } else {
        size_t index = 0;
        try {
          index = std::stoul(inside);
        } catch (const std::exception&) {
          return bad();
        }
        for (const auto& value : current) {
          if (value.is_array() && index < value.size()) next.push_back(value[index]);
        }
      }
      i = close + 1;
    } else {
      return bad();
    }
    current = std::move(next);
  }
  return current;
}

std::string HumanDuration(std::chrono::seconds age) {
  const long long seconds = age.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
  const long long minutes = seconds / 60;
  if (minutes < 10) {
    const long long rest = seconds % 60;
    return std::to_string(minutes) + "m" + (rest ? std::to_string(rest) + "s" : "");
  }
  if (minutes < 180) return std::to_string(minutes) + "m";
  const long long hours = minutes / 60;
  if (hours < 8) {
    const long long rest = minutes % 60;
    return std::to_string(hours) + "h" + (rest ? std::to_string(rest) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    const long long rest = hours % 24;
    return std::to_string(hours / 24) + "d" + (rest ? std::to_string(rest) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    const long long rest = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (rest ? std::to_string(rest) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

}  // namespace tidemark::testing
