// The commands only the `tidemark-operator` program carries: the Kubernetes controller and
// the /metrics server of `tidemark run --watch`. Kept out of the `tidemark` program so that
// its one-shot commands load neither OpenSSL's initialisation nor the controller.
#pragma once

#include "cli/commands.h"

namespace tidemark::cli {

extern const ServerCommands kServerCommands;

}  // namespace tidemark::cli
