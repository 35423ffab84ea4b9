// The commands only the `tidemark-operator` program carries: the Kubernetes controller
// (the `operator` subcommand, its flags included) and the /metrics server of
// `tidemark run --watch`. Kept out of the `tidemark` program so that its one-shot commands
// load neither OpenSSL's initialisation nor the controller. Part of tm_cli_server, the one
// target of src/cli that links the operator, HTTP and metrics layers.
#pragma once

#include "cli/commands.h"

namespace tidemark::cli {

extern const ServerCommands kServerCommands;

}  // namespace tidemark::cli
