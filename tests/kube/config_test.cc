#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <optional>

#include "kube/config_files.h"
#include "temp_dir.h"

namespace tidemark::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// PEM-looking text and its base64 encoding (as `base64` prints it).
constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr char kCaPemBase64[] =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
constexpr char kCertPem[] = "CERT\n";
constexpr char kCertPemBase64[] = "Q0VSVAo=";
constexpr char kKeyPem[] = "KEY\n";
constexpr char kKeyPemBase64[] = "S0VZCg==";

// Sets an environment variable for one test and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

Credentials GetCredentials(const Config& config) {
  EXPECT_TRUE(config.credentials != nullptr);
  auto credentials = config.credentials->Get();
  EXPECT_TRUE(credentials.ok()) << credentials.status().ToString();
  return credentials.ok() ? *credentials : Credentials{};
}

TEST(KubeconfigTest, ReadsEveryClusterFieldAndTheContextNamespace) {
  TempDir dir;
  const std::string path = dir.Write("config", std::string(R"(
apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: prod
  context: {cluster: big, user: admin, namespace: shop}
clusters:
- name: big
  cluster:
    server: https://10.1.2.3:6443
    certificate-authority-data: )") + kCaPemBase64 +
                                                   R"(
    insecure-skip-tls-verify: true
    tls-server-name: kubernetes.default
users:
- name: admin
  user: {token: sekret}
)");
  auto config = LoadKubeconfig({path, "", &SystemClock()});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://10.1.2.3:6443");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->tls_server_name, "kubernetes.default");
  EXPECT_EQ(config->default_namespace, "shop");
  EXPECT_EQ(GetCredentials(*config).token, "sekret");
  EXPECT_THAT(config->origin, HasSubstr("context prod"));
}

TEST(KubeconfigTest, ReadsFilesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.Write("pki/ca.crt", kCaPem);
  dir.Write("pki/client.crt", kCertPem);
  dir.Write("pki/client.key", kKeyPem);
  const std::string path = dir.Write("kube/../config", R"(
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k:443", certificate-authority: pki/ca.crt}}]
users: [{name: u, user: {client-certificate: pki/client.crt, client-key: pki/client.key}}]
)");
  auto config = LoadKubeconfig({path, "", &SystemClock()});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->default_namespace, "default");
  const Credentials credentials = GetCredentials(*config);
  EXPECT_EQ(credentials.client_cert_pem, kCertPem);
  EXPECT_EQ(credentials.client_key_pem, kKeyPem);
  EXPECT_EQ(credentials.token, "");
}

TEST(KubeconfigTest, ReadsCertificateDataAndPicksANamedContext) {
  TempDir dir;
  const std::string path = dir.Write("config", std::string(R"(
current-context: a
contexts:
- {name: a, context: {cluster: ka, user: ua}}
- {name: b, context: {cluster: kb, user: ub}}
clusters:
- {name: ka, cluster: {server: "http://a:80"}}
- {name: kb, cluster: {server: "https://b:6443"}}
users:
- {name: ua, user: {token: ta}}
- name: ub
  user:
    client-certificate-data: )") + kCertPemBase64 + R"(
    client-key-data: )" + kKeyPemBase64 + "\n");
  auto config = LoadKubeconfig({path, "b", &SystemClock()});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://b:6443");
  const Credentials credentials = GetCredentials(*config);
  EXPECT_EQ(credentials.client_cert_pem, kCertPem);
  EXPECT_EQ(credentials.client_key_pem, kKeyPem);
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(KubeconfigTest, TokenFileIsReadAgainAfterAMinute) {
  TempDir dir;
  const std::string token = dir.Write("token", "first\n");
  const std::string path = dir.Write("config", R"(
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {tokenFile: token}}]
)");
  FakeClock clock;
  auto config = LoadKubeconfig({path, "", &clock});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(GetCredentials(*config).token, "first");
  dir.Write("token", "second\n");
  clock.Advance(std::chrono::seconds(59));
  EXPECT_EQ(GetCredentials(*config).token, "first");
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(GetCredentials(*config).token, "second");
  std::filesystem::remove(token);  // a failed re-read keeps the last good token
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(GetCredentials(*config).token, "second");
}

