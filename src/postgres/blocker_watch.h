// Which sessions block a step while it waits for a lock: a second session, opened with the
// step's own connection parameters once the step has run for a moment, asks the server
// (pg_blocking_pids) and hands the answer to a callback, on a thread of its own, until the
// step's statements are done. For src/postgres only (PgStore::Run).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ledger/store.h"

namespace tidemark::postgres {

class BlockerWatch {
 public:
  // Watches the server process of `conn` (not used by the watch: it reads its parameters
  // and pid only), asking first after `first`, then every `every`, and calls `report` from
  // its thread each time other sessions than the last reported ones block the step. A null
  // `report` watches nothing.
  BlockerWatch(PGconn* conn, ledger::BlockedCallback report,
               std::chrono::milliseconds first = std::chrono::seconds(1),
               std::chrono::milliseconds every = std::chrono::seconds(2));
  ~BlockerWatch() { Stop(); }
  BlockerWatch(const BlockerWatch&) = delete;
  BlockerWatch& operator=(const BlockerWatch&) = delete;

  // Stops the thread (its session closed) and returns the last blockers it saw, if any.
  std::vector<ledger::Blocker> Stop();

 private:
  void Watch(std::stop_token stop, const std::vector<std::pair<std::string, std::string>>& keywords,
             int pid, const ledger::BlockedCallback& report, std::chrono::milliseconds first,
             std::chrono::milliseconds every);

  std::mutex mutex_;
  std::vector<ledger::Blocker> last_;  // GUARDED_BY(mutex_)
  std::jthread thread_;                // last: stopped before the rest goes
};

}  // namespace tidemark::postgres
