// RedisBus against a real redis-server (tests/testing/redis_server.h).
#include "net/redis_bus.h"

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/testing/redis_server.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::net {
namespace {

using ::lattice::testing::RedisServer;
using ::testing::ElementsAre;
using ::testing::Pair;

// Polls `done` every 10 ms for up to 10 s.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A bus that records what it receives.
struct Listener {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> messages;
  int subscriptions = 0;
  std::unique_ptr<RedisBus> bus;

  absl::Status Start(const std::string& address,
                     uint64_t max_queued = 1 << 20) {
    RedisBusOptions o;
    o.address = address;
    o.pattern = "test:*";
    o.max_queued_bytes = max_queued;
    auto b = RedisBus::Start(
        o,
        [this](absl::string_view channel, absl::string_view payload) {
          std::lock_guard<std::mutex> lock(mu);
          messages.emplace_back(std::string(channel), std::string(payload));
        },
        [this] {
          std::lock_guard<std::mutex> lock(mu);
          ++subscriptions;
        });
    if (!b.ok()) return b.status();
    bus = *std::move(b);
    return absl::OkStatus();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return messages.size();
  }
  int subscribed_times() {
    std::lock_guard<std::mutex> lock(mu);
    return subscriptions;
  }
};

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  // Starts a and b on the server and waits for their first subscription.
  void StartBoth() {
    ASSERT_TRUE(a.Start(redis_->address()).ok());
    ASSERT_TRUE(b.Start(redis_->address()).ok());
    ASSERT_TRUE(Eventually([&] {
      return a.subscribed_times() == 1 && b.subscribed_times() == 1;
    }));
  }

  std::unique_ptr<RedisServer> redis_;
  Listener a, b;  // stopped before the server
};

TEST_F(RedisBusTest, MessagesOfTheMatchingChannelsReachEverySubscriber) {
  StartBoth();
  const std::string binary("with\0nul and \xff bytes", 20);
  a.bus->Publish("other:x", "not ours");
  a.bus->Publish("test:room", binary);
  a.bus->Publish("test:room", "second");
  ASSERT_TRUE(Eventually([&] { return a.count() == 2 && b.count() == 2; }));
  std::lock_guard<std::mutex> lock(b.mu);
  EXPECT_THAT(b.messages, ElementsAre(Pair("test:room", binary),
                                      Pair("test:room", "second")));
  EXPECT_EQ(a.bus->stats().published, 3u);
  EXPECT_EQ(b.bus->stats().received, 2u);
}

TEST_F(RedisBusTest, ResubscribesAfterRedisRestartsAndTellsTheOwner) {
  StartBoth();
  redis_->Stop();
  ASSERT_TRUE(Eventually([&] { return !b.bus->subscribed(); }));
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(Eventually(
      [&] { return a.subscribed_times() == 2 && b.subscribed_times() == 2; }));
  // The publisher's old connection is gone too; it reconnects on failure
  // and the message after that one gets through.
  ASSERT_TRUE(Eventually([&] {
    a.bus->Publish("test:again", "hello");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return b.count() > 0;
  }));
  EXPECT_EQ(b.bus->stats().connections, 2u);
}

TEST_F(RedisBusTest, StartsBeforeRedisAndBoundsItsQueueMeanwhile) {
  redis_->Stop();
  ASSERT_TRUE(a.Start(redis_->address(), /*max_queued=*/100).ok());
  a.bus->Publish("test:x", std::string(60, 'a'));
  a.bus->Publish("test:x", std::string(60, 'b'));  // over 100 bytes queued
  EXPECT_EQ(a.bus->stats().dropped, 1u);
  EXPECT_FALSE(a.bus->subscribed());
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(Eventually([&] { return a.bus->subscribed(); }));
  ASSERT_TRUE(Eventually([&] { return a.bus->stats().published == 1; }));
}

TEST(RedisBusOptionsTest, RefusesUnusableOptions) {
  for (const char* address :
       {"", "localhost", "host:0", "host:99999", ":80", "unix:", "h:port"}) {
    RedisBusOptions o;
    o.address = address;
    o.pattern = "test:*";
    auto bus = RedisBus::Start(o, nullptr, nullptr);
    EXPECT_EQ(bus.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
  RedisBusOptions o;
  o.address = "127.0.0.1:6379";
  EXPECT_EQ(RedisBus::Start(o, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);  // no pattern
}

TEST_F(RedisBusTest, StopsPromptlyWhileBlockedOnARead) {
  ASSERT_TRUE(a.Start(redis_->address()).ok());
  ASSERT_TRUE(Eventually([&] { return a.bus->subscribed(); }));
  a.bus->Stop();
  a.bus->Stop();  // idempotent
  a.bus->Publish("test:x", "after stop");
  EXPECT_EQ(a.bus->stats().dropped, 1u);
}

}  // namespace
}  // namespace lattice::net
