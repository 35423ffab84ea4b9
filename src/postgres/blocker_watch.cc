#include "postgres/blocker_watch.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "postgres/session.h"

namespace tidemark::postgres {
namespace {

// The blockers of server process `pid`, oldest transaction first; the application name and
// state as pg_stat_activity has them (never the query text: it may hold anything).
constexpr char kBlockersSql[] =
    "SELECT pid, coalesce(application_name, ''), coalesce(state, ''), "
    "coalesce(extract(epoch FROM now() - coalesce(xact_start, query_start, backend_start)), 0)"
    "::bigint FROM pg_stat_activity WHERE pid = ANY(pg_blocking_pids($1::int)) "
    "ORDER BY 4 DESC, 1";

using Keywords = std::vector<std::pair<std::string, std::string>>;

// The parameters `conn` connected with (its password included), read on the step's thread.
Keywords ParametersOf(PGconn* conn) {
  Keywords keywords;
  PQconninfoOption* options = PQconninfo(conn);
  if (options == nullptr) return keywords;
  for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr || *option->val == '\0') continue;
    if (std::string_view(option->keyword) == "application_name") continue;
    keywords.emplace_back(option->keyword, option->val);
  }
  PQconninfoFree(options);
  keywords.emplace_back("application_name", "tidemark-blocker-watch");
  return keywords;
}

PGconn* Open(const Keywords& keywords) {
  std::vector<const char*> keys, values;
  for (const auto& [key, value] : keywords) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* watch = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (watch != nullptr && PQstatus(watch) != CONNECTION_OK) {
    PQfinish(watch);
    return nullptr;
  }
  if (watch != nullptr)
    PQsetNoticeProcessor(
        watch, [](void*, const char*) {}, nullptr);
  return watch;
}

std::vector<ledger::Blocker> Blockers(PGconn* watch, int pid) {
  std::vector<ledger::Blocker> blockers;
  const ResultPtr result = RunParams(watch, {kBlockersSql, {std::to_string(pid)}});
  if (!Succeeded(result.get())) return blockers;
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    ledger::Blocker blocker;
    blocker.pid = std::stoi(PQgetvalue(result.get(), row, 0));
    blocker.application_name = PQgetvalue(result.get(), row, 1);
    blocker.state = PQgetvalue(result.get(), row, 2);
    blocker.age = std::chrono::seconds(std::stoll(PQgetvalue(result.get(), row, 3)));
    blockers.push_back(std::move(blocker));
  }
  return blockers;
}

}  // namespace

BlockerWatch::BlockerWatch(PGconn* conn, ledger::BlockedCallback report,
                           std::chrono::milliseconds first, std::chrono::milliseconds every) {
  if (!report) return;
  thread_ = std::jthread(
      [this, keywords = ParametersOf(conn), pid = PQbackendPID(conn), report = std::move(report),
       first, every](std::stop_token stop) { Watch(stop, keywords, pid, report, first, every); });
}

void BlockerWatch::Watch(std::stop_token stop, const Keywords& keywords, int pid,
                         const ledger::BlockedCallback& report, std::chrono::milliseconds first,
                         std::chrono::milliseconds every) {
  std::mutex sleeping;
  std::condition_variable_any woken;
  const auto sleep = [&](std::chrono::milliseconds duration) {
    std::unique_lock lock(sleeping);
    (void)woken.wait_for(lock, stop, duration, [] { return false; });
    return !stop.stop_requested();
  };
  // Opened once the step has run for `first`: a step that does not wait costs no session.
  if (!sleep(first)) return;
  PGconn* watch = Open(keywords);
  if (watch == nullptr) return;  // the step's own session reports what went wrong
  std::vector<int> reported;     // the pids last reported
  do {
    std::vector<ledger::Blocker> blockers = Blockers(watch, pid);
    if (blockers.empty()) continue;
    std::vector<int> pids;
    for (const ledger::Blocker& blocker : blockers) pids.push_back(blocker.pid);
    if (pids != reported) report(blockers);
    reported = std::move(pids);
    std::lock_guard lock(mutex_);
    last_ = std::move(blockers);
  } while (sleep(every));
  PQfinish(watch);
}

std::vector<ledger::Blocker> BlockerWatch::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  std::lock_guard lock(mutex_);
  return last_;
}

}  // namespace tidemark::postgres
