#include "runtime/work_queue.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>
#include <vector>

namespace tidemark::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class WorkQueueTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  WorkQueue queue_{WorkQueueOptions{BackoffPolicy::Reconcile(), &clock_}};
};

TEST_F(WorkQueueTest, KeysComeOutInOrderAndOnceHoweverOftenAdded) {
  queue_.Add("ns/a");
  queue_.Add("ns/b");
  queue_.Add("ns/a");
  EXPECT_EQ(queue_.Len(), 2u);
  EXPECT_EQ(queue_.Get(), "ns/a");
  EXPECT_EQ(queue_.Get(), "ns/b");
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, AKeyAddedWhileProcessingWaitsUntilDone) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Add("ns/a");  // a change arrives while a worker reconciles ns/a
  queue_.Add("ns/a");
  EXPECT_EQ(queue_.Len(), 0u);  // no second worker may take it now
  queue_.Done("ns/a");
  EXPECT_EQ(queue_.Len(), 1u);  // back once, for the changes it missed
  EXPECT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, RateLimitedDelaysDoubleUntilForget) {
  queue_.AddRateLimited("ns/a");  // 5 ms
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 1u);
  clock_.Advance(milliseconds(4));
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(queue_.Len(), 1u);
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");

  queue_.AddRateLimited("ns/a");  // 10 ms
  clock_.Advance(milliseconds(9));
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(queue_.Len(), 1u);
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");

  // Thirty failures in a row: the pending 5 ms wake-up is the earliest and wins...
  for (int i = 0; i < 30; ++i) queue_.AddRateLimited("ns/b");
  clock_.Advance(milliseconds(5));
  ASSERT_EQ(queue_.Get(), "ns/b");
  queue_.Done("ns/b");
  // ...but the next failure waits the cap, 5 minutes.
  queue_.AddRateLimited("ns/b");
  EXPECT_EQ(queue_.NumRequeues("ns/b"), 31u);
  clock_.Advance(milliseconds(299'999));
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(queue_.Len(), 1u);

  queue_.Forget("ns/a");
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 0u);
  queue_.AddRateLimited("ns/a");  // back to 5 ms
  clock_.Advance(milliseconds(5));
  EXPECT_EQ(queue_.Len(), 2u);
}

TEST_F(WorkQueueTest, AddAfterKeepsTheEarliestTime) {
  queue_.AddAfter("ns/a", seconds(10));
  queue_.AddAfter("ns/a", seconds(2));
  queue_.AddAfter("ns/a", seconds(20));
  clock_.Advance(milliseconds(1999));
  EXPECT_EQ(queue_.Len(), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(queue_.Len(), 1u);
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");
  clock_.Advance(seconds(30));
  EXPECT_EQ(queue_.Len(), 0u);  // the later requests were folded into the first
  queue_.AddAfter("ns/b", seconds(0));
  EXPECT_EQ(queue_.Len(), 1u);  // no delay: at once
}

TEST_F(WorkQueueTest, AWaitingWorkerGetsADelayedKeyWhenTheClockReachesIt) {
  queue_.AddAfter("ns/a", seconds(30));
  std::future<std::optional<std::string>> worker =
      std::async(std::launch::async, [this] { return queue_.Get(); });
  clock_.Advance(seconds(30));
  EXPECT_EQ(worker.get(), "ns/a");
}

TEST_F(WorkQueueTest, ShutDownWakesEveryWorkerAndDropsLaterAdds) {
  std::vector<std::future<std::optional<std::string>>> workers;
  for (int i = 0; i < 3; ++i) {
    workers.push_back(std::async(std::launch::async, [this] { return queue_.Get(); }));
  }
  queue_.ShutDown();
  for (auto& worker : workers) EXPECT_EQ(worker.get(), std::nullopt);
  EXPECT_TRUE(queue_.ShuttingDown());
  queue_.Add("ns/a");
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_EQ(queue_.Get(), std::nullopt);
}

// Many workers, few keys, many adds: no key is ever held by two workers, and every key
// added is processed after its last add.
TEST(WorkQueueConcurrencyTest, NoKeyIsProcessedByTwoWorkersAtOnce) {
  WorkQueue queue;
  std::mutex mutex;
  std::set<std::string> in_flight;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue.Get()) {
        {
          std::lock_guard lock(mutex);
          if (!in_flight.insert(*key).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mutex);
          in_flight.erase(*key);
        }
        ++processed;
        queue.Done(*key);
      }
    });
  }
  for (int i = 0; i < 5000; ++i) queue.Add("ns/k" + std::to_string(i % 7));
  // Wait until the queue is drained and idle, then stop.
  while (true) {
    {
      std::lock_guard lock(mutex);
      if (queue.Len() == 0 && in_flight.empty()) break;
    }
    std::this_thread::yield();
  }
  queue.ShutDown();
  for (auto& worker : workers) worker.join();
  EXPECT_FALSE(overlap);
  EXPECT_GE(processed.load(), 7);
}

}  // namespace
}  // namespace tidemark::runtime
