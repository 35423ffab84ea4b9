// Opening sessions: Connect, and the SessionPool that keeps them open between uses.
#include <libpq-fe.h>

#include <algorithm>

#include "base/redact.h"
#include "postgres/pg_store.h"
#include "postgres/pg_store_impl.h"
#include "postgres/session.h"

namespace tidemark::postgres {
namespace {

// libpq's message with what it quotes masked (but the "=" it says is missing): it quotes
// the part of a connection string it stopped at, which may be the password.
std::string MaskQuoted(const std::string& message) {
  std::string out;
  for (size_t at = 0; at < message.size();) {
    const size_t open = message.find('"', at);
    const size_t close = open == std::string::npos ? open : message.find('"', open + 1);
    if (close == std::string::npos) {
      out += message.substr(at);
      break;
    }
    const std::string quoted = message.substr(open + 1, close - open - 1);
    out += message.substr(at, open - at) + '"' + (quoted == "=" ? quoted : "***") + '"';
    at = close + 1;
  }
  return out;
}

// A connection string libpq cannot parse is refused before connecting, and neither it nor
// what libpq quotes of it is shown: RedactDsn cannot find the password in a string that is
// not well formed (`password=two words` unquoted).
Status CheckConnectionString(const ConnectionParams& params) {
  for (const auto& [key, value] : params.keywords) {
    const bool expanded = value.find('=') != std::string::npos ||
                          value.starts_with("postgresql://") || value.starts_with("postgres://");
    if (key != "dbname" || !expanded) continue;  // libpq's rule for expand_dbname
    char* error = nullptr;
    if (PQconninfoOption* parsed = PQconninfoParse(value.c_str(), &error)) {
      PQconninfoFree(parsed);
      continue;
    }
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    return Status::InvalidArgument("the connection string is not valid: " + MaskQuoted(message) +
                                   "; fix spec.database.dsn (or --database, DATABASE_URL)");
  }
  return Status::Ok();
}

// Where a session goes, for messages: "host:port/dbname as user" (a unix socket's folder
// as the host), as libpq resolved it from every source (the DSN, the fields, PG*
// variables, defaults); never the password, nor the connection string.
std::string Target(PGconn* conn) {
  auto field = [](const char* value) { return std::string(value != nullptr ? value : ""); };
  return field(PQhost(conn)) + ":" + field(PQport(conn)) + "/" + field(PQdb(conn)) + " as " +
         field(PQuser(conn));
}

// A session that did not open: libpq's message (the password masked, should the server or
// libpq quote it) after where it went, and for a refused login what to fix.
Status ConnectionFailure(PGconn* conn) {
  const char* password = PQpass(conn);
  std::string message = RedactValues(PQerrorMessage(conn), {password != nullptr ? password : ""});
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string failure = "cannot connect to " + Target(conn) + ": " + message;
  if (message.find("authentication failed") != std::string::npos ||
      message.find("no password supplied") != std::string::npos) {
    failure +=
        "; the server refused the login: check the user and the password given"
        " (spec.database.password or passwordFrom, the DSN's password, or ~/.pgpass)"
        " and that the role may log in";
  }
  return Status::Unavailable(std::move(failure));
}

}  // namespace

Result<PGconn*> OpenSession(const ConnectionParams& params, const ConnectOptions& options) {
  TM_RETURN_IF_ERROR(CheckConnectionString(params));
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
    Status failed = ConnectionFailure(conn);
    PQfinish(conn);
    return failed;
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
