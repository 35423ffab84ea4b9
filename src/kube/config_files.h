// Reading the small files a client configuration is made of (kubeconfig pieces, tokens,
// certificates), for src/kube's configuration code only. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"

namespace tidemark::kube {

// The most a kubeconfig file, a certificate or a key read from a file may hold.
inline constexpr size_t kMaxConfigFileBytes = 4 << 20;
// The most a token file (users[].user.tokenFile, the service account's token) may hold: a
// token is sent in every request's Authorization header.
inline constexpr size_t kMaxTokenFileBytes = 64 << 10;

// The whole file (ReadFileUpTo), its messages naming `what`: NotFound when it cannot be read,
// InvalidArgument when it holds more than `max_bytes`.
Result<std::string> ReadFile(const std::string& path, const std::string& what,
                             size_t max_bytes = kMaxConfigFileBytes);

// `text` without leading and trailing white space.
std::string Trim(std::string text);

}  // namespace tidemark::kube
