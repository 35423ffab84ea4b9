#include "base/text.h"

namespace tidemark {
namespace {

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The length of the well-formed sequence at `text[at]`, or 0 when it is ill-formed; `*bad`
// is then the length of its maximal ill-formed part (at least 1).
size_t SequenceAt(std::string_view text, size_t at, size_t* bad) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  *bad = 1;
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;  // the range of the second byte (Unicode table 3-7)
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  for (size_t i = 1; i < length; ++i) {
    if (at + i >= text.size()) return 0;
    const unsigned char next = byte(i);
    const bool fits = i == 1 ? next >= low && next <= high : IsContinuation(next);
    if (!fits) return 0;
    *bad = i + 1;
  }
  return length;
}

template <typename Json>
std::string Dump(const Json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string Truncate(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  if (max_bytes < kEllipsis.size()) return std::string(kEllipsis.substr(0, max_bytes));
  size_t end = max_bytes - kEllipsis.size();
  // Back over the continuation bytes of the character that does not fit (at most 3).
  for (int i = 0; i < 3 && end > 0 && IsContinuation(static_cast<unsigned char>(text[end])); ++i) {
    --end;
  }
  std::string out(text.substr(0, end));
  out.append(kEllipsis);
  return out;
}

std::string Printable(std::string_view text, size_t max_bytes) {
  return Truncate(ToValidUtf8(text), max_bytes);
}

std::optional<size_t> FirstInvalidUtf8(std::string_view text) {
  size_t bad = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t length = SequenceAt(text, at, &bad);
    if (length == 0) return at;
    at += length;
  }
  return std::nullopt;
}

std::string ToValidUtf8(std::string_view text) {
  if (!FirstInvalidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  size_t bad = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t length = SequenceAt(text, at, &bad);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      at += bad;
    } else {
      out.append(text, at, length);
      at += length;
    }
  }
  return out;
}

std::string DumpJson(const nlohmann::json& value, int indent) { return Dump(value, indent); }
std::string DumpJson(const nlohmann::ordered_json& value, int indent) {
  return Dump(value, indent);
}

std::string ListSome(const std::vector<std::string>& items, size_t shown,
                     std::string_view separator) {
  std::string out;
  const size_t listed = items.size() <= shown + 1 ? items.size() : shown;
  for (size_t i = 0; i < listed; ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  if (listed < items.size()) out += " and " + GroupThousands(items.size() - listed) + " more";
  return out;
}

std::string GroupThousands(size_t number) {
  const std::string digits = std::to_string(number);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace tidemark
