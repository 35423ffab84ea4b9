// `tidemark operator` as the end-to-end tests start it: against a kubeconfig, with its
// metrics and probes on a loopback port and two workers; and the wait for it to be up.
// Header-only: its users link cpp-httplib already.
#pragma once

#include <httplib.h>

#include <string>
#include <vector>

#include "tests/support/process.h"

namespace tidemark::testing {

inline std::vector<std::string> OperatorArgv(const std::string& kubeconfig, int port,
                                             const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {BuiltProgram("tidemark"),
                                   "operator",
                                   "--kubeconfig",
                                   kubeconfig,
                                   "--metrics-addr",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--workers",
                                   "2"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// True once whatever serves `port` answers /healthz with 200 (within Eventually's limit).
inline bool AnswersHealthz(int port) {
  return Eventually([&] {
    httplib::Client client("127.0.0.1", port);
    auto response = client.Get("/healthz");
    return response && response->status == 200;
  });
}

}  // namespace tidemark::testing
