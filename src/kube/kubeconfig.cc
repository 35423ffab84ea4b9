// LoadKubeconfig: kubeconfig files (one, or a $KUBECONFIG list merged as client-go does)
// into a Config, every error naming the file and the field at fault.
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/base64.h"
#include "kube/config.h"
#include "kube/config_files.h"

namespace tidemark::kube {
namespace {

namespace fs = std::filesystem;

// One named entry of `clusters`, `users` or `contexts`, with the file it came from.
struct NamedEntry {
  YAML::Node body;  // the inner "cluster" / "user" / "context" map
  std::string file;
};

struct Kubeconfig {
  std::vector<std::string> files;
  std::string current_context;
  std::map<std::string, NamedEntry> clusters, users, contexts;
};

std::string Field(const std::string& file, const std::string& path) {
  return "kubeconfig " + file + ": " + path;
}

// "kubeconfig F: users[u].user" + "token" -> "kubeconfig F: users[u].user.token".
std::string Join(const std::string& where, const std::string& key) {
  return where.ends_with(": ") ? where + key : where + "." + key;
}

// Reads a scalar string field; absent or null gives "".
Result<std::string> StringField(const YAML::Node& map, const std::string& key,
                                const std::string& where) {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return std::string();
  if (!node.IsScalar()) return Status::InvalidArgument(Join(where, key) + ": not a string");
  return node.Scalar();
}

Result<bool> BoolField(const YAML::Node& map, const std::string& key, const std::string& where) {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return false;
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return Status::InvalidArgument(Join(where, key) + ": not true or false");
  }
  return value;
}

Status MergeSection(const YAML::Node& root, const std::string& section, const std::string& inner,
                    const std::string& file, std::map<std::string, NamedEntry>* into) {
  const YAML::Node list = root[section];
  if (!list || list.IsNull()) return Status::Ok();
  if (!list.IsSequence()) return Status::InvalidArgument(Field(file, section) + ": not a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = Field(file, section + "[" + std::to_string(i) + "]");
    const YAML::Node item = list[i];
    if (!item.IsMap()) return Status::InvalidArgument(where + ": not a map");
    TM_ASSIGN_OR_RETURN(const std::string name, StringField(item, "name", where));
    if (name.empty()) return Status::InvalidArgument(where + ".name: missing");
    const YAML::Node body = item[inner];
    if (body && !body.IsNull() && !body.IsMap()) {
      return Status::InvalidArgument(where + "." + inner + ": not a map");
    }
    // The first file that names an entry wins, as client-go merges $KUBECONFIG.
    into->emplace(name, NamedEntry{body ? body : YAML::Node(YAML::NodeType::Map), file});
  }
  return Status::Ok();
}

Result<Kubeconfig> ReadKubeconfigFiles(const std::vector<std::string>& paths) {
  Kubeconfig config;
  for (const std::string& path : paths) {
    if (paths.size() > 1 && !fs::exists(path))
      continue;  // a $KUBECONFIG list may name absent files
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
      return Status::NotFound("kubeconfig " + path + ": cannot read the file");
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument("kubeconfig " + path + ": not YAML: " + e.what());
    }
    if (root.IsNull()) {
      config.files.push_back(path);
      continue;
    }
    if (!root.IsMap()) return Status::InvalidArgument("kubeconfig " + path + ": not a map");
    config.files.push_back(path);
    if (config.current_context.empty()) {
      TM_ASSIGN_OR_RETURN(config.current_context,
                          StringField(root, "current-context", "kubeconfig " + path + ": "));
    }
    TM_RETURN_IF_ERROR(MergeSection(root, "clusters", "cluster", path, &config.clusters));
    TM_RETURN_IF_ERROR(MergeSection(root, "users", "user", path, &config.users));
    TM_RETURN_IF_ERROR(MergeSection(root, "contexts", "context", path, &config.contexts));
  }
  if (config.files.empty()) {
    std::string names;
    for (const auto& p : paths) names += (names.empty() ? "" : ", ") + p;
    return Status::NotFound("no kubeconfig file found (looked for " + names + ")");
  }
  return config;
}

// Relative paths in a kubeconfig are relative to the file that holds them.
std::string ResolvePath(const std::string& path, const std::string& kubeconfig_file) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(kubeconfig_file).parent_path() / path).string();
}

