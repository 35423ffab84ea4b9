#include "kube/errors.h"

#include <string>

#include "base/text.h"

namespace tidemark::kube {
namespace {

StatusCode CodeFor(int http_code, std::string_view reason, bool creating) {
  if (reason == "AlreadyExists") return StatusCode::kAlreadyExists;
  if (reason == "Expired" || reason == "Gone") return StatusCode::kGone;
  if (reason == "Timeout") return StatusCode::kDeadlineExceeded;
  switch (http_code) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kFailedPrecondition;  // credentials or RBAC must change
    case 404:
      return StatusCode::kNotFound;
    case 405:
    case 415:
      return StatusCode::kUnsupported;
    case 409:
      return creating ? StatusCode::kAlreadyExists : StatusCode::kConflict;
    case 410:
      return StatusCode::kGone;
    case 422:
      return StatusCode::kInvalidArgument;
    case 429:
      return StatusCode::kUnavailable;  // throttled: come back later
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 500) return StatusCode::kUnavailable;
  return StatusCode::kInternal;
}

}  // namespace

Status StatusFromHttp(int http_code, std::string_view body, std::string_view what, bool creating) {
  std::string reason;
  std::string message;
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.value("kind", "") == "Status") {
    reason = parsed.value("reason", "");
    message = parsed.value("message", "");
  } else {
    message = Truncate(body, 200);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  std::string text = std::string(what) + ": HTTP " + std::to_string(http_code);
  if (!message.empty()) text += ": " + message;
  return Status(CodeFor(http_code, reason, creating), std::move(text));
}

Status StatusFromApiStatus(const nlohmann::json& status, std::string_view what) {
  if (!status.is_object()) {
    return Status::Internal(std::string(what) + ": an ERROR event without a Status object");
  }
  const nlohmann::json code = status.value("code", nlohmann::json());
  const int http_code = code.is_number_integer() ? code.get<int>() : 500;
  return StatusFromHttp(http_code, DumpJson(status), what);
}

}  // namespace tidemark::kube
