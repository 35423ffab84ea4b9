// LedgerListener: a session that LISTENs on a ledger's channel and reads the ledger through a
// borrowing PgStore, for `tidemark wait`.
#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>

#include "postgres/pg_store.h"
#include "postgres/pg_store_impl.h"
#include "postgres/session.h"

namespace tidemark::postgres {

Result<std::unique_ptr<LedgerListener>> LedgerListener::Open(const ConnectionParams& params,
                                                             const ConnectOptions& options) {
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  std::unique_ptr<LedgerListener> listener(new LedgerListener(conn, options));
  {
    // A first store learns the database and the lock key, and sets the search_path; it
    // hands them over as it ends.
    PgStore store(conn, options, [&](PGconn*, const LedgerFacts* facts) {
      if (facts != nullptr) listener->facts_ = *facts;
    });
    TM_RETURN_IF_ERROR(store.Init(nullptr));
  }
  listener->channel_ = LedgerChannel(listener->facts_.lock_key);
  TM_RETURN_IF_ERROR(Exec(conn, "LISTEN " + QuoteIdentifier(conn, listener->channel_)).status());
  return listener;
}

LedgerListener::~LedgerListener() { PQfinish(conn_); }

Result<ledger::StorePtr> LedgerListener::Store() {
  auto store = std::make_unique<PgStore>(conn_, options_, [](PGconn*, const LedgerFacts*) {});
  TM_RETURN_IF_ERROR(store->Init(&facts_));
  return ledger::StorePtr(std::move(store));
}

bool LedgerListener::TakeNotifications() {
  bool any = false;
  while (PGnotify* notify = PQnotifies(conn_)) {
    any = true;
    PQfreemem(notify);
  }
  return any;
}

Result<bool> LedgerListener::Await(std::chrono::milliseconds timeout) {
  auto lost = [this] {
    std::string message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return Status::Unavailable("lost the connection to the database" +
                               (message.empty() ? std::string() : ": " + message));
  };
  // Notifications that came with a query's answer are already queued.
  if (TakeNotifications()) return true;
  pollfd socket{PQsocket(conn_), POLLIN, 0};
  if (socket.fd < 0) return lost();
  const int ready = poll(&socket, 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) return lost();
  if (ready <= 0) return false;
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) return lost();
  return TakeNotifications();
}

}  // namespace tidemark::postgres