// "-data" (base64) or the file named by the plain field; "" when neither is set.
Result<std::string> DataOrFile(const NamedEntry& entry, const std::string& key,
                               const std::string& where) {
  TM_ASSIGN_OR_RETURN(const std::string data, StringField(entry.body, key + "-data", where));
  TM_ASSIGN_OR_RETURN(const std::string file, StringField(entry.body, key, where));
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded.ok())
      return Status::InvalidArgument(where + "." + key + "-data: not valid base64");
    return *decoded;
  }
  if (!file.empty()) {
    auto text = ReadFile(ResolvePath(file, entry.file), where + "." + key);
    if (!text.ok()) return text.status();
    return *text;
  }
  return std::string();
}

Result<ExecPluginConfig> ReadExec(const NamedEntry& user, const std::string& where) {
  const YAML::Node exec = user.body["exec"];
  if (!exec.IsMap()) return Status::InvalidArgument(where + ": not a map");
  ExecPluginConfig plugin;
  plugin.origin = where;
  TM_ASSIGN_OR_RETURN(plugin.command, StringField(exec, "command", where));
  if (plugin.command.empty()) return Status::InvalidArgument(where + ".command: missing");
  if (plugin.command.find('/') != std::string::npos) {
    plugin.command = ResolvePath(plugin.command, user.file);
  }
  TM_ASSIGN_OR_RETURN(plugin.api_version, StringField(exec, "apiVersion", where));
  if (plugin.api_version.empty()) return Status::InvalidArgument(where + ".apiVersion: missing");
  TM_ASSIGN_OR_RETURN(const std::string interactive, StringField(exec, "interactiveMode", where));
  if (interactive == "Always") {
    return Status::InvalidArgument(where +
                                   ".interactiveMode: Always needs a terminal; tidemark has none");
  }
  if (const YAML::Node args = exec["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) return Status::InvalidArgument(where + ".args: not a list");
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        return Status::InvalidArgument(where + ".args[" + std::to_string(i) + "]: not a string");
      }
      plugin.args.push_back(args[i].Scalar());
    }
  }
  if (const YAML::Node env = exec["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) return Status::InvalidArgument(where + ".env: not a list");
    for (size_t i = 0; i < env.size(); ++i) {
      const std::string item = where + ".env[" + std::to_string(i) + "]";
      if (!env[i].IsMap()) return Status::InvalidArgument(item + ": not a map");
      TM_ASSIGN_OR_RETURN(const std::string name, StringField(env[i], "name", item));
      TM_ASSIGN_OR_RETURN(const std::string value, StringField(env[i], "value", item));
      if (name.empty()) return Status::InvalidArgument(item + ".name: missing");
      plugin.env[name] = value;
    }
  }
  return plugin;
}

Result<CredentialSourcePtr> ReadUser(const NamedEntry& user, const std::string& where,
                                     const Clock* clock) {
  const YAML::Node& body = user.body;
  Credentials fixed;
  TM_ASSIGN_OR_RETURN(fixed.token, StringField(body, "token", where));
  TM_ASSIGN_OR_RETURN(const std::string token_file, StringField(body, "tokenFile", where));
  TM_ASSIGN_OR_RETURN(fixed.client_cert_pem, DataOrFile(user, "client-certificate", where));
  TM_ASSIGN_OR_RETURN(fixed.client_key_pem, DataOrFile(user, "client-key", where));
  if (fixed.client_cert_pem.empty() != fixed.client_key_pem.empty()) {
    return Status::InvalidArgument(
        where + (fixed.client_key_pem.empty() ? ".client-key" : ".client-certificate") +
        ": missing (client-certificate and client-key come together)");
  }
  if (body["username"] || body["password"]) {
    return Status::Unsupported(where + ".username: basic authentication is not supported");
  }
  const bool has_exec = body["exec"] && !body["exec"].IsNull();
  if (has_exec) {
    if (!fixed.token.empty() || !token_file.empty() || !fixed.client_cert_pem.empty()) {
      return Status::InvalidArgument(where +
                                     ".exec: cannot be combined with a token or a "
                                     "client certificate");
    }
    TM_ASSIGN_OR_RETURN(ExecPluginConfig plugin, ReadExec(user, where + ".exec"));
    return ExecCredentials(std::move(plugin), clock);
  }
  if (!token_file.empty() && fixed.token.empty()) {
    const std::string path = ResolvePath(token_file, user.file);
    // Fail now, with the field's name, rather than on the first request.
    auto first = ReadFile(path, where + ".tokenFile", kMaxTokenFileBytes);
    if (!first.ok()) return first.status();
    if (!fixed.client_cert_pem.empty()) {
      return Status::InvalidArgument(where +
                                     ".tokenFile: cannot be combined with a client "
                                     "certificate");
    }
    return TokenFileCredentials(path, std::chrono::seconds(60), clock);
  }
  if (fixed.token.empty() && fixed.client_cert_pem.empty()) return CredentialSourcePtr();
  return StaticCredentials(std::move(fixed));
}

