// End-to-end tests of room presence (docs/protocol.md, "Presence") against a
// real Node: presence frames from clients, per-tick coalesced presence
// frames to members, leave and TTL removal, typing, slow readers and
// refusals. Oracle: each client's crdt::Presence replica, fed only by the
// frames the server sent it.
#include <memory>
#include <string>

#include "tests/engine/sync_test_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::testing::HasSubstr;

class PresenceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(TestNodeOptions(dir_.path())); }

  void Start(NodeOptions options) {
    node_.reset();
    auto node = Node::Start(std::move(options));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  // A client joined to room "board" as `sub`.
  std::unique_ptr<RawClient> Joined(uint64_t replica, const std::string& sub) {
    auto c = std::make_unique<RawClient>(replica);
    absl::Status s = c->Connect(node_->port(), Token(sub, {"board"}));
    EXPECT_TRUE(s.ok()) << s;
    auto joined = c->Join("board");
    EXPECT_TRUE(joined.ok()) << joined.status();
    return c;
  }

  // The entry of the client whose user id is `user`, in `c`'s replica.
  static std::optional<crdt::PresenceEntry> EntryOf(RawClient& c,
                                                    const std::string& user) {
    for (const crdt::PresenceEntry& e : c.Presence("board").Entries()) {
      if (e.identity.user_id == user) return e;
    }
    return std::nullopt;
  }

  // Sends n cursor moves from `c`, to (1, 1) ... (n, n).
  static void MoveCursor(RawClient& c, int n) {
    for (int i = 1; i <= n; ++i) {
      ASSERT_TRUE(c.SendPresence("board", [&](protocol::PresenceFrame& p) {
                     p.set_cursor = true;
                     p.cursor = Point(i, i);
                   }).ok());
    }
  }

  // Waits until `c`'s replica shows `user`'s cursor at x.
  static bool WaitForCursorX(RawClient& c, const std::string& user, double x) {
    return c
        .WaitFor([&] {
          auto e = EntryOf(c, user);
          return e && e->cursor && std::get<crdt::Point>(*e->cursor).x == x;
        })
        .ok();
  }

  static protocol::PresenceCursor Point(double x, double y) {
    protocol::PresenceCursor c;
    c.x = x;
    c.y = y;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

TEST_F(PresenceTest, UpdatesReachEveryMemberAndConverge) {
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  ASSERT_TRUE(a->SendPresence("board", [&](protocol::PresenceFrame& p) {
                 p.status = static_cast<uint8_t>(crdt::PresenceStatus::kAway);
                 p.set_cursor = true;
                 p.cursor = Point(10, 20);
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] {
                 auto e = EntryOf(*b, "ada");
                 return e && e->cursor.has_value();
               }).ok());
  const crdt::PresenceEntry seen = *EntryOf(*b, "ada");
  EXPECT_EQ(seen.status, crdt::PresenceStatus::kAway);
  EXPECT_EQ(std::get<crdt::Point>(*seen.cursor), (crdt::Point{10, 20}));
  // b's own entry reached a too; both replicas end equal.
  ASSERT_TRUE(a->WaitFor([&] {
                 auto e = EntryOf(*a, "ada");
                 return EntryOf(*a, "bob").has_value() && e &&
                        e->cursor.has_value();
               }).ok());
  EXPECT_EQ(a->Presence("board").ToJson(), b->Presence("board").ToJson());
}

TEST_F(PresenceTest, IdentityComesFromTheTokenAndALateJoinerGetsTheState) {
  auto a = Joined(101, "ada");
  ASSERT_TRUE(a->SendPresence("board", [&](protocol::PresenceFrame& p) {
                 p.set_typing = true;
                 p.typing = "notes";
               }).ok());
  ASSERT_TRUE(a->WaitFor([&] {
                 auto e = EntryOf(*a, "ada");
                 return e && e->typing.has_value();
               }).ok());
  auto c = Joined(103, "cy");
  ASSERT_TRUE(c->WaitFor([&] { return EntryOf(*c, "ada").has_value(); }).ok());
  EXPECT_EQ(EntryOf(*c, "ada")->typing->doc, "notes");
}

TEST_F(PresenceTest, LeavingRemovesTheEntry) {
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  ASSERT_TRUE(b->WaitFor([&] { return EntryOf(*b, "ada").has_value(); }).ok());
  a->Disconnect();
  ASSERT_TRUE(b->WaitFor([&] { return !EntryOf(*b, "ada").has_value(); }).ok());
  EXPECT_EQ(b->Presence("board").size(), 1u);
}

TEST_F(PresenceTest, SilentSessionsExpireAfterTheTtl) {
  NodeOptions options = TestNodeOptions(dir_.path());
  options.sync.engine.presence_ttl = absl::Seconds(1);
  Start(std::move(options));
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  ASSERT_TRUE(b->WaitFor([&] { return EntryOf(*b, "ada").has_value(); }).ok());
  // Only b sends heartbeats (empty presence frames): a's entry goes.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (EntryOf(*b, "ada").has_value() && absl::Now() < deadline) {
    ASSERT_TRUE(b->SendPresence("board", [](protocol::PresenceFrame&) {}).ok());
    (void)b->WaitFor([] { return false; }, absl::Milliseconds(300));
  }
  EXPECT_FALSE(EntryOf(*b, "ada").has_value());
  EXPECT_TRUE(EntryOf(*b, "bob").has_value());
  // A write brings a's entry back.
  ASSERT_TRUE(a->SendPresence("board", [&](protocol::PresenceFrame& p) {
                 p.set_cursor = true;
                 p.cursor = Point(1, 1);
               }).ok());
  EXPECT_TRUE(b->WaitFor([&] { return EntryOf(*b, "ada").has_value(); }).ok());
}

TEST_F(PresenceTest, TypingStopsWithAChangeToThatDocumentAndAfterFiveSeconds) {
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  auto typing = [&](const std::string& user) {
    auto e = EntryOf(*b, user);
    return e && e->typing.has_value();
  };
  ASSERT_TRUE(a->SendPresence("board", [](protocol::PresenceFrame& p) {
                 p.set_typing = true;
                 p.typing = "chat";
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] { return typing("ada"); }).ok());
  ASSERT_TRUE(a->Edit("board", "chat", [](crdt::Doc& d) {
                 return d.MapSet(crdt::kRootId, "m1",
                                 crdt::Value::String("hi"));
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] { return !typing("ada"); }).ok());

  ASSERT_TRUE(b->SendPresence("board", [](protocol::PresenceFrame& p) {
                 p.set_typing = true;
                 p.typing = "chat";
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] { return typing("bob"); }).ok());
  const absl::Time started = absl::Now();
  ASSERT_TRUE(
      b->WaitFor([&] { return !typing("bob"); }, absl::Seconds(10)).ok());
  EXPECT_GE(absl::Now() - started, absl::Seconds(4));
}

TEST_F(PresenceTest, ASlowReaderGetsOnlyTheLatestState) {
  NodeOptions options = TestNodeOptions(dir_.path());
  options.sync.engine.max_presence_per_second = 1e6;
  Start(std::move(options));
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  const size_t before = b->PresenceFramesReceived();
  // b reads nothing while a moves its cursor 2,000 times.
  constexpr int kMoves = 2000;
  ASSERT_NO_FATAL_FAILURE(MoveCursor(*a, kMoves));
  ASSERT_TRUE(WaitForCursorX(*b, "ada", kMoves));
  // Coalesced per tick: far fewer frames than moves.
  EXPECT_LT(b->PresenceFramesReceived() - before, kMoves / 10u);
}

// Tick 0 sends at once, and members with any backlog are deferred: the
// room retries them on a timer (it used to call itself back at once, which
// recursed while the backlog lasted) and every member still converges.
TEST_F(PresenceTest, WithTickZeroBackedUpMembersAreRetriedAndConverge) {
  NodeOptions options = TestNodeOptions(dir_.path());
  options.sync.engine.max_presence_per_second = 1e6;
  options.sync.engine.presence_tick = absl::ZeroDuration();
  options.sync.engine.presence_max_backlog_bytes = 0;
  Start(std::move(options));
  auto a = Joined(101, "ada");
  auto b = Joined(102, "bob");
  auto c = Joined(103, "cyd");
  constexpr int kMoves = 2000;
  ASSERT_NO_FATAL_FAILURE(MoveCursor(*a, kMoves));
  EXPECT_TRUE(WaitForCursorX(*b, "ada", kMoves));
  EXPECT_TRUE(WaitForCursorX(*c, "ada", kMoves));
}

TEST_F(PresenceTest, RefusalsAreErrorFramesAndTheSessionGoesOn) {
  auto a = Joined(101, "ada");
  ASSERT_TRUE(a->SendPresence("elsewhere", [](protocol::PresenceFrame& p) {
                 p.status = 1;
               }).ok());
  // 16 app fields (the most an entry holds), then a 17th.
  auto app_field = [](int i) {
    protocol::PresenceAppValue v;
    v.kind = protocol::PresenceAppValue::Kind::kInt;
    v.i = i;
    return std::make_pair(absl::StrCat("k", i), v);
  };
  ASSERT_TRUE(a->SendPresence("board", [&](protocol::PresenceFrame& p) {
                 for (int i = 0; i < 16; ++i) p.app.push_back(app_field(i));
               }).ok());
  ASSERT_TRUE(a->SendPresence("board", [&](protocol::PresenceFrame& p) {
                 p.set_cursor = true;
                 p.cursor = Point(5, 5);
                 p.app.push_back(app_field(16));
               }).ok());
  ASSERT_TRUE(a->WaitFor([&] { return a->Errors().size() >= 2; }).ok());
  EXPECT_EQ(a->Errors()[0].code, "not_joined");
  EXPECT_EQ(a->Errors()[1].code, "presence_refused");
  // The cursor before the refused field is set; the session carries on.
  ASSERT_TRUE(a->WaitFor([&] {
                 auto e = EntryOf(*a, "ada");
                 return e && e->cursor.has_value();
               }).ok());
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return d.MapSet(crdt::kRootId, "t", crdt::Value::Int(1));
               }).ok());
  EXPECT_TRUE(a->WaitAcked().ok());
}

}  // namespace
}  // namespace lattice::engine::testing
