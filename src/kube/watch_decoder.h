// Decodes a watch response body: newline-delimited JSON events, read in chunks that may
// end anywhere (in the middle of an event, or several events in one chunk).
//
// A WatchDecoder serves one stream and is not thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tidemark::kube {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark };
  Type type = Type::kAdded;
  nlohmann::json object;  // for kBookmark, only metadata.resourceVersion is meaningful
};

const char* WatchEventTypeName(WatchEvent::Type type);

class WatchDecoder {
 public:
  // `what` names the watch in error messages ("watch migrationplans").
  explicit WatchDecoder(std::string what) : what_(std::move(what)) {}

  // Appends `chunk` and moves every completed event to `out`. An ERROR event returns the
  // Status it carries (410 Expired: Gone); a line that is not an event returns Internal.
  // After an error the decoder must not be fed again.
  Status Feed(std::string_view chunk, std::vector<WatchEvent>* out);

  // The end of the stream: a last event without its newline still counts.
  Status Finish(std::vector<WatchEvent>* out);

 private:
  Status DecodeLine(std::string_view line, std::vector<WatchEvent>* out) const;

  const std::string what_;
  std::string pending_;  // bytes after the last newline
};

}  // namespace tidemark::kube
