// Client configuration: where the Kubernetes API server is, how to trust it, and who we
// are. Built from the in-cluster service account or from a kubeconfig file, as client-go
// does; every error names the file and the field at fault.
//
// A Config is a plain value. Its credentials may rotate (bound service-account tokens,
// exec plugins), so they sit behind a CredentialSource shared by every copy of the Config
// and asked again before each request. CredentialSource::Get() is thread-safe.
//
// Implemented in credentials.cc (the credential sources), kubeconfig.cc (LoadKubeconfig)
// and config.cc (LoadInClusterConfig, LoadConfig).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace tidemark::kube {

struct Credentials {
  std::string token;            // bearer token; empty: none
  std::string client_cert_pem;  // with client_key_pem: TLS client authentication
  std::string client_key_pem;
};

// Supplies the credentials for the next request. Thread-safe.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual Result<Credentials> Get() = 0;
  // The server refused the last credentials (HTTP 401): read or fetch them anew next time.
  virtual void Invalidate() {}
};
using CredentialSourcePtr = std::shared_ptr<CredentialSource>;

struct Config {
  std::string server;                     // "https://10.0.0.1:443" or "http://127.0.0.1:8080"
  std::string ca_pem;                     // trusted CAs (PEM); empty: the system's
  bool insecure_skip_tls_verify = false;  // no server certificate check at all
  std::string tls_server_name;            // name the server certificate must carry; empty: host
  std::string default_namespace = "default";
  CredentialSourcePtr credentials;  // null: anonymous
  std::string origin;               // for messages: "in-cluster", "kubeconfig FILE context X"
};

// Credentials that never change (a token or a certificate written in the kubeconfig).
CredentialSourcePtr StaticCredentials(Credentials credentials);
// A bearer token read from `path`, read again when older than `refresh` (bound tokens
// rotate). A failed re-read keeps the last good token.
CredentialSourcePtr TokenFileCredentials(std::string path, std::chrono::seconds refresh,
                                         const Clock* clock);

// A kubeconfig `users[].user.exec` plugin: runs `command` and reads an ExecCredential from
// its standard output, cached until its expirationTimestamp (for good when it has none).
struct ExecPluginConfig {
  std::string command;  // a name looked up in PATH, or a path (relative: to the kubeconfig)
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to the controller's environment
  std::string api_version = "client.authentication.k8s.io/v1";
  std::string origin;  // "kubeconfig FILE users[NAME].user.exec", for messages
};
CredentialSourcePtr ExecCredentials(ExecPluginConfig plugin, const Clock* clock);

struct InClusterOptions {
  std::string secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::chrono::seconds token_refresh{60};  // client-go re-reads the token each minute
  const Clock* clock = &SystemClock();     // not owned
};
// Reads KUBERNETES_SERVICE_HOST/PORT and `token`, `ca.crt`, `namespace` in secrets_dir.
Result<Config> LoadInClusterConfig(const InClusterOptions& options = {});

struct KubeconfigOptions {
  std::string path;     // --kubeconfig; empty: $KUBECONFIG (a ':' list), else ~/.kube/config
  std::string context;  // --context; empty: the file's current-context
  const Clock* clock = &SystemClock();  // not owned
};
Result<Config> LoadKubeconfig(const KubeconfigOptions& options = {});

// client-go's default order: an explicit path or $KUBECONFIG; else in-cluster when
// KUBERNETES_SERVICE_HOST is set; else ~/.kube/config.
Result<Config> LoadConfig(const KubeconfigOptions& kubeconfig,
                          const InClusterOptions& in_cluster = {});

}  // namespace tidemark::kube
