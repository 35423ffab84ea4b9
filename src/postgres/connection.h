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
  // For messages: host, port, dbname and user, never the password.
  std::string Describe() const;
};

// Resolves the database fields. `allow_local_sources` permits `env:` and `file:` sources
// (the CLI); the controller passes false so a plan cannot read the controller's own files.
Result<ConnectionParams> ResolveConnection(const plan::DatabaseSpec& database,
                                           const std::string& ns, resource::ObjectSource& objects,
                                           bool allow_local_sources);

}  // namespace tidemark::postgres
