#include "resource/objects.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/base64.h"
#include "base/files.h"
#include "plan/graph.h"
#include "resource/decode.h"
#include "resource/documents.h"

namespace tidemark::resource {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// The string values at `key` of `object` (a ConfigMap's or Secret's data); a value that is
// no scalar reads as "".
std::map<std::string, std::string> StringMap(const json& object, const char* key) {
  std::map<std::string, std::string> out;
  const auto found = object.find(key);
  if (found == object.end() || !found->is_object()) return out;
  for (const auto& [name, value] : found->items()) out[name] = ScalarText(value).value_or("");
  return out;
}

// The text of object[key], or `fallback` when absent or no scalar.
std::string TextAt(const json& object, const char* key, const std::string& fallback) {
  const auto found = object.find(key);
  return found == object.end() ? fallback : ScalarText(*found).value_or(fallback);
}

}  // namespace

Status LoadedFiles::AddText(const std::string& text, const std::string& origin) {
  TM_ASSIGN_OR_RETURN(std::vector<json> documents, ParseDocuments(text, origin));
  std::vector<std::string> errors;
  for (size_t i = 0; i < documents.size(); ++i) {
    const json& doc = documents[i];
    const std::string where = DocumentOrigin(origin, i, documents.size());
    if (!doc.is_object()) continue;  // empty documents between separators
    const std::string kind = TextAt(doc, "kind", "");
    const json metadata = doc.value("metadata", json::object());
    const std::string name = TextAt(metadata, "name", "");
    const std::string ns = TextAt(metadata, "namespace", "default");
    if (kind == kKind) {
      auto plan = DecodePlan(doc, where);
      if (!plan.ok()) {
        errors.push_back(plan.status().message());
      } else {
        plans.push_back(std::move(plan).value());
      }
    } else if (kind == "ConfigMap") {
      config_maps_[Key(ns, name)] = StringMap(doc, "data");
    } else if (kind == "Secret") {
      auto& values = secrets_[Key(ns, name)];
      for (const auto& [key, encoded] : StringMap(doc, "data")) {
        auto decoded = Base64Decode(encoded);
        if (!decoded.ok()) {
          errors.push_back(where + ": Secret " + name + " data." + key + " is not base64");
          continue;
        }
        values[key] = *decoded;
      }
      for (const auto& [key, value] : StringMap(doc, "stringData")) values[key] = value;
    }
  }
  if (errors.empty()) return Status::Ok();
  std::string message;
  for (const auto& e : errors) message += (message.empty() ? "" : "\n") + e;
  return Status::InvalidArgument(message);
}

Result<std::map<std::string, std::string>> LoadedFiles::ConfigMapData(const std::string& ns,
                                                                      const std::string& name) {
  auto found = config_maps_.find(Key(ns, name));
  if (found == config_maps_.end()) {
    return Status::NotFound("ConfigMap " + name + " (namespace " + ns +
                            ") is not among the loaded files; add its YAML beside the plan");
  }
  return found->second;
}

Result<std::map<std::string, std::string>> LoadedFiles::SecretData(const std::string& ns,
                                                                   const std::string& name) {
  auto found = secrets_.find(Key(ns, name));
  if (found == secrets_.end()) {
    return Status::NotFound("Secret " + name + " (namespace " + ns +
                            ") is not among the loaded files; add it, or use env: or file:");
  }
  return found->second;
}

Result<std::string> LoadedFiles::SecretValue(const std::string& ns, const std::string& name,
                                             const std::string& key) {
  TM_ASSIGN_OR_RETURN(const auto data, SecretData(ns, name));
  auto value = data.find(key);
  if (value == data.end()) {
    return Status::NotFound("Secret " + name + " has no key \"" + key + "\"");
  }
  return value->second;
}

