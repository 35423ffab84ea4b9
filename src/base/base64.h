// Base64 (RFC 4648, standard alphabet, padded) through nettle: Secret data, kubeconfig
// certificates, continue tokens.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace tidemark {

std::string Base64Encode(std::string_view data);
// White space (kubectl wraps long values) is ignored and missing padding is supplied (some
// kubeconfig writers leave it out); anything else invalid is an error.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace tidemark
