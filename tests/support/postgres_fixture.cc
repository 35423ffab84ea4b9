#include "tests/support/postgres_fixture.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>

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
}

void PostgresServer::Stop() { RunProcess({SandboxScript(), "stop", dir_}); }

std::string PostgresServer::Dsn(std::string_view dbname) const {
  std::string dsn = base_dsn_;
  const std::string key = "dbname=postgres";
  dsn.replace(dsn.find(key), key.size(), "dbname=" + std::string(dbname));
  return dsn;
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
