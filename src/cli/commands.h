// The `tidemark` command line: Django's migration commands as the model (SPEC section 4).
//
// Exit codes scripts can trust: 0 done (nothing pending), 1 pending, failed or waiting,
// 2 invalid input (bad flags, plan files, specs or missing secrets).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace CLI {
class App;
}

namespace tidemark::cli {

class RunMonitor;

inline constexpr int kExitOk = 0;
inline constexpr int kExitPending = 1;
inline constexpr int kExitInvalid = 2;

// The commands that need the HTTP server, TLS and the Kubernetes client. Only the
// `tidemark-operator` program links them (cli/server_commands.h), so that `tidemark apply`
// and the other one-shot commands start without OpenSSL's initialisation or the
// controller's code: a third less memory. The `tidemark` program does not even compile
// against their headers (its layer, tm_cli, does not link them).
struct ServerCommands {
  // Declares the flags of the `operator` subcommand on `command`; the function returned
  // runs the controller with them once the arguments are parsed.
  std::function<int()> (*declare_operator)(CLI::App& command);
  // Serves /metrics, /healthz and /readyz at `address` for `tidemark run --watch`.
  Result<std::unique_ptr<RunMonitor>> (*serve_run_metrics)(const std::string& address);
};

// Parses the arguments and runs the command. Never throws. Without `server` (the
// `tidemark` program), `operator` (its flags and --help too) and `run --metrics-addr` are
// handed to the tidemark-operator program installed beside it, with the same arguments.
int Main(int argc, char** argv, const ServerCommands* server);

}  // namespace tidemark::cli
