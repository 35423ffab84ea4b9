#include "base/clock.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <thread>

namespace tidemark {
namespace {

class RealClock : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }

  bool SleepUntil(MonoTime deadline, std::stop_token stop) const override {
    std::mutex mutex;
    std::condition_variable_any cv;
    std::unique_lock lock(mutex);
    cv.wait_until(lock, stop, deadline, [] { return false; });
    return !stop.stop_requested();
  }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 MonoTime deadline) const override {
    cv.wait_until(lock, deadline);
  }
};

std::string Format(WallTime time, bool micros) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch());
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto fraction = since_epoch - seconds;
  if (fraction.count() < 0) {  // times before 1970 round toward the past
    seconds -= std::chrono::seconds(1);
    fraction += std::chrono::seconds(1);
  }
  const std::time_t whole = seconds.count();
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char buffer[64];
  const int n =
      std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
  std::string text(buffer, static_cast<size_t>(n));
  if (micros) {
    std::snprintf(buffer, sizeof buffer, ".%06lld", static_cast<long long>(fraction.count()));
    text += buffer;
  }
  return text + "Z";
}

// Reads exactly `digits` decimal digits at `*pos`.
bool ReadNumber(std::string_view text, size_t* pos, int digits, int* out) {
  if (*pos + static_cast<size_t>(digits) > text.size()) return false;
  int value = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = text[*pos + static_cast<size_t>(i)];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    value = value * 10 + (c - '0');
  }
  *pos += static_cast<size_t>(digits);
  *out = value;
  return true;
}

bool Expect(std::string_view text, size_t* pos, std::string_view choices) {
  if (*pos >= text.size() || choices.find(text[*pos]) == std::string_view::npos) return false;
  ++*pos;
  return true;
}

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

FakeClock::FakeClock()
    : now_(MonoTime(std::chrono::hours(1000))),
      wall_(WallTime(std::chrono::seconds(1'800'000'000))) {}  // 2027-01-15T08:00:00Z

MonoTime FakeClock::Now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

WallTime FakeClock::WallNow() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

bool FakeClock::SleepUntil(MonoTime deadline, std::stop_token stop) const {
  std::unique_lock lock(mutex_);
  advanced_.wait(lock, stop, [&] { return now_ >= deadline; });
  return !stop.stop_requested();
}

void FakeClock::WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          MonoTime deadline) const {
  if (Now() >= deadline) return;
  cv.wait_for(lock, std::chrono::milliseconds(1));
}

void FakeClock::Advance(std::chrono::nanoseconds delta) {
  {
    std::lock_guard lock(mutex_);
    now_ += delta;
    wall_ += std::chrono::duration_cast<WallTime::duration>(delta);
  }
  advanced_.notify_all();
}

std::string FormatRfc3339Micro(WallTime time) { return Format(time, true); }
std::string FormatRfc3339(WallTime time) { return Format(time, false); }

Result<WallTime> ParseRfc3339(std::string_view text) {
  const auto invalid = [&] {
    return Status::InvalidArgument("not an RFC 3339 time: \"" + std::string(text) + "\"");
  };
  size_t pos = 0;
  std::tm parts{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadNumber(text, &pos, 4, &year) || !Expect(text, &pos, "-") ||
      !ReadNumber(text, &pos, 2, &month) || !Expect(text, &pos, "-") ||
      !ReadNumber(text, &pos, 2, &day) || !Expect(text, &pos, "Tt ") ||
      !ReadNumber(text, &pos, 2, &hour) || !Expect(text, &pos, ":") ||
      !ReadNumber(text, &pos, 2, &minute) || !Expect(text, &pos, ":") ||
      !ReadNumber(text, &pos, 2, &second)) {
    return invalid();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return invalid();
  }
  std::chrono::nanoseconds fraction(0);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000;
    const size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      fraction += std::chrono::nanoseconds((text[pos] - '0') * scale);
      scale /= 10;
      ++pos;
    }
    if (pos == start) return invalid();
  }
  int offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours = 0, offset_minutes = 0;
    if (!ReadNumber(text, &pos, 2, &offset_hours) || !Expect(text, &pos, ":") ||
        !ReadNumber(text, &pos, 2, &offset_minutes)) {
      return invalid();
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return invalid();
  }
  if (pos != text.size()) return invalid();
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::time_t utc = timegm(&parts) - offset_seconds;
  return WallTime(std::chrono::seconds(utc)) +
         std::chrono::duration_cast<WallTime::duration>(fraction);
}

}  // namespace tidemark
