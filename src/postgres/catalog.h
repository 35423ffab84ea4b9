// What `tidemark lint --database` reads of a live database, so that lint judges a step
// against the schema as it is where the plan's own steps do not say: the server's major
// version and the column types of its tables. Read-only: catalogue queries in one session,
// closed at the end.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "postgres/pg_store.h"

namespace tidemark::postgres {

struct LiveCatalog {
  int server_version = 0;  // the major version: 16 for 16.4
  // "schema.table" -> column -> type as format_type writes it ("character varying(100)"),
  // for the ordinary and partitioned tables outside the system schemas.
  std::map<std::string, std::map<std::string, std::string>> columns;
};

// At most this many columns are read; past it the rest stay unknown to lint (their type
// changes are reported as if no step said), so a huge catalogue cannot exhaust memory.
inline constexpr int kMaxCatalogColumns = 200'000;

// Unavailable (never the password) when the database cannot be reached.
Result<LiveCatalog> ReadCatalog(const ConnectionParams& params, const ConnectOptions& options);

}  // namespace tidemark::postgres