// A token goes in every request's header: a token file past kMaxTokenFileBytes (or one that
// never ends, a device named by mistake) is refused, naming the field and the file, and
// not read past the bound. A rotated token that grows too large keeps the last good one.
TEST(KubeconfigTest, TokenFileIsBoundedAndNamed) {
  TempDir dir;
  const std::string at_bound = dir.Write("token", std::string(kMaxTokenFileBytes, 'a'));
  const std::string too_large = dir.Write("large", std::string(kMaxTokenFileBytes + 1, 'a'));
  auto config_with = [&](const std::string& token_file) {
    return dir.Write("config",
                     "current-context: c\n"
                     "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                     "clusters: [{name: k, cluster: {server: \"https://k\"}}]\n"
                     "users: [{name: u, user: {tokenFile: \"" +
                         token_file + "\"}}]\n");
  };
  for (const std::string& file : {too_large, std::string("/dev/zero")}) {
    const std::string kubeconfig = config_with(file);
    auto config = LoadKubeconfig({kubeconfig, "", &SystemClock()});
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << file;
    EXPECT_EQ(config.status().message(),
              "kubeconfig " + kubeconfig + ": users[u].user.tokenFile: " + file +
                  " holds more than the 65,536 bytes such a file may; point it at the right file");
  }
  FakeClock clock;
  auto config = LoadKubeconfig({config_with(at_bound), "", &clock});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(GetCredentials(*config).token, std::string(kMaxTokenFileBytes, 'a'));
  dir.Write("token", std::string(kMaxTokenFileBytes + 1, 'b'));
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(GetCredentials(*config).token, std::string(kMaxTokenFileBytes, 'a'));
}

TEST(KubeconfigTest, KubeconfigListMergesWithTheFirstFileWinning) {
  TempDir dir;
  const std::string first = dir.Write("one", R"(
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {token: from-one}}]
)");
  const std::string second = dir.Write("two", R"(
current-context: ignored
clusters: [{name: k, cluster: {server: "https://two"}}]
users: [{name: u, user: {token: from-two}}]
)");
  ScopedEnv env("KUBECONFIG", (first + ":" + dir.path() + "/absent:" + second).c_str());
  auto config = LoadKubeconfig({});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://two");
  EXPECT_EQ(GetCredentials(*config).token, "from-one");
}

TEST(KubeconfigTest, ExecPluginRunsWithArgsAndEnvAndIsCachedUntilExpiry) {
  TempDir dir;
  const std::string count = dir.path() + "/runs";
  // The plugin counts its runs and builds the token from its argument, its environment
  // and the run number, so the test sees what it was given and when it ran again.
  dir.Write("bin/plugin.sh", R"(#!/bin/sh
echo x >> ")" + count + R"("
runs=$(wc -l < ")" + count + R"(" | tr -d ' ')
case "$KUBERNETES_EXEC_INFO" in *'"kind":"ExecCredential"'*) info=yes ;; *) info=no ;; esac
cat <<JSON
{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
 "status": {"token": "$1-$REGION-$info-$runs",
            "expirationTimestamp": "2027-01-15T08:05:00Z"}}
JSON
)",
            /*executable=*/true);
  const std::string path = dir.Write("config", R"(
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/plugin.sh
      args: [gke]
      env: [{name: REGION, value: eu}]
      interactiveMode: Never
)");
  FakeClock clock;  // starts at 2027-01-15T08:00:00Z
  auto config = LoadKubeconfig({path, "", &clock});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(GetCredentials(*config).token, "gke-eu-yes-1");
  clock.Advance(std::chrono::minutes(4));
  EXPECT_EQ(GetCredentials(*config).token, "gke-eu-yes-1");  // cached
  clock.Advance(std::chrono::minutes(1));
  EXPECT_EQ(GetCredentials(*config).token, "gke-eu-yes-2");  // expired: run again
}

