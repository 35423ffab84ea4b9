// A private PostgreSQL server for the tests, started by the tests themselves.
//
// One server per test binary, started on first use with tools/pg-sandbox (as the
// `postgres` user when the tests run as root) in a fresh temporary folder, reachable only
// on a unix socket, and stopped when the binary exits. A server that cannot start fails
// the test: a missing service means broken setup, never a skip.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tidemark::testing {

using Rows = std::vector<std::vector<std::string>>;

class PostgresServer {
 public:
  // The shared server; starts it on the first call. Thread-safe.
  static PostgresServer& Get();

  // libpq keyword/value DSN for `dbname` on this server (user postgres, trust auth).
  std::string Dsn(std::string_view dbname = "postgres") const;
  // Every role is trusted but the members of kPasswordRoles, which must give their
  // password (scram-sha-256; pg_hba.conf says so from the server's start). Makes (or
  // resets) login role `role` with `password` as one of them and returns the DSN of the
  // database of `dsn` as `role`, without the password: for tests of a wrong one.
  std::string PasswordRole(std::string_view dsn, std::string_view role, std::string_view password);
  static constexpr char kPasswordRoles[] = "tidemark_password_auth";
  // A fresh empty database named `<prefix>_<n>`; returns its DSN.
  std::string CreateDatabase(std::string_view prefix);
  // Runs `sql` and returns the rows of its last result as text (NULL as "<null>").
  // A SQL error fails the current test and returns no rows.
  Rows Query(std::string_view dsn, std::string_view sql) const;
  // The single value of a one-row, one-column query ("" when there is no row).
  std::string QueryValue(std::string_view dsn, std::string_view sql) const;

  // Stops and restarts the server, for tests of a database that goes away.
  void Stop();
  void Start();

  const std::string& dir() const { return dir_; }

 private:
  PostgresServer();
  ~PostgresServer();
  void RequirePasswordsOfPasswordRoles();
  std::string dir_;
  std::string base_dsn_;
  int next_database_ = 0;
};

}  // namespace tidemark::testing