Result<LoadedFiles> LoadFiles(const std::vector<std::string>& paths) {
  LoadedFiles loaded;
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (fs::is_directory(path, error)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(path, error)) {
        const std::string extension = entry.path().extension().string();
        if (entry.is_regular_file() &&
            (extension == ".yaml" || extension == ".yml" || extension == ".json")) {
          found.push_back(entry.path().string());
        }
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, error)) {
      files.push_back(path);
    } else {
      return Status::NotFound(path + ": no such file or folder");
    }
  }
  std::vector<std::string> errors;
  for (const std::string& file : files) {
    std::error_code error;
    // A file too large to be a plan is refused before it is read.
    if (const auto size = fs::file_size(file, error); !error) {
      TM_RETURN_IF_ERROR(CheckTextSize(size, file));
    }
    auto text = ReadFileUpTo(file, kMaxTextBytes);
    if (!text.ok()) {
      // Past the size check only a file that is none (a pipe, a device) can be too long.
      if (text.status().code() == StatusCode::kNotFound) return text.status();
      return Status::InvalidArgument(text.status().message() +
                                     " a plan file may; name the plan files themselves");
    }
    Status added = loaded.AddText(*text, file);
    if (!added.ok()) errors.push_back(added.message());
  }
  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) message += (message.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(message);
  }
  return loaded;
}

Status CompletePlan(plan::MigrationPlan* plan, ObjectSource& objects) {
  for (const std::string& name : plan->config_map_names) {
    auto data = objects.ConfigMapData(plan->meta.ns, name);
    if (!data.ok()) return data.status().WithContext("spec.migrationsFrom");
    for (const auto& [key, text] : *data) {
      const bool is_yaml = key.size() > 5 && (key.ends_with(".yaml") || key.ends_with(".yml"));
      if (!is_yaml) continue;
      const std::string origin = "ConfigMap " + name + " key " + key;
      TM_ASSIGN_OR_RETURN(const json list, ParseYamlDocument(text, origin));
      TM_ASSIGN_OR_RETURN(std::vector<plan::Step> steps, DecodeSteps(list, origin));
      for (auto& step : steps) plan->migrations.push_back(std::move(step));
      if (plan->migrations.size() > kMaxSteps) {
        return Status::InvalidArgument("spec.migrationsFrom: " + TooMany(plan->migrations.size()));
      }
    }
  }
  return Status::Ok();
}

Result<std::string> ResolveValue(const plan::Value& value, const std::string& field,
                                 const std::string& ns, ObjectSource& objects,
                                 bool allow_local_sources) {
  if (value.literal) return *value.literal;
  const plan::ValueSource& source = *value.from;
  using Kind = plan::ValueSource::Kind;
  if (source.kind != Kind::kSecretKeyRef && !allow_local_sources) {
    return Status::InvalidArgument(field +
                                   "From: env and file sources work only with "
                                   "`tidemark run`; in a cluster use secretKeyRef");
  }
  switch (source.kind) {
    case Kind::kSecretKeyRef: {
      auto secret = objects.SecretValue(ns, source.secret_name, source.secret_key);
      if (!secret.ok()) {
        return secret.status().WithContext(field + "From.secretKeyRef");
      }
      return secret;
    }
    case Kind::kEnv: {
      const char* env = std::getenv(source.env.c_str());
      if (env == nullptr) {
        return Status::NotFound(field + "From.env: environment variable " + source.env +
                                " is not set; export it before running tidemark");
      }
      return std::string(env);
    }
    case Kind::kFile: {
      auto content = ReadFileUpTo(source.file, kMaxValueFileBytes);
      if (!content.ok() && content.status().code() == StatusCode::kNotFound) {
        return Status::NotFound(field + "From.file: " + content.status().message() +
                                "; check the path and its permissions");
      }
      if (!content.ok()) {
        return Status::InvalidArgument(field + "From.file: " + content.status().message() +
                                       " such a file may; point it at the file that holds "
                                       "only the value");
      }
      std::string text = *content;
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      return text;
    }
  }
  return Status::Internal("unknown value source");
}

}  // namespace tidemark::resource
