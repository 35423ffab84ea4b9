// `tidemark wait`: the gate of an init container. It exits 0 once the awaited steps are in
// the ledger, 1 at the timeout naming what is still missing, 2 on bad input. It needs only
// SELECT on the ledger tables and no Kubernetes access: it LISTENs on the ledger's NOTIFY
// channel (postgres::LedgerChannel) and looks again on each notification, on a slow timer
// (ledgers that Django itself changes send none) and after a reconnect.
#pragma once

#include <string>
#include <vector>

#include "cli/common.h"

namespace tidemark::cli {

struct WaitFlags {
  std::vector<std::string> steps;  // --for APP.NAME
  std::vector<std::string> files;  // -f: the plan whose pre-deploy steps are awaited
  std::string timeout = "10m";
  std::string schema = "public";  // without -f: where the ledger is
  std::string ledger_table = "django_migrations";
};

// `common` gives --database (or DATABASE_URL), --plan and the log level.
int RunWait(const CommonOptions& common, const WaitFlags& flags);

}  // namespace tidemark::cli
