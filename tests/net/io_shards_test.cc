#include "net/io_shards.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

// Oracle: which io_context Next and ForKey return, and on which thread a
// handler posted to each shard runs.

namespace lattice::net {
namespace {

TEST(IoShardsTest, NextTakesTheShardsInTurn) {
  IoShards shards(3);
  ASSERT_EQ(shards.size(), 3u);
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(&shards.Next(), &shards.at(i));
  }
}

TEST(IoShardsTest, ForKeyIsStableAndSpreadsKeys) {
  IoShards shards(4);
  std::set<boost::asio::io_context*> used;
  for (int i = 0; i < 64; ++i) {
    const std::string key = absl::StrCat("room-", i);
    EXPECT_EQ(&shards.ForKey(key), &shards.ForKey(key));
    used.insert(&shards.ForKey(key));
  }
  EXPECT_EQ(used.size(), 4u);
}

TEST(IoShardsTest, EachShardRunsOnAThreadOfItsOwn) {
  IoShards shards(2);
  shards.Start();
  absl::Mutex mu;
  std::set<std::thread::id> threads;
  absl::BlockingCounter done(20);
  for (int i = 0; i < 20; ++i) {
    boost::asio::post(shards.at(i % 2), [&] {
      {
        absl::MutexLock lock(&mu);
        threads.insert(std::this_thread::get_id());
      }
      done.DecrementCount();
    });
  }
  done.Wait();
  shards.Stop();
  shards.Join();
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

// A handler abandoned on shard 1 holds the last reference to a timer of
// shard 0. Destroying the shards must destroy it while shard 0 still exists
// (ASan reports a heap-use-after-free otherwise; a Node's shutdown once did).
TEST(IoShardsTest, AbandonedHandlerMayHoldAnObjectOfAnotherShard) {
  bool destroyed = false;
  struct Holder {
    explicit Holder(boost::asio::io_context& ioc, bool* flag)
        : timer(ioc), destroyed(flag) {}
    ~Holder() { *destroyed = true; }
    boost::asio::steady_timer timer;
    bool* destroyed;
  };
  {
    auto shards = std::make_unique<IoShards>(2);
    auto holder = std::make_shared<Holder>(shards->at(0), &destroyed);
    holder->timer.expires_after(std::chrono::hours(1));
    holder->timer.async_wait([](const boost::system::error_code&) {});
    boost::asio::post(shards->at(1), [holder] {});
    holder.reset();
    // Never started: both handlers are abandoned.
  }
  EXPECT_TRUE(destroyed);
}

}  // namespace
}  // namespace lattice::net
