#include "tests/support/pgbouncer.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tidemark::testing {
namespace {

bool Answers(const std::string& dsn) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  const bool ok = PQstatus(conn) == CONNECTION_OK;
  PQfinish(conn);
  return ok;
}

}  // namespace

std::string DsnField(const std::string& dsn, const std::string& keyword) {
  std::istringstream words(dsn);
  std::string word;
  while (words >> word) {
    if (word.rfind(keyword + "=", 0) == 0) return word.substr(keyword.size() + 1);
  }
  return "";
}

PgBouncer::PgBouncer(const std::string& pool_mode, const std::string& server_dsn) {
  char pattern[] = "/tmp/tidemark-pgbouncer-XXXXXX";
  dir_ = mkdtemp(pattern);
  port_ = FreeLoopbackPort();
  const bool root = getuid() == 0;
  {
    std::ofstream config(dir_ + "/pgbouncer.ini");
    config << "[databases]\n* = host=" << DsnField(server_dsn, "host")
           << " port=" << DsnField(server_dsn, "port") << " user=postgres\n"
           << "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = " << port_
           << "\nunix_socket_dir =\nauth_type = any\npool_mode = " << pool_mode
           << "\ndefault_pool_size = 4\nserver_round_robin = 1\n"
           << "ignore_startup_parameters = extra_float_digits\nlogfile = " << dir_
           << "/pgbouncer.log\n";
  }
  if (root) std::filesystem::permissions(dir_, std::filesystem::perms::all);
  std::vector<std::string> argv = {"/usr/sbin/pgbouncer", dir_ + "/pgbouncer.ini"};
  if (root) {
    // setpriv execs PgBouncer itself, so the pid kept is PgBouncer's.
    argv.insert(argv.begin(),
                {"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"});
  }
  process_ = std::make_unique<BackgroundProcess>(argv);
  const std::string probe = Dsn("postgres");
  if (!Eventually([&] { return Answers(probe) || process_->Poll(); }, std::chrono::seconds(20)) ||
      !Answers(probe)) {
    std::ifstream log(dir_ + "/pgbouncer.log");
    std::stringstream text;
    text << log.rdbuf();
    ADD_FAILURE() << "PgBouncer did not start (tools/install-deps installs it):\n"
                  << text.str() << process_->Wait().err;
  }
}

PgBouncer::~PgBouncer() {
  process_->Kill(SIGTERM);
  process_->Wait();
  std::filesystem::remove_all(dir_);
}

void PgBouncer::Warm(const std::string& dbname, int sessions) {
  std::vector<PGconn*> clients;
  for (int i = 0; i < sessions; ++i) {
    clients.push_back(PQconnectdb(Dsn(dbname).c_str()));
    PQclear(PQexec(clients.back(), "BEGIN; SELECT 1"));  // holds a server session
  }
  for (PGconn* client : clients) {
    PQclear(PQexec(client, "COMMIT"));
    PQfinish(client);
  }
}

std::string PgBouncer::Dsn(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + dbname + " user=postgres";
}

}  // namespace tidemark::testing