Result<Config> BuildFromKubeconfig(const Kubeconfig& file, const KubeconfigOptions& options) {
  const std::string& first_file = file.files.front();
  const std::string context_name = options.context.empty() ? file.current_context : options.context;
  if (context_name.empty()) {
    return Status::InvalidArgument(Field(first_file, "current-context") +
                                   ": not set (pass --context)");
  }
  const auto context = file.contexts.find(context_name);
  if (context == file.contexts.end()) {
    return Status::NotFound(
        Field(first_file, options.context.empty() ? "current-context" : "contexts") +
        ": no context named \"" + context_name + "\"");
  }
  const std::string context_where =
      Field(context->second.file, "contexts[" + context_name + "].context");
  TM_ASSIGN_OR_RETURN(const std::string cluster_name,
                      StringField(context->second.body, "cluster", context_where));
  TM_ASSIGN_OR_RETURN(const std::string user_name,
                      StringField(context->second.body, "user", context_where));
  TM_ASSIGN_OR_RETURN(const std::string ns,
                      StringField(context->second.body, "namespace", context_where));
  const auto cluster = file.clusters.find(cluster_name);
  if (cluster == file.clusters.end()) {
    return Status::NotFound(context_where + ".cluster: no cluster named \"" + cluster_name + "\"");
  }

  Config config;
  config.origin = "kubeconfig " + first_file + " context " + context_name;
  if (!ns.empty()) config.default_namespace = ns;
  const std::string cluster_where =
      Field(cluster->second.file, "clusters[" + cluster_name + "].cluster");
  const YAML::Node& cluster_body = cluster->second.body;
  TM_ASSIGN_OR_RETURN(config.server, StringField(cluster_body, "server", cluster_where));
  if (config.server.empty()) return Status::InvalidArgument(cluster_where + ".server: missing");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Status::InvalidArgument(cluster_where + ".server: \"" + config.server +
                                   "\" is not an http:// or https:// URL");
  }
  TM_ASSIGN_OR_RETURN(config.ca_pem,
                      DataOrFile(cluster->second, "certificate-authority", cluster_where));
  TM_ASSIGN_OR_RETURN(config.insecure_skip_tls_verify,
                      BoolField(cluster_body, "insecure-skip-tls-verify", cluster_where));
  TM_ASSIGN_OR_RETURN(config.tls_server_name,
                      StringField(cluster_body, "tls-server-name", cluster_where));

  if (!user_name.empty()) {
    const auto user = file.users.find(user_name);
    if (user == file.users.end()) {
      return Status::NotFound(context_where + ".user: no user named \"" + user_name + "\"");
    }
    TM_ASSIGN_OR_RETURN(
        config.credentials,
        ReadUser(user->second, Field(user->second.file, "users[" + user_name + "].user"),
                 options.clock));
  }
  return config;
}

std::vector<std::string> KubeconfigPaths(const KubeconfigOptions& options) {
  if (!options.path.empty()) return {options.path};
  std::vector<std::string> paths;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::stringstream list(env);
    for (std::string item; std::getline(list, item, ':');) {
      if (!item.empty()) paths.push_back(item);
    }
  }
  if (paths.empty()) {
    const char* home = std::getenv("HOME");
    paths.push_back(std::string(home != nullptr ? home : "") + "/.kube/config");
  }
  return paths;
}

}  // namespace

Result<Config> LoadKubeconfig(const KubeconfigOptions& options) {
  TM_ASSIGN_OR_RETURN(const Kubeconfig file, ReadKubeconfigFiles(KubeconfigPaths(options)));
  return BuildFromKubeconfig(file, options);
}

}  // namespace tidemark::kube
