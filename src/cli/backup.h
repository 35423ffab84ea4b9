// `tidemark apply --backup FILE`: a pg_dump of the plan's database in the custom format
// (pg_restore reads it), taken under the ledger's lock once every rule has passed and before
// the first change, as engine::Options::before_first_change.
#pragma once

#include <iosfwd>
#include <string>

#include "base/status.h"
#include "plan/model.h"
#include "resource/objects.h"

namespace tidemark::cli {

// Runs `pg_dump --format=custom --file=FILE` with the plan's connection handed over in
// libpq's environment variables (the password never on a command line), saying on
// `progress` what it does. On failure the partial file is removed and the Status says why,
// with the end of pg_dump's output.
Status BackUpDatabase(const plan::MigrationPlan& plan, resource::ObjectSource& objects,
                      const std::string& file, std::ostream& progress);

}  // namespace tidemark::cli
