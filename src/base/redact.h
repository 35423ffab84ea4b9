// Keeps secrets out of logs, status, events and metrics (SPEC 5).
#pragma once

#include <string>
#include <string_view>

namespace tidemark {

// Replaces the password in a libpq connection string, in both forms:
// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db" and
// "host=h password=secret" -> "host=h password=***". Everything else is kept.
std::string RedactDsn(std::string_view dsn);

}  // namespace tidemark
