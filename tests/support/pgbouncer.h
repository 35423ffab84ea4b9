// A private PgBouncer in front of the test PostgreSQL server, for tests of tidemark behind a
// connection pooler.
//
// Started by the constructor (as the `postgres` user when the tests run as root: PgBouncer
// refuses root), listening on a free loopback port, and stopped by its pid in the
// destructor. A pooler that cannot start fails the test: a missing program is broken
// setup (tools/install-deps installs it), never a skip.
#pragma once

#include <memory>
#include <string>

#include "tests/support/process.h"

namespace tidemark::testing {

class PgBouncer {
 public:
  // `pool_mode`: session or transaction. `server_dsn` is a DSN of the test server
  // (host=<socket folder> port=...). In transaction mode the pool keeps several server
  // sessions and hands them out in turn, as a busy pool does.
  PgBouncer(const std::string& pool_mode, const std::string& server_dsn);
  ~PgBouncer();
  PgBouncer(const PgBouncer&) = delete;
  PgBouncer& operator=(const PgBouncer&) = delete;

  // A DSN of database `dbname` through the pooler.
  std::string Dsn(const std::string& dbname) const;
  // Makes the pool hold `sessions` server sessions of `dbname` (opened by as many clients
  // at once), so that a transaction-mode pool has several to hand out.
  void Warm(const std::string& dbname, int sessions);

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

// The value of `keyword` in a keyword=value DSN ("" when absent).
std::string DsnField(const std::string& dsn, const std::string& keyword);

}  // namespace tidemark::testing
