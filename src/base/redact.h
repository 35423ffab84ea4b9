// Keeps secrets out of logs, status, events and metrics (SPEC 5).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tidemark {

// Replaces the password in a libpq connection string, in both forms:
// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db" and
// "host=h password=secret" -> "host=h password=***". Everything else is kept.
std::string RedactDsn(std::string_view dsn);

// `text` with every occurrence of each of `secrets` (the values a run was given as secrets:
// the password it connected with, values from Secrets) replaced by "***". Empty ones are
// skipped.
std::string RedactValues(std::string text, const std::vector<std::string>& secrets);

}  // namespace tidemark
