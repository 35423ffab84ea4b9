// The libpq connection parameters of a plan: its spec.database fields resolved to values
// (literals, or env, file and Secret sources through resource::ObjectSource) and paired with
// libpq's keywords. Plain values, no session: safe to copy and to share read-only.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "plan/model.h"
#include "resource/objects.h"

namespace tidemark::postgres {

// libpq keyword/value pairs for PQconnectdbParams; a "dsn" given first is expanded there.
struct ConnectionParams {
  std::vector<std::pair<std::string, std::string>> keywords;
};

// Resolves the database fields. `allow_local_sources` permits `env:` and `file:` sources
// (the CLI); the controller passes false so a plan cannot read the controller's own files.
Result<ConnectionParams> ResolveConnection(const plan::DatabaseSpec& database,
                                           const std::string& ns, resource::ObjectSource& objects,
                                           bool allow_local_sources);

// The libpq environment variables (PGHOST, PGDATABASE, PGPASSWORD, ...) that give a libpq
// client program (pg_dump) the same connection as `params`, a connection string among
// them expanded: nothing of it, the password least of all, goes on a command line.
// InvalidArgument naming a parameter that has no such variable.
Result<std::vector<std::pair<std::string, std::string>>> ClientEnvironment(
    const ConnectionParams& params);

}  // namespace tidemark::postgres
