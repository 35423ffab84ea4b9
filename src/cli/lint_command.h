// `tidemark lint`: every step's forward SQL through the lint rules (docs/lint.md), each plan's
// steps in the order they would run so that a step is judged against the schema the ones
// before it leave. With a database (--database or DATABASE_URL) it also reads the live
// catalogue (column types, the server's version); --pg-version lints for a given server.
// Exits 1 when an error finding is not accepted, 2 on bad input.
#pragma once

#include "cli/common.h"

namespace tidemark::cli {

struct LintFlags {
  int pg_version = 0;  // --pg-version: the server's major version; 0: not given
};

int RunLint(const CommonOptions& common, const LintFlags& flags);

}  // namespace tidemark::cli
