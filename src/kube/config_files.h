// Reading the small files a client configuration is made of (kubeconfig pieces, tokens,
// certificates), for src/kube's configuration code only. Stateless; thread-safe.
#pragma once

#include <string>

#include "base/status.h"

namespace tidemark::kube {

// The whole file; NotFound naming `what` and the path when it cannot be read.
Result<std::string> ReadFile(const std::string& path, const std::string& what);

// `text` without leading and trailing white space.
std::string Trim(std::string text);

}  // namespace tidemark::kube
