// The ledger on PostgreSQL through libpq: Django's django_migrations table, the
// tidemark_history audit table, and the session advisory lock.
//
// Lock key (documented so that other tools can take the same lock): the first 64 bits of
// sha256("tidemark:" || current_database() || ":" || schema || ":" || ledger table),
// read as a signed big-endian bigint:
//   SELECT ('x' || left(encode(sha256(convert_to('tidemark:' || current_database() || ':'
//          || 'public' || ':' || 'django_migrations', 'UTF8')), 'hex'), 16))::bit(64)::bigint;
// Unrelated schemas and ledgers get different keys, so they never block each other.
//
// Every ledger change tidemark commits (a step applied, reverted, faked or resolved) also
// sends NOTIFY on the channel "tidemark_<lock key>" (LedgerChannel) in the same
// transaction, so a listener hears of it exactly when the rows are visible.
//
// This is the public face of src/postgres; the store itself is in pg_store_impl.h (its
// ledger SQL in ledger_sql.cc, its step runs in step_runs.cc), libpq helpers in session.h,
// Connect and the pool in session_pool.cc.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "ledger/store.h"
#include "plan/model.h"
#include "postgres/connection.h"

struct pg_conn;  // libpq's PGconn

namespace tidemark::postgres {

struct ConnectOptions {
  std::string schema = "public";
  plan::LedgerSpec ledger;
  std::string application_name = "tidemark";
  int connect_timeout_seconds = 10;
};

// What a store learnt about its ledger on a session that stays true for the session's
// life; a pooled session keeps it for the next store of the same ledger.
struct LedgerFacts {
  std::string schema;
  std::string ledger_table;
  std::string history_table;
  std::string database;
  std::string lock_key;
  std::string server_pid;  // pg_backend_pid() as the session first answered it
};

// Opens a session. Unavailable (with the server's message, never the password) when the
// database cannot be reached.
Result<ledger::StorePtr> Connect(const ConnectionParams& params, const ConnectOptions& options);

// Sessions kept open between uses, for the controller, which reconciles thousands of plans
// over a few databases: a new session costs the server a process and a cold catalogue
// (several ms of its CPU, more than a reconcile with nothing to do on a warm one).
// A returned session is reset with DISCARD ALL (settings, advisory locks, temporary
// objects), sent at once and answered to the next user. At most `max_idle_total` sessions wait (the
// least recently used is closed first; a database server's connection slots are shared with the
// application), at most `kMaxIdlePerDatabase` per database (plans sharing a ledger take turns
// anyway), none longer than `max_idle`. A session the server closed meanwhile is noticed and
// replaced. Thread-safe; stores from Connect must not outlive the pool.
class SessionPool {
 public:
  static constexpr size_t kMaxIdlePerDatabase = 2;

  SessionPool(std::chrono::seconds max_idle, size_t max_idle_total);
  ~SessionPool();

  // As Connect above, reusing an idle session to the same database and role when one is left.
  Result<ledger::StorePtr> Connect(const ConnectionParams& params, const ConnectOptions& options);
  size_t IdleCount() const;

 private:
  // How long a taken session may take to answer its reset before it is given up.
  static constexpr std::chrono::seconds kResetAnswerWait{5};

  struct Idle {
    std::string key;  // every connection parameter
    pg_conn* conn;
    std::chrono::steady_clock::time_point since;
    std::optional<LedgerFacts> facts;  // of the ledger it served last
    size_t unanswered;                 // reset queries sent, their answers not yet read
  };
  std::optional<Idle> Take(const std::string& key);
  void GiveBack(const std::string& key, pg_conn* conn, const LedgerFacts* facts);

  const std::chrono::seconds max_idle_;
  const size_t max_idle_total_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::vector<Idle> idle_;  // guarded by mutex_; oldest first
  std::jthread reaper_;     // closes sessions idle for max_idle_
};

// The SQL expression computing the lock key for a schema and ledger table.
std::string LockKeySql();

// The NOTIFY channel of the ledger whose advisory lock key is `lock_key`.
std::string LedgerChannel(const std::string& lock_key);

// A session that LISTENs on one ledger's channel, for `tidemark wait`: it reads the ledger
// (SELECT on the ledger tables is all it needs) and sleeps in poll() until a notification
// or the timeout. Not thread-safe; one user.
class LedgerListener {
 public:
  // Connects, learns the ledger's lock key and LISTENs. Unavailable (never the password)
  // when the database cannot be reached.
  static Result<std::unique_ptr<LedgerListener>> Open(const ConnectionParams& params,
                                                      const ConnectOptions& options);
  ~LedgerListener();
  LedgerListener(const LedgerListener&) = delete;
  LedgerListener& operator=(const LedgerListener&) = delete;

  // A store on this session for read-only use (no lock, no writes); it borrows the
  // session and must not outlive the listener.
  Result<ledger::StorePtr> Store();
  // Up to `timeout` for a notification: true once one came (every queued one consumed),
  // false at the timeout; Unavailable when the session is lost.
  Result<bool> Await(std::chrono::milliseconds timeout);
  const std::string& channel() const { return channel_; }

 private:
  LedgerListener(pg_conn* conn, ConnectOptions options) : conn_(conn), options_(options) {}
  bool TakeNotifications();

  pg_conn* conn_;
  ConnectOptions options_;
  LedgerFacts facts_;
  std::string channel_;
};

}  // namespace tidemark::postgres
