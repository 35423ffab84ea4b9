// Opening sessions: Connect, and the SessionPool that keeps them open between uses.
#include <libpq-fe.h>

#include <algorithm>

#include "postgres/pg_store.h"
#include "postgres/pg_store_impl.h"
#include "postgres/session.h"

namespace tidemark::postgres {

Result<PGconn*> OpenSession(const ConnectionParams& params, const ConnectOptions& options) {
  std::vector<const char*> keys, values;
  bool has_application_name = false, has_timeout = false;
  for (const auto& [key, value] : params.keywords) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
    has_application_name |= key == "application_name";
    has_timeout |= key == "connect_timeout";
  }
  const std::string timeout = std::to_string(options.connect_timeout_seconds);
  if (!has_application_name) {
    keys.push_back("fallback_application_name");
    values.push_back(options.application_name.c_str());
  }
  if (!has_timeout) {
    keys.push_back("connect_timeout");
    values.push_back(timeout.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("out of memory connecting to the database");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    PQfinish(conn);
    return Status::Unavailable("cannot connect to " + params.Describe() + ": " + message);
  }
  // Server notices ("relation already exists, skipping") are not for the user's terminal.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

namespace {

// The pool's key: every connection parameter (the password included, kept in memory only).
std::string SessionKey(const ConnectionParams& params) {
  std::string key;
  for (const auto& [keyword, value] : params.keywords) key += keyword + '=' + value + '\0';
  return key;
}

}  // namespace

Result<ledger::StorePtr> Connect(const ConnectionParams& params, const ConnectOptions& options) {
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  auto store = std::make_unique<PgStore>(
      conn, options, [](PGconn* session, const LedgerFacts*) { PQfinish(session); });
  TM_RETURN_IF_ERROR(store->Init(nullptr));
  return ledger::StorePtr(std::move(store));
}

SessionPool::SessionPool(std::chrono::seconds max_idle, size_t max_idle_total)
    : max_idle_(max_idle), max_idle_total_(max_idle_total), reaper_([this](std::stop_token stop) {
        std::unique_lock lock(mutex_);
        while (!stop.stop_requested()) {
          wake_.wait_for(lock, stop, max_idle_ / 2, [] { return false; });
          const auto now = std::chrono::steady_clock::now();
          std::erase_if(idle_, [&](const Idle& session) {
            if (now - session.since < max_idle_) return false;
            PQfinish(session.conn);
            return true;
          });
        }
      }) {}

SessionPool::~SessionPool() {
  reaper_.request_stop();
  reaper_.join();
  for (const Idle& session : idle_) PQfinish(session.conn);
}

size_t SessionPool::IdleCount() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

Result<ledger::StorePtr> SessionPool::Connect(const ConnectionParams& params,
                                              const ConnectOptions& options) {
  const std::string key = SessionKey(params);
  const ReleaseSession give_back = [this, key](PGconn* conn, const LedgerFacts* facts) {
    GiveBack(key, conn, facts);
  };
  if (std::optional<Idle> idle = Take(key)) {
    auto store = std::make_unique<PgStore>(idle->conn, options, give_back);
    const Status ready = store->Init(idle->facts ? &*idle->facts : nullptr);
    if (ready.ok()) return ledger::StorePtr(std::move(store));
    if (!store->Lost()) return ready;
    // The server closed the session while it was idle (a restart): open a new one.
  }
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  auto store = std::make_unique<PgStore>(conn, options, give_back);
  TM_RETURN_IF_ERROR(store->Init(nullptr));
  return ledger::StorePtr(std::move(store));
}

std::optional<SessionPool::Idle> SessionPool::Take(const std::string& key) {
  while (true) {
    std::optional<Idle> taken;
    {
      std::lock_guard lock(mutex_);
      // The most recently used first: its catalogue cache is the warmest.
      const auto found = std::find_if(idle_.rbegin(), idle_.rend(),
                                      [&](const Idle& session) { return session.key == key; });
      if (found == idle_.rend()) return std::nullopt;
      taken = std::move(*found);
      idle_.erase(std::next(found).base());
    }
    // The reset's answers, long arrived unless the server closed the session meanwhile (or
    // vanished: hence the bound on the wait).
    const std::vector<ResultPtr> reset =
        ReceivePipeline(taken->conn, taken->unanswered, Clock::now() + kResetAnswerWait);
    if (std::all_of(reset.begin(), reset.end(),
                    [](const ResultPtr& result) { return result && Succeeded(result.get()); }) &&
        PQstatus(taken->conn) == CONNECTION_OK) {
      return taken;
    }
    PQfinish(taken->conn);
  }
}

void SessionPool::GiveBack(const std::string& key, PGconn* conn, const LedgerFacts* facts) {
  // DISCARD ALL (what connection poolers run) drops the session's settings, advisory locks
  // and temporary objects, so the next user starts as on a new session; the search_path of
  // the ledger it served is set again, for a next store of the same ledger. Sent now, so
  // that the locks go at once; answered to the next Take, so that no one waits for it. A
  // session in the middle of a transaction or with an error is not worth keeping.
  std::vector<Query> reset = {{"DISCARD ALL", {}}};
  if (facts) {
    reset.push_back({"SELECT set_config('search_path', quote_ident($1), false)", {facts->schema}});
  }
  const bool clean = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE &&
                     max_idle_total_ > 0 && SendPipeline(conn, reset);
  std::vector<PGconn*> closing;
  {
    std::lock_guard lock(mutex_);
    const auto same_key = std::count_if(idle_.begin(), idle_.end(),
                                        [&](const Idle& session) { return session.key == key; });
    if (clean && static_cast<size_t>(same_key) < kMaxIdlePerDatabase) {
      while (idle_.size() >= max_idle_total_) {  // the least recently used make room
        closing.push_back(idle_.front().conn);
        idle_.erase(idle_.begin());
      }
      idle_.push_back({key, conn, std::chrono::steady_clock::now(),
                       facts ? std::optional<LedgerFacts>(*facts) : std::nullopt, reset.size()});
    } else {
      closing.push_back(conn);
    }
  }
  for (PGconn* session : closing) PQfinish(session);
}

}  // namespace tidemark::postgres
