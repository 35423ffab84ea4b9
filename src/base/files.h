// Reading a whole file without trusting its size: every file tidemark reads (plans,
// kubeconfig pieces, tokens, a password file) is read through here, up to a bound the caller
// names. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"

namespace tidemark {

// The whole file at `path`. NotFound "cannot read PATH: REASON" when it cannot be opened or
// read; InvalidArgument "PATH holds more than the N bytes" when it is longer than `max_bytes`,
// found without reading more than a chunk past the bound, so that a device or a pipe named
// by mistake cannot fill memory.
Result<std::string> ReadFileUpTo(const std::string& path, size_t max_bytes);

}  // namespace tidemark
