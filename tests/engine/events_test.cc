// End-to-end tests of ephemeral events from clients (docs/protocol.md,
// "Events"): a real Node and protocol clients. Oracle: a room event reaches
// every other member of that room and nobody else, once; the sender's
// event_ack counts those members; every refusal is an error frame naming
// the emit (ref_type 7, its ref) and the connection carries on.
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tests/engine/sync_test_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint8_t kEmitTag = static_cast<uint8_t>(protocol::FrameType::kEmit);

protocol::EmitFrame RoomEvent(uint64_t ref, const std::string& room,
                              const std::string& name,
                              const std::string& payload = "\x01") {
  return protocol::EmitFrame{ref, protocol::EventTarget::kRoom, room, name,
                             payload};
}

template <typename T>
size_t Count(const std::vector<protocol::Frame>& frames) {
  size_t n = 0;
  for (const auto& f : frames) n += std::holds_alternative<T>(f);
  return n;
}

class EventsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNode(TestNodeOptions(dir_.path())); }

  void StartNode(NodeOptions options) {
    node_.reset();
    auto node = Node::Start(std::move(options));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  std::unique_ptr<RawClient> Joined(uint64_t replica, const std::string& sub,
                                    const std::vector<std::string>& rooms,
                                    const std::vector<std::string>& read = {}) {
    auto c = std::make_unique<RawClient>(replica);
    absl::Status s = c->Connect(node_->port(), Token(sub, rooms, read));
    EXPECT_TRUE(s.ok()) << s;
    for (const auto& r : rooms) EXPECT_TRUE(c->Join(r).ok()) << r;
    for (const auto& r : read) EXPECT_TRUE(c->Join(r).ok()) << r;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

TEST_F(EventsTest, RoomEventReachesTheOtherMembersOfThatRoomOnly) {
  auto a = Joined(101, "ada", {"board"});
  auto b = Joined(102, "bob", {"board"});
  auto c = Joined(103, "cy", {"other"});
  ASSERT_TRUE(
      a->SendFrame(RoomEvent(5, "board", "cursor", "\x92\x01\x02")).ok());
  auto got = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->room, "board");
  EXPECT_EQ(got->from, "ada");
  EXPECT_EQ(got->name, "cursor");
  EXPECT_EQ(got->payload, "\x92\x01\x02");
  std::vector<protocol::Frame> a_seen;
  auto ack = NextOf<protocol::EventAckFrame>(*a, &a_seen);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->ref, 5u);
  EXPECT_EQ(ack->delivered, 1u);
  EXPECT_EQ(Count<protocol::EventFrame>(a_seen), 0u);  // not to the sender
  // c's own event (a barrier: everything sent to c before it has arrived)
  // reaches nobody, and c never saw the board event.
  std::vector<protocol::Frame> c_seen;
  ASSERT_TRUE(c->SendFrame(RoomEvent(9, "other", "ping")).ok());
  auto c_ack = NextOf<protocol::EventAckFrame>(*c, &c_seen);
  ASSERT_TRUE(c_ack.ok());
  EXPECT_EQ(c_ack->delivered, 0u);
  EXPECT_EQ(Count<protocol::EventFrame>(c_seen), 0u);
}

TEST_F(EventsTest, RefZeroAsksForNoAck) {
  auto a = Joined(101, "ada", {"board"});
  auto b = Joined(102, "bob", {"board"});
  ASSERT_TRUE(a->SendFrame(RoomEvent(0, "board", "quiet")).ok());
  ASSERT_TRUE(a->SendFrame(RoomEvent(2, "board", "loud")).ok());
  // The first ack a sees is the second event's.
  auto ack = NextOf<protocol::EventAckFrame>(*a);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->ref, 2u);
  auto first = NextOf<protocol::EventFrame>(*b);
  auto second = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->name, "quiet");
  EXPECT_EQ(second->name, "loud");
}

