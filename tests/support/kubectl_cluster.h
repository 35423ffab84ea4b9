// The test API server as the real kubectl sees it: the server, a kubeconfig for it and
// kubectl's cache in the test's folder, and kubectl run against it. The fixtures of the
// kubectl, job runner, controller and reliability tests each own one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tests/support/kube_api_server.h"
#include "tests/support/process.h"

namespace tidemark::testing {

class KubectlCluster {
 public:
  // Starts the server with `options` and writes its kubeconfig into `dir`, which must exist.
  // Fails when kubectl is missing (tools/install-deps installs it) or the server does not
  // start. The server stops when this goes away.
  static Result<std::unique_ptr<KubectlCluster>> Start(const std::string& dir,
                                                       KubeApiServerOptions options = {});

  KubeApiServer& server() const { return *server_; }
  const std::string& kubeconfig() const { return kubeconfig_; }
  // kubectl's argv for `args`, pointed at this server.
  std::vector<std::string> Command(const std::vector<std::string>& args) const;
  // Runs kubectl with `args` and `input` on its stdin (2 minutes at most).
  ProcessResult Kubectl(const std::vector<std::string>& args, const std::string& input = "") const;

 private:
  std::unique_ptr<KubeApiServer> server_;
  std::string kubeconfig_;
  std::string cache_dir_;
};

}  // namespace tidemark::testing
