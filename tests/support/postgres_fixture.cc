#include "tests/support/postgres_fixture.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

std::string SandboxScript() {
  const char* source = std::getenv("TIDEMARK_SOURCE_DIR");
  return std::string(source ? source : TIDEMARK_SOURCE_DIR_DEFAULT) + "/tools/pg-sandbox";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PostgresServer& PostgresServer::Get() {
  // Leaked on purpose: stopped by the atexit handler registered in the constructor.
  static PostgresServer* server = new PostgresServer();
  return *server;
}

PostgresServer::PostgresServer() {
  char pattern[] = "/tmp/tidemark-pg-XXXXXX";
  const char* made = mkdtemp(pattern);
  if (made == nullptr) throw std::runtime_error("mkdtemp failed for the PostgreSQL fixture");
  dir_ = made;
  Start();
  static std::string* dir_for_exit = new std::string(dir_);
  std::atexit([] {
    RunProcess({SandboxScript(), "stop", *dir_for_exit});
    std::filesystem::remove_all(*dir_for_exit);
  });
}

PostgresServer::~PostgresServer() = default;

void PostgresServer::Start() {
  ProcessResult started = RunProcess({SandboxScript(), "start", dir_});
  if (started.exit_code != 0) {
    // Fatal for the whole binary: every test here needs the server.
    std::fprintf(stderr, "PostgreSQL fixture could not start:\n%s%s\n", started.out.c_str(),
                 started.err.c_str());
    std::abort();
  }
  base_dsn_ = Trim(started.out);
  RequirePasswordsOfPasswordRoles();
}

// pg_hba.conf's first line makes the members of kPasswordRoles give their password; the
// lines initdb wrote (trust) follow. Kept across restarts; the group made once.
void PostgresServer::RequirePasswordsOfPasswordRoles() {
  const std::string path = dir_ + "/data/pg_hba.conf";
  const std::string line = std::string("local all +") + kPasswordRoles + " scram-sha-256\n";
  std::stringstream contents;
  contents << std::ifstream(path).rdbuf();
  if (!contents.str().starts_with(line)) {
    std::ofstream(path, std::ios::trunc) << line << contents.str();
    Query(base_dsn_, "SELECT pg_reload_conf()");
  }
  Query(base_dsn_, std::string("DO $$BEGIN CREATE ROLE ") + kPasswordRoles +
                       " NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$");
}

void PostgresServer::Stop() { RunProcess({SandboxScript(), "stop", dir_}); }

std::string PostgresServer::Dsn(std::string_view dbname) const {
  std::string dsn = base_dsn_;
  const std::string key = "dbname=postgres";
  dsn.replace(dsn.find(key), key.size(), "dbname=" + std::string(dbname));
  return dsn;
}

std::string PostgresServer::PasswordRole(std::string_view dsn, std::string_view role,
                                         std::string_view password) {
  const std::string name(role);
  Query(base_dsn_, "DO $$BEGIN CREATE ROLE \"" + name +
                       "\" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$");
  Query(base_dsn_, "ALTER ROLE \"" + name + "\" PASSWORD '" + std::string(password) + "'");
  Query(base_dsn_, std::string("GRANT ") + kPasswordRoles + " TO \"" + name + "\"");
  std::string as_role(dsn);
  const std::string key = "user=postgres";
  as_role.replace(as_role.find(key), key.size(), "user=" + name);
  // The server reloads pg_hba.conf after pg_reload_conf() returns: wait until a wrong
  // password is refused, so that no test sees the trust it had before.
  for (int tries = 0;; ++tries) {
    PGconn* conn = PQconnectdb((as_role + " password=not-" + std::string(password)).c_str());
    const bool refused = PQstatus(conn) != CONNECTION_OK;
    PQfinish(conn);
    if (refused) break;
    if (tries == 500) {
      ADD_FAILURE() << "the server still lets " << name << " in without its password";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return as_role;
}

std::string PostgresServer::CreateDatabase(std::string_view prefix) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  const std::string name =
      std::string(prefix) + "_" + std::to_string(getpid()) + "_" + std::to_string(next_database_++);
  Query(Dsn(), "CREATE DATABASE \"" + name + "\"");
  return Dsn(name);
}

Rows PostgresServer::Query(std::string_view dsn, std::string_view sql) const {
  PGconn* conn = PQconnectdb(std::string(dsn).c_str());
  Rows rows;
  if (PQstatus(conn) != CONNECTION_OK) {
    ADD_FAILURE() << "connecting to " << dsn << ": " << PQerrorMessage(conn);
    PQfinish(conn);
    return rows;
  }
  PGresult* result = PQexec(conn, std::string(sql).c_str());
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    ADD_FAILURE() << "query failed: " << sql << "\n" << PQerrorMessage(conn);
  } else {
    for (int r = 0; r < PQntuples(result); ++r) {
      std::vector<std::string> row;
      for (int c = 0; c < PQnfields(result); ++c) {
        row.push_back(PQgetisnull(result, r, c) ? "<null>" : PQgetvalue(result, r, c));
      }
      rows.push_back(std::move(row));
    }
  }
  PQclear(result);
  PQfinish(conn);
  return rows;
}

std::string PostgresServer::QueryValue(std::string_view dsn, std::string_view sql) const {
  Rows rows = Query(dsn, sql);
  if (rows.empty() || rows[0].empty()) return "";
  return rows[0][0];
}

}  // namespace tidemark::testing
