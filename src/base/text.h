// Text that leaves tidemark (status, events, logs, command output) is valid UTF-8 and
// bounded. Every place that shortens text uses Truncate, and every JSON serialiser uses
// DumpJson, so that both rules hold in one way everywhere:
// - a cut never splits a character (limits count bytes, the cut falls before a character);
// - bytes that are not valid UTF-8 are replaced with U+FFFD, never refused, so that one bad
//   byte in a failing statement cannot throw where a status is written.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidemark {

// The longest message anything shows (metav1.Condition.message's limit): a condition, an
// error on the command line.
inline constexpr size_t kMaxMessage = 32768;

// What a cut text ends with; counted within the limit.
inline constexpr std::string_view kEllipsis = "...";

// `text` if it has at most `max_bytes` bytes; otherwise its longest start that leaves room
// for kEllipsis without splitting a character, followed by kEllipsis.
std::string Truncate(std::string_view text, size_t max_bytes);

// `text` made valid (ToValidUtf8), then cut to `max_bytes` (Truncate): what a line of
// output, a log line or a message shows of text that came from outside.
std::string Printable(std::string_view text, size_t max_bytes);

// The offset of the first byte that does not belong to a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF included), or nullopt.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

// `text` with every ill-formed sequence replaced by U+FFFD (one per maximal ill-formed part,
// as Unicode recommends and nlohmann's replace handler does).
std::string ToValidUtf8(std::string_view text);

// JSON text, with invalid UTF-8 in strings replaced by U+FFFD; indent -1 is one line.
std::string DumpJson(const nlohmann::json& value, int indent = -1);
std::string DumpJson(const nlohmann::ordered_json& value, int indent = -1);

// "a, b, c and 9,996 more": at most `shown` items joined by `separator`, then the count of
// the rest (never "and 1 more": that item is shown instead).
std::string ListSome(const std::vector<std::string>& items, size_t shown,
                     std::string_view separator = ", ");

// 9996 -> "9,996".
std::string GroupThousands(size_t number);

}  // namespace tidemark