TEST(KubeconfigTest, ExecPluginCertificatesAndFailuresAreReported) {
  TempDir dir;
  const std::string certs = dir.Write("certs.sh", R"(#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",'
printf '"status":{"clientCertificateData":"C","clientKeyData":"K"}}'
)",
                                      true);
  ExecPluginConfig plugin{certs, {}, {}, "client.authentication.k8s.io/v1beta1", "test exec"};
  auto credentials = ExecCredentials(plugin, &SystemClock())->Get();
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->client_cert_pem, "C");
  EXPECT_EQ(credentials->client_key_pem, "K");

  plugin.command = dir.Write("fails.sh", "#!/bin/sh\nexit 3\n", true);
  auto failed = ExecCredentials(plugin, &SystemClock())->Get();
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(failed.status().message(), HasSubstr("fails.sh\" failed with exit code 3"));
  EXPECT_THAT(failed.status().message(), HasSubstr("test exec"));

  plugin.command = dir.Write("junk.sh", "#!/bin/sh\necho not json\n", true);
  auto junk = ExecCredentials(plugin, &SystemClock())->Get();
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(junk.status().message(), HasSubstr("is not JSON"));

  plugin.command = dir.Write("wrong.sh",
                             "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/"
                             "v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
                             true);
  auto wrong = ExecCredentials(plugin, &SystemClock())->Get();
  EXPECT_THAT(wrong.status().message(),
              HasSubstr("apiVersion \"client.authentication.k8s.io/v1\""));
}

struct BadKubeconfig {
  const char* name;
  std::string yaml;
  std::string message;  // what the error must name
};

class KubeconfigErrorTest : public ::testing::TestWithParam<BadKubeconfig> {};

TEST_P(KubeconfigErrorTest, NamesTheFileAndTheField) {
  TempDir dir;
  const std::string path = dir.Write("config", GetParam().yaml);
  auto config = LoadKubeconfig({path, "", &SystemClock()});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("kubeconfig " + path));
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().message));
}

const char kContext[] = R"(
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
)";

