// The ledger on PostgreSQL through libpq: Django's django_migrations table, the
// tidemark_history audit table, and the session advisory lock.
//
// Lock key (documented so that other tools can take the same lock): the first 64 bits of
// sha256("tidemark:" || current_database() || ":" || schema || ":" || ledger table),
// read as a signed big-endian bigint:
//   SELECT ('x' || left(encode(sha256(convert_to('tidemark:' || current_database() || ':'
//          || 'public' || ':' || 'django_migrations', 'UTF8')), 'hex'), 16))::bit(64)::bigint;
// Unrelated schemas and ledgers get different keys, so they never block each other.
#pragma once

#include <string>

#include "base/status.h"
#include "ledger/store.h"
#include "plan/model.h"
#include "spec/objects.h"

namespace tidemark::postgres {

struct ConnectOptions {
  std::string schema = "public";
  plan::LedgerSpec ledger;
  std::string application_name = "tidemark";
  int connect_timeout_seconds = 10;
};

// Opens a session. Unavailable (with the server's message, never the password) when the
// database cannot be reached.
Result<ledger::StorePtr> Connect(const spec::ConnectionParams& params,
                                 const ConnectOptions& options);

// The SQL expression computing the lock key for a schema and ledger table.
std::string LockKeySql();

}  // namespace tidemark::postgres
