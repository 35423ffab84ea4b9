#include "kube/config_files.h"

#include <algorithm>
#include <cctype>

#include "base/files.h"

namespace tidemark::kube {

Result<std::string> ReadFile(const std::string& path, const std::string& what, size_t max_bytes) {
  auto text = ReadFileUpTo(path, max_bytes);
  if (text.ok()) return text;
  if (text.status().code() == StatusCode::kNotFound) {
    return Status::NotFound(what + ": " + text.status().message());
  }
  return Status::InvalidArgument(what + ": " + text.status().message() +
                                 " such a file may; point it at the right file");
}

std::string Trim(std::string text) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

}  // namespace tidemark::kube