TEST_F(EventsTest, EventsAreNotPersisted) {
  auto a = Joined(101, "ada", {"board"});
  ASSERT_TRUE(a->SendFrame(RoomEvent(1, "board", "ping")).ok());
  ASSERT_TRUE(NextOf<protocol::EventAckFrame>(*a).ok());
  // A late joiner gets no event from before its join, and the room's seq
  // did not move.
  auto late = std::make_unique<RawClient>(102);
  ASSERT_TRUE(late->Connect(node_->port(), Token("bob", {"board"})).ok());
  auto joined = late->Join("board");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->seq, 0u);
  ASSERT_TRUE(late->SendFrame(RoomEvent(3, "board", "barrier")).ok());
  std::vector<protocol::Frame> seen;
  ASSERT_TRUE(NextOf<protocol::EventAckFrame>(*late, &seen).ok());
  EXPECT_EQ(Count<protocol::EventFrame>(seen), 0u);
}

TEST_F(EventsTest, RefusalsAreErrorFramesAndTheConnectionCarriesOn) {
  auto a = Joined(101, "ada", {"board"}, {"news"});
  auto b = Joined(102, "bob", {"board", "news"});
  struct Case {
    protocol::EmitFrame emit;
    std::string code;
  };
  const std::vector<Case> cases = {
      {RoomEvent(11, "elsewhere", "x"), "not_joined"},
      {RoomEvent(12, "news", "x"), "read_only"},
      {protocol::EmitFrame{13, protocol::EventTarget::kUser, "bob", "x", ""},
       "forbidden"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(a->SendFrame(c.emit).ok());
    auto e = NextOf<protocol::ErrorFrame>(*a);
    ASSERT_TRUE(e.ok()) << c.code;
    EXPECT_EQ(e->code, c.code);
    EXPECT_EQ(e->ref_type, kEmitTag);
    EXPECT_EQ(e->ref, c.emit.ref);
  }
  // Malformed event frames: an unknown target kind, an oversize payload.
  // [7, 1, "group", "g", "n", bin of 0 bytes]
  static constexpr char kGroupTarget[] =
      "\x96\x07\x01\xa5group\xa1g\xa1n\xc4\x00";
  const std::string group_target(kGroupTarget, sizeof kGroupTarget - 1);
  ASSERT_TRUE(a->ws().Send(group_target).ok());
  auto bad = NextOf<protocol::ErrorFrame>(*a);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->code, "bad_frame");
  EXPECT_EQ(bad->ref_type, kEmitTag);
  EXPECT_THAT(bad->message, HasSubstr("target_kind"));
  ASSERT_TRUE(
      a->SendFrame(RoomEvent(14, "board", "big", std::string(5000, 'p'))).ok());
  bad = NextOf<protocol::ErrorFrame>(*a);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->code, "bad_frame");
  EXPECT_THAT(bad->message, HasSubstr("over the limit of 4096"));
  // Nothing reached b; a's next event does.
  ASSERT_TRUE(a->SendFrame(RoomEvent(15, "board", "fine")).ok());
  auto ack = NextOf<protocol::EventAckFrame>(*a);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->ref, 15u);
  EXPECT_EQ(ack->delivered, 1u);
  auto got = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "fine");
}

TEST_F(EventsTest, RateLimitRefusesEventsAboveTheBudget) {
  NodeOptions o = TestNodeOptions(dir_.path());
  o.sync.engine.max_events_per_second = 3;
  StartNode(std::move(o));
  auto a = Joined(101, "ada", {"board"});
  for (uint64_t ref = 1; ref <= 10; ++ref) {
    ASSERT_TRUE(a->SendFrame(RoomEvent(ref, "board", "spam")).ok());
  }
  int acked = 0;
  int limited = 0;
  while (acked + limited < 10) {
    auto f = a->Next(absl::Seconds(10));
    ASSERT_TRUE(f.ok()) << f.status();
    if (std::holds_alternative<protocol::EventAckFrame>(*f)) ++acked;
    if (auto* e = std::get_if<protocol::ErrorFrame>(&*f)) {
      EXPECT_EQ(e->code, "rate_limited");
      ++limited;
    }
  }
  EXPECT_GE(acked, 3);
  EXPECT_GE(limited, 1);
}

}  // namespace
}  // namespace lattice::engine::testing
