#include "base/files.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/text.h"

namespace tidemark {

Result<std::string> ReadFileUpTo(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  // In chunks, so that a small file costs a small buffer and a long one stops at the bound.
  std::string text;
  char chunk[16 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      return Status::InvalidArgument(path + " holds more than the " + GroupThousands(max_bytes) +
                                     " bytes");
    }
  }
  if (in.bad()) return Status::NotFound("cannot read " + path + ": " + std::strerror(errno));
  return text;
}

}  // namespace tidemark
