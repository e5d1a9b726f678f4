// The minimal C++ client (sdk/sync_client.h) against the real server: two
// clients converge, a late joiner catches up, and a client resuming with its
// resume point takes the tail path. Oracle: equal JSON on every replica.
#include <memory>
#include <string>

#include "sdk/sync_client.h"
#include "tests/engine/sync_test_util.h"

#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

class SdkClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto node = Node::Start(TestNodeOptions(dir_.path()));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  std::unique_ptr<sdk::SyncClient> Client(const std::string& sub) {
    sdk::SyncClientOptions o;
    o.port = node_->port();
    o.token = Token(sub, {"board"});
    auto c = sdk::SyncClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

absl::Status AddTask(crdt::Doc& d, const std::string& id,
                     const std::string& title) {
  auto task = d.MapSetContainer(crdt::kRootId, id, crdt::ContainerType::kMap);
  if (!task.ok()) return task.status();
  return d.MapSet(*task, "title", crdt::Value::String(title));
}

TEST_F(SdkClientTest, TwoClientsAndALateJoinerConverge) {
  auto a = Client("ada");
  auto b = Client("bob");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return AddTask(d, "t1", "write spec");
               }).ok());
  ASSERT_TRUE(b->Edit("board", "tasks", [](crdt::Doc& d) {
                 return AddTask(d, "t2", "review");
               }).ok());
  ASSERT_TRUE(a->WaitAcked(absl::Seconds(10)).ok());
  ASSERT_TRUE(b->WaitAcked(absl::Seconds(10)).ok());
  const std::string want =
      R"({"t1":{"title":"write spec"},"t2":{"title":"review"}})";
  auto json_is = [&](sdk::SyncClient& c) {
    return [&c, &want] {
      auto j = c.Json("board", "tasks");
      return j.ok() && *j == want;
    };
  };
  EXPECT_TRUE(a->WaitUntil(json_is(*a), absl::Seconds(10)).ok())
      << *a->Json("board", "tasks");
  EXPECT_TRUE(b->WaitUntil(json_is(*b), absl::Seconds(10)).ok())
      << *b->Json("board", "tasks");

  auto c = Client("cy");
  ASSERT_TRUE(c);
  auto path = c->Join("board");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, static_cast<uint8_t>(protocol::SyncPath::kSnapshot));
  EXPECT_EQ(*c->Json("board", "tasks"), want);
  EXPECT_EQ(c->resume_point("board").seq, 2u);
}

// The first client of a room joins before the room has a log (epoch 0);
// its acks then carry the new epoch, which its resume point must take so
// that a rejoin takes the tail path rather than the version path.
TEST_F(SdkClientTest, RoomCreatorGetsAResumePointAndRejoinsByTail) {
  auto a = Client("ada");
  auto b = Client("bob");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Join("board").ok());
  EXPECT_EQ(a->resume_point("board"), sdk::ResumePoint{});
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return AddTask(d, "t1", "write spec");
               }).ok());
  ASSERT_TRUE(a->WaitAcked(absl::Seconds(10)).ok());
  const sdk::ResumePoint after_ack = a->resume_point("board");
  EXPECT_NE(after_ack.epoch, 0u);
  EXPECT_EQ(after_ack.seq, 1u);
  ASSERT_TRUE(a->Leave("board").ok());

  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(b->Edit("board", "tasks", [](crdt::Doc& d) {
                 return AddTask(d, "t2", "review");
               }).ok());
  ASSERT_TRUE(b->WaitAcked(absl::Seconds(10)).ok());
  auto path = a->Join("board");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, static_cast<uint8_t>(protocol::SyncPath::kTail));
  EXPECT_EQ(a->resume_point("board").seq, 2u);
  EXPECT_EQ(*a->Json("board", "tasks"), *b->Json("board", "tasks"));
}

TEST_F(SdkClientTest, KeepsTheRoomsPresence) {
  auto a = Client("ada");
  auto b = Client("bob");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  auto both_present = [&] {
    auto json = a->PresenceJson("board");
    return json.ok() && json->find("\"ada\"") != std::string::npos &&
           json->find("\"bob\"") != std::string::npos;
  };
  EXPECT_TRUE(a->WaitUntil(both_present, absl::Seconds(10)).ok())
      << a->PresenceJson("board").status();
  EXPECT_EQ(a->counters().bad_frames, 0u);
  EXPECT_GE(a->counters().presence, 1u);
}

// Event frames are valid server frames: the minimal client ignores them
// without counting them as bad.
TEST_F(SdkClientTest, IgnoresEventsWithoutCountingThemAsBad) {
  auto b = Client("bob");
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->Join("board").ok());
  RawClient a(101);
  ASSERT_TRUE(a.Connect(node_->port(), Token("ada", {"board"})).ok());
  ASSERT_TRUE(a.Join("board").ok());
  ASSERT_TRUE(a.SendFrame(protocol::EmitFrame{0, protocol::EventTarget::kRoom,
                                              "board", "ping", "x"})
                  .ok());
  // A change after the event: the room sends both to b in this order, so
  // once b holds the change it has handled the event.
  ASSERT_TRUE(a.Edit("board", "tasks", [](crdt::Doc& d) {
                 return d.MapSet(crdt::kRootId, "after", crdt::Value::Int(1));
               }).ok());
  EXPECT_TRUE(b->WaitUntil(
                   [&] {
                     auto j = b->Json("board", "tasks");
                     return j.ok() && *j == R"({"after":1})";
                   },
                   absl::Seconds(10))
                  .ok());
  EXPECT_EQ(b->counters().bad_frames, 0u);
}

}  // namespace
}  // namespace lattice::engine::testing
