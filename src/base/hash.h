// SHA-256 through OpenSSL's EVP interface: the checksum of a step's SQL.
#pragma once

#include <string>
#include <string_view>

namespace tidemark {

// Lower-case hex digest, 64 characters.
std::string Sha256Hex(std::string_view data);

}  // namespace tidemark
