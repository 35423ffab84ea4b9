// The `tidemark` command line: Django's migration commands as the model (SPEC section 4).
//
// Exit codes scripts can trust: 0 done (nothing pending), 1 pending, failed or waiting,
// 2 invalid input (bad flags, plan files, specs or missing secrets).
#pragma once

namespace tidemark::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitPending = 1;
inline constexpr int kExitInvalid = 2;

// Parses the arguments and runs the command. Never throws.
int Main(int argc, char** argv);

}  // namespace tidemark::cli