INSTANTIATE_TEST_SUITE_P(
    Fields, KubeconfigErrorTest,
    ::testing::Values(
        BadKubeconfig{"NoServer",
                      std::string(kContext) + "clusters: [{name: k, cluster: {}}]\n"
                                              "users: [{name: u, user: {}}]\n",
                      "clusters[k].cluster.server: missing"},
        BadKubeconfig{"BadServer",
                      std::string(kContext) + "clusters: [{name: k, cluster: {server: k8s}}]\n"
                                              "users: [{name: u, user: {}}]\n",
                      "clusters[k].cluster.server: \"k8s\" is not an http"},
        BadKubeconfig{"BadBase64",
                      std::string(kContext) +
                          "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "users: [{name: u, user: {client-certificate-data: Q0VSVAo=,"
                          " client-key-data: '!!'}}]\n",
                      "users[u].user.client-key-data: not valid base64"},
        BadKubeconfig{"CertWithoutKey",
                      std::string(kContext) +
                          "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "users: [{name: u, user: {client-certificate-data: Q0VSVAo=}}]\n",
                      "users[u].user.client-key: missing"},
        BadKubeconfig{"MissingCaFile",
                      std::string(kContext) + "clusters: [{name: k, cluster: {server: 'https://k',"
                                              " certificate-authority: nowhere.crt}}]\n"
                                              "users: [{name: u, user: {}}]\n",
                      "clusters[k].cluster.certificate-authority: cannot read"},
        BadKubeconfig{"NotABool",
                      std::string(kContext) + "clusters: [{name: k, cluster: {server: 'https://k',"
                                              " insecure-skip-tls-verify: maybe}}]\n"
                                              "users: [{name: u, user: {}}]\n",
                      "clusters[k].cluster.insecure-skip-tls-verify: not true or false"},
        BadKubeconfig{"UnknownContext", "current-context: nope\n",
                      "current-context: no context named \"nope\""},
        BadKubeconfig{"UnknownCluster", std::string(kContext) + "users: [{name: u, user: {}}]\n",
                      "contexts[c].context.cluster: no cluster named \"k\""},
        BadKubeconfig{
            "UnknownUser",
            std::string(kContext) + "clusters: [{name: k, cluster: {server: 'https://k'}}]\n",
            "contexts[c].context.user: no user named \"u\""},
        BadKubeconfig{"ExecWithoutCommand",
                      std::string(kContext) +
                          "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "users: [{name: u, user: {exec: {apiVersion: "
                          "client.authentication.k8s.io/v1}}}]\n",
                      "users[u].user.exec.command: missing"},
        BadKubeconfig{"ExecArgsNotAList",
                      std::string(kContext) +
                          "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "users: [{name: u, user: {exec: {apiVersion: v, command: c,"
                          " args: oops}}}]\n",
                      "users[u].user.exec.args: not a list"},
        BadKubeconfig{"MissingTokenFile",
                      std::string(kContext) +
                          "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                          "users: [{name: u, user: {tokenFile: gone}}]\n",
                      "users[u].user.tokenFile: cannot read"},
        BadKubeconfig{"NotYaml", "clusters: [unclosed\n", "not YAML"},
        BadKubeconfig{"NoCurrentContext", "clusters: []\n", "current-context: not set"}),
    [](const ::testing::TestParamInfo<BadKubeconfig>& param_info) {
      return param_info.param.name;
    });

TEST(KubeconfigTest, AMissingFileIsNamed) {
  auto config = LoadKubeconfig({"/nonexistent/kubeconfig", "", &SystemClock()});
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/kubeconfig"));
}

class InClusterTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ScopedEnv host_{"KUBERNETES_SERVICE_HOST", "10.96.0.1"};
  ScopedEnv port_{"KUBERNETES_SERVICE_PORT", "443"};
};

TEST_F(InClusterTest, ReadsTheServiceAccountAndRereadsTheRotatedToken) {
  dir_.Write("token", "bound-1");
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("namespace", "tidemark-system\n");
  FakeClock clock;
  auto config = LoadInClusterConfig({dir_.path(), std::chrono::seconds(60), &clock});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->default_namespace, "tidemark-system");
  EXPECT_EQ(GetCredentials(*config).token, "bound-1");
  dir_.Write("token", "bound-2");
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(GetCredentials(*config).token, "bound-1");
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(GetCredentials(*config).token, "bound-2");
}

TEST_F(InClusterTest, BracketsAnIpv6HostAndDefaultsTheNamespace) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00::1");
  dir_.Write("token", "t");
  dir_.Write("ca.crt", kCaPem);
  auto config = LoadInClusterConfig({dir_.path(), std::chrono::seconds(60), &SystemClock()});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
  EXPECT_EQ(config->default_namespace, "default");
}

TEST_F(InClusterTest, AMissingTokenNamesTheFile) {
  dir_.Write("ca.crt", kCaPem);
  auto config = LoadInClusterConfig({dir_.path(), std::chrono::seconds(60), &SystemClock()});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(dir_.path() + "/token"));
}

TEST_F(InClusterTest, OutsideAClusterSaysSo) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", nullptr);
  auto config = LoadInClusterConfig({dir_.path(), std::chrono::seconds(60), &SystemClock()});
  EXPECT_EQ(config.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(config.status().message(), HasSubstr("KUBERNETES_SERVICE_HOST"));
}

TEST_F(InClusterTest, LoadConfigPrefersAnExplicitKubeconfig) {
  dir_.Write("token", "in-cluster");
  dir_.Write("ca.crt", kCaPem);
  const std::string path = dir_.Write("config", R"(
current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {server: "http://explicit:8080"}}]
)");
  ScopedEnv kubeconfig("KUBECONFIG", nullptr);
  InClusterOptions in_cluster{dir_.path(), std::chrono::seconds(60), &SystemClock()};
  auto chosen = LoadConfig({path, "", &SystemClock()}, in_cluster);
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(chosen->server, "http://explicit:8080");
  EXPECT_EQ(chosen->credentials, nullptr);
  auto fallback = LoadConfig({}, in_cluster);
  ASSERT_TRUE(fallback.ok()) << fallback.status().ToString();
  EXPECT_EQ(fallback->origin, "in-cluster");
}

}  // namespace
}  // namespace tidemark::kube
