// The in-cluster configuration (the pod's service account), and LoadConfig's choice
// between it and a kubeconfig.
#include "kube/config.h"

#include <cstdlib>
#include <filesystem>

#include "kube/config_files.h"

namespace tidemark::kube {

Result<Config> LoadInClusterConfig(const InClusterOptions& options) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return Status::FailedPrecondition(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are "
        "not set");
  }
  const std::string dir = options.secrets_dir;
  Config config;
  config.origin = "in-cluster";
  const std::string host_text(host);
  const bool ipv6 = host_text.find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + host_text + "]" : host_text) + ":" + std::string(port);
  auto ca = ReadFile(dir + "/ca.crt", "in-cluster CA certificate");
  if (!ca.ok()) return ca.status();
  config.ca_pem = *ca;
  auto credentials = TokenFileCredentials(dir + "/token", options.token_refresh, options.clock);
  TM_RETURN_IF_ERROR(credentials->Get().status().WithContext("in-cluster service-account token"));
  config.credentials = std::move(credentials);
  if (std::filesystem::exists(dir + "/namespace")) {
    auto ns = ReadFile(dir + "/namespace", "in-cluster namespace");
    if (!ns.ok()) return ns.status();
    if (!Trim(*ns).empty()) config.default_namespace = Trim(*ns);
  }
  return config;
}

Result<Config> LoadConfig(const KubeconfigOptions& kubeconfig, const InClusterOptions& in_cluster) {
  const char* env = std::getenv("KUBECONFIG");
  const bool explicit_file = !kubeconfig.path.empty() || (env != nullptr && *env != '\0');
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (!explicit_file && host != nullptr && *host != '\0') return LoadInClusterConfig(in_cluster);
  return LoadKubeconfig(kubeconfig);
}

}  // namespace tidemark::kube
