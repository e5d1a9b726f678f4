#include "net/io_shards.h"

#include <set>
#include <string>
#include <thread>

#include <boost/asio/post.hpp>

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

}  // namespace
}  // namespace lattice::net
