// Base64 (RFC 4648) for the test API server: Secret data and continue tokens.
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tidemark::testing {

std::string Base64Encode(std::string_view in);
// Accepts the standard and the URL-safe alphabet, with or without padding; nullopt when
// `in` holds other characters.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace tidemark::testing
