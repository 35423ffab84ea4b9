// tidemark-operator: the same commands as `tidemark`, plus those that serve HTTP
// (`operator`, `run --watch --metrics-addr`); `tidemark` hands them over to this program.
#include "cli/commands.h"
#include "cli/server_commands.h"

int main(int argc, char** argv) {
  return tidemark::cli::Main(argc, argv, &tidemark::cli::kServerCommands);
}
