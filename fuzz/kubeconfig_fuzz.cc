// A kubeconfig file, loaded as `tidemark-operator --kubeconfig FILE` loads it (exec plugins
// are configured, not run: they run on the first request).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_checks.h"
#include "kube/config.h"

namespace {

// A file of this process's own, removed at exit.
const std::string& KubeconfigPath() {
  static const std::string path = [] {
    std::string name = "/tmp/tidemark-fuzz-kubeconfig-XXXXXX";
    const int fd = mkstemp(name.data());
    if (fd < 0) std::abort();
    close(fd);
    std::atexit([] { std::remove(KubeconfigPath().c_str()); });
    return name;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tidemark;
  const std::string& path = KubeconfigPath();
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
  auto config = kube::LoadKubeconfig({path, "", &SystemClock()});
  if (!config.ok()) fuzz::CheckMessage(config.status());
  return 0;
}
