// Small values and formats, Status replies and request options of the test API server.
#include <random>

#include "base/clock.h"
#include "tests/support/kube_api_server_impl.h"

namespace tidemark::testing {

std::string NowTimestamp() { return FormatRfc3339(SystemClock().WallNow()); }

std::string RandomString(const char* alphabet, size_t alphabet_size, size_t length) {
  static thread_local std::mt19937_64 engine(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, alphabet_size - 1);
  std::string out;
  for (size_t i = 0; i < length; ++i) out += alphabet[pick(engine)];
  return out;
}

std::string NewUid() {
  static const char kHex[] = "0123456789abcdef";
  std::string uid = RandomString(kHex, 16, 32);
  uid[12] = '4';                      // version 4 (random)
  uid[16] = kHex[8 + (uid[16] % 4)];  // RFC 4122 variant
  for (size_t at : {20, 16, 12, 8}) uid.insert(at, "-");
  return uid;
}

bool IsDnsSubdomain(const std::string& name) {
  static const std::regex kSubdomain(
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");
  return name.size() <= 253 && std::regex_match(name, kSubdomain);
}

bool IsDnsLabel(const std::string& name) {
  static const std::regex kLabel("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return name.size() <= 63 && std::regex_match(name, kLabel);
}

json MergeDiff(const json& from, const json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  json diff = json::object();
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) diff[key] = nullptr;
  }
  for (const auto& [key, value] : to.items()) {
    diff[key] = from.contains(key) ? MergeDiff(from[key], value) : value;
  }
  return diff;
}

void StripPatchDirectives(json& patch) {
  if (patch.is_object()) {
    for (auto it = patch.begin(); it != patch.end();) {
      if (!it.key().empty() && it.key()[0] == '$') {
        it = patch.erase(it);
      } else {
        StripPatchDirectives(it.value());
        ++it;
      }
    }
  } else if (patch.is_array()) {
    for (auto& item : patch) StripPatchDirectives(item);
  }
}

std::string ObjectKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string ObjectKey(const json& object) {
  const json& meta = object["metadata"];
  return ObjectKey(meta.value("namespace", ""), meta.value("name", ""));
}

std::string ResourceVersionOf(const json& object) {
  return object.contains("metadata") ? object["metadata"].value("resourceVersion", "") : "";
}

json RenameFields(json object, bool core_to_events) {
  for (const auto& [core, events] : kEventFieldNames) {
    const std::string& from = core_to_events ? core : events;
    const std::string& to = core_to_events ? events : core;
    if (object.contains(from)) {
      object[to] = object[from];
      object.erase(from);
    }
  }
  return object;
}

Reply StatusReply(int code, const std::string& reason, const std::string& message, json details) {
  json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  if (!details.is_null()) body["details"] = std::move(details);
  return {code, std::move(body), {}};
}

json Details(const ResourceType& type, const std::string& name, const std::string& kind) {
  json details = {{"name", name}, {"kind", kind}};
  if (!type.group.empty()) details["group"] = type.group;
  return details;
}

Reply NotFoundReply(const ResourceType& type, const std::string& name) {
  return StatusReply(404, "NotFound", type.qualified_plural() + " \"" + name + "\" not found",
                     Details(type, name, type.plural));
}

Reply ConflictReply(const ResourceType& type, const std::string& name, const std::string& why) {
  return StatusReply(
      409, "Conflict",
      "Operation cannot be fulfilled on " + type.qualified_plural() + " \"" + name + "\": " + why,
      Details(type, name, type.plural));
}

Reply UnsupportedBodyReply() {
  return StatusReply(415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json (the test API server decodes protobuf only for "
                     "Namespaces, ConfigMaps and Secrets: send JSON, e.g. kubectl apply -f)");
}

Reply BadRequestReply(const std::string& message) {
  return StatusReply(400, "BadRequest", message);
}

Reply InvalidReply(const ResourceType& type, const std::string& name,
                   const std::vector<FieldError>& errors) {
  json causes = json::array();
  std::vector<std::string> texts;
  for (const auto& error : errors) {
    causes.push_back(
        {{"reason", error.reason}, {"message", error.message}, {"field", error.field}});
    texts.push_back(error.field + ": " + error.message);
  }
  std::string all = texts.size() == 1 ? texts[0] : "[";
  if (texts.size() != 1) {
    for (size_t i = 0; i < texts.size(); ++i) all += (i ? ", " : "") + texts[i];
    all += "]";
  }
  json details = Details(type, name, type.kind);
  details["causes"] = causes;
  return StatusReply(422, "Invalid", type.qualified_kind() + " \"" + name + "\" is invalid: " + all,
                     details);
}

std::string ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "InternalError";
  }
}

WriteOptions ReadWriteOptions(const httplib::Request& req) {
  WriteOptions options;
  options.field_validation = req.get_param_value("fieldValidation");
  options.field_manager = req.get_param_value("fieldManager");
  options.dry_run = req.get_param_value("dryRun") == "All";
  return options;
}

bool BoolParam(const httplib::Request& req, const char* name) {
  const std::string value = req.get_param_value(name);
  return value == "true" || value == "1";
}

}  // namespace tidemark::testing
