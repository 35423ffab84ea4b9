#include "kube/watch_decoder.h"

#include "base/text.h"
#include "kube/errors.h"

namespace tidemark::kube {

const char* WatchEventTypeName(WatchEvent::Type type) {
  switch (type) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

Status WatchDecoder::Feed(std::string_view chunk, std::vector<WatchEvent>* out) {
  pending_.append(chunk);
  size_t start = 0;
  for (size_t newline; (newline = pending_.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    const Status status =
        DecodeLine(std::string_view(pending_).substr(start, newline - start), out);
    if (!status.ok()) return status;
  }
  pending_.erase(0, start);
  return Status::Ok();
}

Status WatchDecoder::Finish(std::vector<WatchEvent>* out) {
  const std::string rest = std::move(pending_);
  pending_.clear();
  return DecodeLine(rest, out);
}

Status WatchDecoder::DecodeLine(std::string_view line, std::vector<WatchEvent>* out) const {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return Status::Ok();
  nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
      !event.contains("object")) {
    return Status::Internal(
        what_ + ": the server sent a line that is not a watch event: " + Truncate(line, 200));
  }
  const std::string type = event["type"].get<std::string>();
  WatchEvent decoded;
  if (type == "ADDED")
    decoded.type = WatchEvent::Type::kAdded;
  else if (type == "MODIFIED")
    decoded.type = WatchEvent::Type::kModified;
  else if (type == "DELETED")
    decoded.type = WatchEvent::Type::kDeleted;
  else if (type == "BOOKMARK")
    decoded.type = WatchEvent::Type::kBookmark;
  else if (type == "ERROR")
    return StatusFromApiStatus(event["object"], what_);
  else
    return Status::Internal(what_ + ": unknown watch event type \"" + type + "\"");
  decoded.object = std::move(event["object"]);
  out->push_back(std::move(decoded));
  return Status::Ok();
}

}  // namespace tidemark::kube
