#include "tests/support/kubectl_cluster.h"

#include <filesystem>

namespace tidemark::testing {

Result<std::unique_ptr<KubectlCluster>> KubectlCluster::Start(const std::string& dir,
                                                              KubeApiServerOptions options) {
  if (!std::filesystem::exists(KubectlProgram())) {
    return Status::FailedPrecondition(KubectlProgram() + " is missing: run tools/install-deps");
  }
  auto cluster = std::make_unique<KubectlCluster>();
  TM_ASSIGN_OR_RETURN(cluster->server_, KubeApiServer::Start(std::move(options)));
  cluster->kubeconfig_ = dir + "/kubeconfig";
  cluster->cache_dir_ = dir + "/cache";
  TM_RETURN_IF_ERROR(cluster->server_->WriteKubeconfig(cluster->kubeconfig_));
  return cluster;
}

std::vector<std::string> KubectlCluster::Command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {KubectlProgram(), "--kubeconfig", kubeconfig_, "--cache-dir",
                                   cache_dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

ProcessResult KubectlCluster::Kubectl(const std::vector<std::string>& args,
                                      const std::string& input) const {
  ProcessOptions options;
  options.input = input;
  options.timeout_seconds = 120;
  return RunProcess(Command(args), options);
}

}  // namespace tidemark::testing
