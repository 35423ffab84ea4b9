// Status and Result<T>: how every layer reports failure without exceptions.
//
// Library exceptions (yaml-cpp, nlohmann-json, prometheus-cpp) are caught at the adapter
// that calls the library and become a Status. A Status carries a code that tells the caller
// whether retrying can help (see IsRetryable) and a message written for the user.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tidemark {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // bad input from the user: fix the input, retrying cannot help
  kNotFound,            // a named thing does not exist (HTTP 404, missing Secret key)
  kAlreadyExists,       // HTTP 409 on create
  kConflict,            // stale write (HTTP 409 on update)
  kGone,                // resourceVersion too old (HTTP 410): re-list
  kUnsupported,         // HTTP 415, unsupported feature
  kFailedPrecondition,  // the world is not in the state the operation needs
  kUnavailable,         // network, database or server down: retry later
  kDeadlineExceeded,    // a timeout: retry later
  kCancelled,           // shutdown in progress
  kInternal,            // a bug or an unexpected answer
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Gone(std::string m) { return {StatusCode::kGone, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Unavailable: connection refused"; "OK" when ok.
  std::string ToString() const;
  // True for failures that may go away by themselves (network, timeouts, 5xx, conflicts).
  bool IsRetryable() const;
  // Prefixes the message with context: "loading plan.yaml: " + message.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result built from a Status must be an error");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace tidemark

// Returns early from the enclosing function when `expr` yields an error Status.
#define TM_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::tidemark::Status tm_status_ = (expr);  \
    if (!tm_status_.ok()) return tm_status_; \
  } while (0)

#define TM_CONCAT_INNER(a, b) a##b
#define TM_CONCAT(a, b) TM_CONCAT_INNER(a, b)
// `TM_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from the Result or returns its Status.
#define TM_ASSIGN_OR_RETURN(lhs, expr)                                                        \
  auto TM_CONCAT(tm_result_, __LINE__) = (expr);                                              \
  if (!TM_CONCAT(tm_result_, __LINE__).ok()) return TM_CONCAT(tm_result_, __LINE__).status(); \
  lhs = std::move(TM_CONCAT(tm_result_, __LINE__)).value()
