#include "base/text.h"
#include "ledger/store.h"

namespace tidemark::ledger {

std::string DescribeBlockers(const std::vector<Blocker>& blockers) {
  std::vector<std::string> items;
  items.reserve(blockers.size());
  for (const Blocker& blocker : blockers) {
    items.push_back("pid " + std::to_string(blocker.pid) + " (application \"" +
                    Printable(blocker.application_name, 64) + "\", " +
                    Printable(blocker.state.empty() ? "state unknown" : blocker.state, 40) +
                    ", for " + std::to_string(blocker.age.count()) + " s)");
  }
  return ListSome(items, 3);
}

}  // namespace tidemark::ledger
