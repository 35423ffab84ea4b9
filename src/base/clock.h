// Time as the controller sees it: a Clock interface so that delays, leases and token
// expiry can be tested on a fake clock instead of by sleeping.
//
// Two readings: Now() is monotonic (delays, deadlines, lease observation) and WallNow() is
// calendar time (timestamps written to the API server). SystemClock() is the real one;
// FakeClock moves only when a test calls Advance(). Every call on both is thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tidemark {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;

  virtual MonoTime Now() const = 0;
  virtual WallTime WallNow() const = 0;

  // Sleeps until `deadline`; returns false at once when `stop` is requested first.
  virtual bool SleepUntil(MonoTime deadline, std::stop_token stop) const = 0;
  bool SleepFor(std::chrono::nanoseconds delay, std::stop_token stop) const {
    return SleepUntil(Now() + delay, std::move(stop));
  }

  // Waits on `cv` (with `lock` held, as std::condition_variable::wait_until) until notified
  // or `deadline` passes on this clock. May return early: callers re-check their condition.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         MonoTime deadline) const = 0;
};

// The process-wide real clock.
const Clock& SystemClock();

// A clock for tests: starts at an arbitrary fixed instant and moves only on Advance().
class FakeClock : public Clock {
 public:
  FakeClock();

  MonoTime Now() const override;
  WallTime WallNow() const override;
  bool SleepUntil(MonoTime deadline, std::stop_token stop) const override;
  // Polls every millisecond of real time, since Advance() cannot reach a foreign `cv`.
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 MonoTime deadline) const override;

  // Moves both readings forward and wakes the sleepers whose deadline has come.
  void Advance(std::chrono::nanoseconds delta);

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable_any advanced_;
  MonoTime now_;   // guarded by mutex_
  WallTime wall_;  // guarded by mutex_
};

// "2026-11-25T08:30:46.123456Z": the MicroTime format of Kubernetes (leases, events).
std::string FormatRfc3339Micro(WallTime time);
// "2026-11-25T08:30:46Z": the Time format of Kubernetes (conditions, creationTimestamp).
std::string FormatRfc3339(WallTime time);
// Parses RFC 3339 with any number of fractional digits and a "Z" or "+hh:mm" offset.
Result<WallTime> ParseRfc3339(std::string_view text);

}  // namespace tidemark
