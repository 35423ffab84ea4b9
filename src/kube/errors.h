// Maps the API server's answers to tidemark Status codes: 404 NotFound, 409 Conflict (or
// AlreadyExists on create), 410 Gone, 415 Unsupported, 422 InvalidArgument, 5xx and
// connection failures Unavailable, timeouts DeadlineExceeded. The message keeps what was
// asked and the server's own Status message. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"

namespace tidemark::kube {

// `what` says what was asked ("create leases kube-system/tidemark"); `body` is the reply,
// usually a Kubernetes Status object. `creating`: a 409 means AlreadyExists.
Status StatusFromHttp(int http_code, std::string_view body, std::string_view what,
                      bool creating = false);

// The same for a Status object carried by a watch ERROR event.
Status StatusFromApiStatus(const nlohmann::json& status, std::string_view what);

}  // namespace tidemark::kube
