// A private temporary directory for one test, removed with everything in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tidemark::testing {

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/tidemark-kube-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name (mode 0755 when executable) and returns the full path.
  std::string Write(const std::string& name, const std::string& content,
                    bool executable = false) const {
    const std::string file = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(file).parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    if (executable) {
      std::filesystem::permissions(file, std::filesystem::perms::owner_all |
                                             std::filesystem::perms::group_read |
                                             std::filesystem::perms::group_exec);
    }
    return file;
  }

 private:
  std::string path_;
};

}  // namespace tidemark::testing
