// The credential sources of config.h: fixed, a token file re-read as it rotates, and
// kubeconfig exec plugins run again as their credentials expire.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/log.h"
#include "base/text.h"
#include "kube/config.h"
#include "kube/config_files.h"

extern char** environ;

namespace tidemark::kube {
namespace {

using nlohmann::json;

class TokenFileSource : public CredentialSource {
 public:
  TokenFileSource(std::string path, std::chrono::seconds refresh, const Clock* clock)
      : path_(std::move(path)), refresh_(refresh), clock_(clock) {}

  Result<Credentials> Get() override {
    std::lock_guard lock(mutex_);
    const MonoTime now = clock_->Now();
    if (read_at_ && now < *read_at_ + refresh_) return Credentials{token_, "", ""};
    auto text = ReadFile(path_, "token file", kMaxTokenFileBytes);
    if (!text.ok() || Trim(*text).empty()) {
      const Status error =
          text.ok() ? Status::InvalidArgument("token file " + path_ + " is empty") : text.status();
      if (token_.empty()) return error;
      log::Warn("keeping the last token: " + error.message());
      read_at_ = now;
      return Credentials{token_, "", ""};
    }
    token_ = Trim(*text);
    read_at_ = now;
    return Credentials{token_, "", ""};
  }

  void Invalidate() override {
    std::lock_guard lock(mutex_);
    read_at_.reset();
  }

 private:
  const std::string path_;
  const std::chrono::seconds refresh_;
  const Clock* const clock_;
  std::mutex mutex_;
  std::string token_;                // guarded by mutex_
  std::optional<MonoTime> read_at_;  // guarded by mutex_
};

class StaticSource : public CredentialSource {
 public:
  explicit StaticSource(Credentials credentials) : credentials_(std::move(credentials)) {}
  Result<Credentials> Get() override { return credentials_; }

 private:
  const Credentials credentials_;
};

// Runs argv with `env` added to the environment; returns its standard output. Standard
// error goes to ours, as kubectl does, so the plugin can explain itself.
Result<std::string> RunPlugin(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& env,
                              const std::string& origin) {
  // Everything the child needs is prepared before fork: only exec may follow it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (!env.count(name)) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Status::Internal(origin + ": pipe: " + std::strerror(errno));
  }
  const int dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    if (dev_null >= 0) close(dev_null);
    return Status::Internal(origin + ": fork: " + std::strerror(errno));
  }
  if (pid == 0) {
    if (dev_null >= 0) dup2(dev_null, STDIN_FILENO);
    dup2(pipe_fds[1], STDOUT_FILENO);
    execvpe(argp[0], argp.data(), envp.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  if (dev_null >= 0) close(dev_null);
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0)
      out.append(buffer, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  close(pipe_fds[0]);
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 127 && out.empty()) {
    return Status::Unavailable(origin + ": cannot run \"" + argv[0] + "\" (exit code 127)");
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    const int code =
        WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    return Status::Unavailable(origin + ": \"" + argv[0] + "\" failed with exit code " +
                               std::to_string(code));
  }
  return out;
}

class ExecSource : public CredentialSource {
 public:
  ExecSource(ExecPluginConfig plugin, const Clock* clock)
      : plugin_(std::move(plugin)), clock_(clock) {}

  Result<Credentials> Get() override {
    std::lock_guard lock(mutex_);
    if (cached_ && (!expires_ || clock_->WallNow() < *expires_)) return *cached_;
    std::vector<std::string> argv{plugin_.command};
    argv.insert(argv.end(), plugin_.args.begin(), plugin_.args.end());
    auto env = plugin_.env;
    env["KUBERNETES_EXEC_INFO"] = DumpJson(json{{"apiVersion", plugin_.api_version},
                                                {"kind", "ExecCredential"},
                                                {"spec", {{"interactive", false}}}});
    TM_ASSIGN_OR_RETURN(const std::string out, RunPlugin(argv, env, plugin_.origin));
    return Parse(out);
  }

  void Invalidate() override {
    std::lock_guard lock(mutex_);
    cached_.reset();
  }

 private:
  // Reads the ExecCredential; mutex_ is held.
  Result<Credentials> Parse(const std::string& out) {
    const std::string where = plugin_.origin + ": the output of \"" + plugin_.command + "\"";
    json credential;
    try {
      credential = json::parse(out);
    } catch (const json::exception& e) {
      return Status::InvalidArgument(where + " is not JSON: " + e.what());
    }
    if (!credential.is_object() || credential.value("kind", "") != "ExecCredential") {
      return Status::InvalidArgument(where + ": kind is not ExecCredential");
    }
    if (credential.value("apiVersion", "") != plugin_.api_version) {
      return Status::InvalidArgument(where + ": apiVersion \"" +
                                     credential.value("apiVersion", "") + "\" is not \"" +
                                     plugin_.api_version + "\"");
    }
    const json status = credential.value("status", json::object());
    if (!status.is_object()) return Status::InvalidArgument(where + ": status is not an object");
    Credentials result;
    result.token = status.value("token", "");
    result.client_cert_pem = status.value("clientCertificateData", "");
    result.client_key_pem = status.value("clientKeyData", "");
    if (result.client_cert_pem.empty() != result.client_key_pem.empty()) {
      return Status::InvalidArgument(
          where + ": status.clientCertificateData and status.clientKeyData come together");
    }
    if (result.token.empty() && result.client_cert_pem.empty()) {
      return Status::InvalidArgument(where +
                                     ": status has neither token nor clientCertificateData");
    }
    expires_.reset();
    const std::string expiry = status.value("expirationTimestamp", "");
    if (!expiry.empty()) {
      auto parsed = ParseRfc3339(expiry);
      if (!parsed.ok()) {
        return parsed.status().WithContext(where + ": status.expirationTimestamp");
      }
      expires_ = *parsed;
    }
    cached_ = result;
    return result;
  }

  const ExecPluginConfig plugin_;
  const Clock* const clock_;
  std::mutex mutex_;
  std::optional<Credentials> cached_;  // guarded by mutex_
  std::optional<WallTime> expires_;    // guarded by mutex_; empty: never
};

}  // namespace

CredentialSourcePtr StaticCredentials(Credentials credentials) {
  return std::make_shared<StaticSource>(std::move(credentials));
}

CredentialSourcePtr TokenFileCredentials(std::string path, std::chrono::seconds refresh,
                                         const Clock* clock) {
  return std::make_shared<TokenFileSource>(std::move(path), refresh, clock);
}

CredentialSourcePtr ExecCredentials(ExecPluginConfig plugin, const Clock* clock) {
  return std::make_shared<ExecSource>(std::move(plugin), clock);
}

}  // namespace tidemark::kube
