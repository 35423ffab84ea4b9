// A step's SQL script, split into statements with their parse trees, as lint and the
// step executors read it.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_checks.h"
#include "sql/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tidemark;
  const std::string script(reinterpret_cast<const char*>(data), size);
  auto statements = sql::Parse(script, /*with_trees=*/true);
  if (!statements.ok()) {
    fuzz::CheckMessage(statements.status());
    return 0;
  }
  for (const sql::Statement& statement : *statements) {
    if (statement.text.size() > script.size()) std::abort();  // a statement is part of the script
  }
  return 0;
}
