#include "base/redact.h"

#include <regex>

namespace tidemark {

std::string RedactDsn(std::string_view dsn) {
  // URI form: scheme://user:password@...
  static const std::regex kUriPassword(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@]*@)");
  // key=value form: password=value or password='quoted value' (libpq quoting rules).
  static const std::regex kKeywordPassword(R"((^|\s)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))",
                                           std::regex::icase);
  // password given as a URI query parameter.
  static const std::regex kQueryPassword(R"(([?&]password=)[^&]*)", std::regex::icase);
  std::string out(dsn);
  out = std::regex_replace(out, kUriPassword, "$1:***@");
  out = std::regex_replace(out, kKeywordPassword, "$1$2***");
  out = std::regex_replace(out, kQueryPassword, "$1***");
  return out;
}

std::string RedactValues(std::string text, const std::vector<std::string>& secrets) {
  static constexpr std::string_view kMask = "***";
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + kMask.size())) {
      text.replace(at, secret.size(), kMask);
    }
  }
  return text;
}

}  // namespace tidemark
