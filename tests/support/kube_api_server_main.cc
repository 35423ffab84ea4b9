// tidemark-test-apiserver: the test Kubernetes API server as a program, for demos and
// end-to-end tests. Prints "listening on http://127.0.0.1:PORT" once it serves, optionally
// writes a kubeconfig pointing at itself, and stops on SIGTERM or SIGINT.
#include <signal.h>

#include <iostream>
#include <string>

#include "tests/support/kube_api_server.h"

namespace {

constexpr char kUsage[] =
    "usage: tidemark-test-apiserver [--port N] [--crd PATH]... [--kubeconfig-out PATH]\n"
    "  --port N               port on 127.0.0.1 (0, the default: any free port)\n"
    "  --crd PATH             CRD YAML file to install (repeatable)\n"
    "  --kubeconfig-out PATH  write a kubeconfig for this server there\n";

}  // namespace

int main(int argc, char** argv) {
  tidemark::testing::KubeApiServerOptions options;
  std::string kubeconfig_out;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc || (flag != "--port" && flag != "--crd" && flag != "--kubeconfig-out")) {
      std::cerr << kUsage;
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--port") {
      try {
        options.port = std::stoi(value);
      } catch (const std::exception&) {
        std::cerr << "tidemark-test-apiserver: --port needs a number\n";
        return 2;
      }
    } else if (flag == "--crd") {
      options.crd_paths.push_back(value);
    } else {
      kubeconfig_out = value;
    }
  }

  // Block the stop signals before any thread starts, then wait for one of them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = tidemark::testing::KubeApiServer::Start(options);
  if (!server.ok()) {
    std::cerr << "tidemark-test-apiserver: " << server.status().ToString() << "\n";
    return 1;
  }
  if (!kubeconfig_out.empty()) {
    const auto written = (*server)->WriteKubeconfig(kubeconfig_out);
    if (!written.ok()) {
      std::cerr << "tidemark-test-apiserver: " << written.ToString() << "\n";
      return 1;
    }
  }
  std::cout << "listening on " << (*server)->url() << std::endl;
  int received = 0;
  sigwait(&stop_signals, &received);
  (*server)->Stop();
  return 0;
}
