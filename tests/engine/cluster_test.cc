// Several nodes sharing fan-out through a real redis-server
// (engine/cluster/cluster.h). Oracle: whatever node a client is on, it ends
// with the same documents as the clients of the other nodes; events and
// revocations reach a user's connections on every node; what Redis lost
// while away is repaired by the hellos; garbage on the channels is ignored.
// Presence: every member sees the entries of the members of every node, and
// an entry leaves everywhere when its connection closes.
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/redis_bus.h"
#include "tests/engine/sync_test_util.h"
#include "tests/testing/http_test_client.h"
#include "tests/testing/redis_server.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::lattice::testing::HttpCall;
using ::lattice::testing::RedisServer;
using ::testing::HasSubstr;

constexpr char kKey[] = "backend-key-0123456789";

protocol::PresenceCursor Point(double x, double y) {
  protocol::PresenceCursor c;
  c.x = x;
  c.y = y;
  return c;
}

// The entry of user `user` in `c`'s replica of the room's presence.
std::optional<crdt::PresenceEntry> EntryOf(RawClient& c,
                                           const std::string& room,
                                           const std::string& user) {
  for (const crdt::PresenceEntry& e : c.Presence(room).Entries()) {
    if (e.identity.user_id == user) return e;
  }
  return std::nullopt;
}

absl::Status Set(crdt::Doc& d, const std::string& key,
                 const std::string& value) {
  return d.MapSet(crdt::kRootId, key, crdt::Value::String(value));
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    for (int i = 0; i < 2; ++i) StartNode(i);
    WaitSubscribed();
  }

  void StartNode(int i) {
    nodes_[i].reset();
    NodeOptions o = TestNodeOptions(dirs_[i].path());
    o.api.api_key = kKey;
    o.sync.cluster.redis_address = redis_->address();
    o.sync.engine.presence_ttl = PresenceTtl();
    auto node = Node::Start(std::move(o));
    ASSERT_TRUE(node.ok()) << node.status();
    nodes_[i] = *std::move(node);
  }

  virtual absl::Duration PresenceTtl() const { return absl::Seconds(30); }

  void WaitSubscribed() {
    for (int n = 0; n < 1000; ++n) {
      if (nodes_[0]->sync().cluster()->subscribed() &&
          nodes_[1]->sync().cluster()->subscribed()) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    FAIL() << "the nodes did not subscribe";
  }

  std::unique_ptr<RawClient> Joined(int node, uint64_t replica,
                                    const std::string& sub,
                                    const std::string& room) {
    auto c = std::make_unique<RawClient>(replica);
    absl::Status s = c->Connect(nodes_[node]->port(), Token(sub, {room}));
    EXPECT_TRUE(s.ok()) << s;
    auto joined = c->Join(room);
    EXPECT_TRUE(joined.ok()) << joined.status();
    return c;
  }

  ::lattice::testing::HttpResult Call(int node, const std::string& method,
                                      const std::string& target,
                                      const std::string& body = "") {
    auto r = HttpCall(nodes_[node]->port(), method, target, body,
                      {{"Authorization", absl::StrCat("Bearer ", kKey)}});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ::lattice::testing::HttpResult{};
  }

  std::unique_ptr<RedisServer> redis_;
  TempDir dirs_[2];
  std::unique_ptr<Node> nodes_[2];
};

TEST_F(ClusterTest, ChangesOnOneNodeReachClientsOfTheOther) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  ASSERT_TRUE(a->Edit("board", "main", [](crdt::Doc& d) {
                 return Set(d, "title", "from node 0");
               }).ok());
  ASSERT_TRUE(b->Edit("board", "main", [](crdt::Doc& d) {
                 return Set(d, "owner", "bob on node 1");
               }).ok());
  const std::string want = R"({"owner":"bob on node 1","title":"from node 0"})";
  ASSERT_TRUE(a->WaitFor([&] { return a->Json("board", "main") == want; }).ok())
      << a->Json("board", "main");
  ASSERT_TRUE(b->WaitFor([&] { return b->Json("board", "main") == want; }).ok())
      << b->Json("board", "main");
  // A backend change on node 1 reaches node 0's client too, and each node
  // edits as a replica of its own.
  auto r = Call(1, "POST", "/v1/rooms/board/docs/main/changes",
                R"([{"op":"set","path":["from_api"],"value":1}])");
  ASSERT_EQ(r.status, 200) << r.body;
  auto r0 = Call(0, "POST", "/v1/rooms/board/docs/main/changes",
                 R"([{"op":"set","path":["from_api0"],"value":2}])");
  ASSERT_EQ(r0.status, 200) << r0.body;
  ASSERT_TRUE(a->WaitFor([&] {
                 return a->Json("board", "main").find("from_api\"") !=
                            std::string::npos &&
                        a->Json("board", "main").find("from_api0") !=
                            std::string::npos;
               }).ok())
      << a->Json("board", "main");
  ASSERT_TRUE(b->WaitFor([&] {
                 return b->Json("board", "main") == a->Json("board", "main");
               }).ok())
      << b->Json("board", "main");
  auto metrics = Call(0, "GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("lattice_cluster_subscribed 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("lattice_cluster_published_total"));
}

TEST_F(ClusterTest, ARoomLoadedLaterCatchesUpFromTheOtherNode) {
  auto a = Joined(0, 101, "ada", "notes");
  ASSERT_TRUE(a->Edit("notes", "main", [](crdt::Doc& d) {
                 return Set(d, "k", "written before node 1 had the room");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  // Node 1 has never seen the room: its hello at load brings the update,
  // which reaches the client after its (empty) join.
  auto b = Joined(1, 102, "bob", "notes");
  ASSERT_TRUE(b->WaitFor([&] {
                 return b->Json("notes", "main") ==
                        R"({"k":"written before node 1 had the room"})";
               }).ok())
      << b->Json("notes", "main");
  // Node 1 persisted it: after a restart without node 0 it still has it.
  a.reset();
  b.reset();
  nodes_[0].reset();
  StartNode(1);
  auto doc = Call(1, "GET", "/v1/rooms/notes/docs/main");
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body, "{\"k\":\"written before node 1 had the room\"}\n");
}

// Node 0 accepted a change, then restarted: the room is stored there but
// not in memory, and node 1 never had it. Node 1's hello at load makes node
// 0 load the room and answer.
TEST_F(ClusterTest, ChangesOnlyAnIdleNodeStoresReachANodeThatLoadsTheRoom) {
  auto a = Joined(0, 101, "ada", "archive");
  ASSERT_TRUE(a->Edit("archive", "main", [](crdt::Doc& d) {
                 return Set(d, "k", "only on node 0");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  a.reset();
  StartNode(0);
  WaitSubscribed();
  auto b = Joined(1, 102, "bob", "archive");
  ASSERT_TRUE(b->WaitFor([&] {
                 return b->Json("archive", "main") ==
                        R"({"k":"only on node 0"})";
               }).ok())
      << b->Json("archive", "main");
}

TEST_F(ClusterTest, EditsMadeWhileRedisWasAwayConvergeWhenItReturns) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  redis_->Stop();
  ASSERT_TRUE(a->Edit("board", "main", [](crdt::Doc& d) {
                 return Set(d, "a", "while away");
               }).ok());
  ASSERT_TRUE(b->Edit("board", "main", [](crdt::Doc& d) {
                 return Set(d, "b", "while away too");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitAcked().ok());
  ASSERT_TRUE(redis_->Restart().ok());
  const std::string want = R"({"a":"while away","b":"while away too"})";
  ASSERT_TRUE(a->WaitFor([&] { return a->Json("board", "main") == want; }).ok())
      << a->Json("board", "main");
  ASSERT_TRUE(b->WaitFor([&] { return b->Json("board", "main") == want; }).ok())
      << b->Json("board", "main");
}

TEST_F(ClusterTest, EventsAndRevocationReachEveryNode) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  // A client's room event.
  ASSERT_TRUE(a->SendFrame(protocol::EmitFrame{0, protocol::EventTarget::kRoom,
                                               "board", "ping", "\x01"})
                  .ok());
  auto got = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->room, "board");
  EXPECT_EQ(got->from, "ada");
  EXPECT_EQ(got->name, "ping");
  // A backend room event sent to node 0 reaches bob on node 1.
  auto r = Call(0, "POST", "/v1/rooms/board/events",
                R"({"name":"announcement","payload":1})");
  ASSERT_EQ(r.status, 200) << r.body;
  got = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "announcement");
  // A user event sent to node 0 reaches bob's connection on node 1.
  r = Call(0, "POST", "/v1/users/bob/events",
           R"({"name":"task_assigned","payload":"t1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  got = NextOf<protocol::EventFrame>(*b);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->room, "");
  EXPECT_EQ(got->name, "task_assigned");
  // Revoking bob on node 0 closes his connection on node 1 with 4001.
  r = Call(0, "POST", "/v1/users/bob/revoke");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(b->ws().WaitClosed(absl::Seconds(5)),
            std::optional<uint16_t>(4001));
}

TEST_F(ClusterTest, GarbageOnTheChannelsIsIgnored) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  net::RedisBusOptions o;
  o.address = redis_->address();
  o.pattern = "unused:*";
  auto bus = net::RedisBus::Start(o, nullptr, nullptr);
  ASSERT_TRUE(bus.ok()) << bus.status();
  const std::string origin("\x00\x00\x00\x00\x00\x00\x00\x07", 8);
  for (const std::string& garbage :
       {std::string("x"), origin, origin + "\xc1", origin + "\x93\x12\x01",
        origin + std::string(100, '\xff'),
        origin + protocol::EncodeFrame(protocol::UpdateFrame{
                     "board", "main", 1, 1, "not an update"}),
        origin + protocol::EncodeFrame(
                     protocol::JoinedFrame{1,
                                           "board",
                                           protocol::SyncPath::kNone,
                                           0,
                                           0,
                                           protocol::RoomAccess::kRead,
                                           {{"main", "bad vv"}}}),
        origin + protocol::EncodeFrame(protocol::LeftFrame{"board"})}) {
    (*bus)->Publish("lattice:r:board", garbage);
    (*bus)->Publish("lattice:u:bob", garbage);
  }
  // The nodes carry on: a change still crosses.
  ASSERT_TRUE(a->Edit("board", "main", [](crdt::Doc& d) {
                 return Set(d, "after", "garbage");
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] {
                 return b->Json("board", "main") == R"({"after":"garbage"})";
               }).ok())
      << b->Json("board", "main");
}

TEST_F(ClusterTest, PresenceCrossesNodesAndLeavesEverywhere) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  ASSERT_TRUE(a->SendPresence("board", [](protocol::PresenceFrame& p) {
                 p.status = static_cast<uint8_t>(crdt::PresenceStatus::kBusy);
                 p.set_cursor = true;
                 p.cursor = Point(10, 20);
               }).ok());
  ASSERT_TRUE(b->WaitFor([&] {
                 auto e = EntryOf(*b, "board", "ada");
                 return e && e->cursor.has_value();
               }).ok());
  auto seen = EntryOf(*b, "board", "ada");
  EXPECT_EQ(seen->status, crdt::PresenceStatus::kBusy);
  EXPECT_EQ(std::get<crdt::Point>(*seen->cursor), (crdt::Point{10, 20}));
  ASSERT_TRUE(
      a->WaitFor([&] { return EntryOf(*a, "board", "bob").has_value(); }).ok());
  // Session ids differ across nodes (each node prefixes its own).
  EXPECT_NE(a->Presence("board").Entries()[0].session,
            a->Presence("board").Entries()[1].session);
  // A node that loads the room later gets both entries at once.
  auto c = std::make_unique<RawClient>(103);
  ASSERT_TRUE(c->Connect(nodes_[1]->port(), Token("cy", {"board"})).ok());
  ASSERT_TRUE(c->Join("board").ok());
  ASSERT_TRUE(c->WaitFor([&] {
                 auto e = EntryOf(*c, "board", "ada");
                 return e && e->cursor.has_value() &&
                        EntryOf(*c, "board", "bob").has_value();
               }).ok());
  // ada's connection closes: her entry leaves on node 1 too.
  a.reset();
  ASSERT_TRUE(b->WaitFor([&] {
                 return !EntryOf(*b, "board", "ada").has_value();
               }).ok());
}

TEST_F(ClusterTest, NodesShareOnePortWithReusePortAndKeepTheirReplica) {
  std::string replica;
  std::ifstream(dirs_[0].path() + "/NODE_REPLICA") >> replica;
  EXPECT_FALSE(replica.empty());
  EXPECT_NE(replica, "1");  // not the single node's
  // Two more nodes on one port: the kernel spreads connections over both.
  TempDir more[2];
  std::unique_ptr<Node> shared[2];
  uint16_t port = 0;
  for (int i = 0; i < 2; ++i) {
    NodeOptions o = TestNodeOptions(more[i].path());
    o.sync.cluster.redis_address = redis_->address();
    o.http.reuse_port = true;
    o.port = port;
    auto node = Node::Start(std::move(o));
    ASSERT_TRUE(node.ok()) << node.status();
    shared[i] = *std::move(node);
    port = shared[i]->port();
  }
  EXPECT_EQ(shared[0]->port(), shared[1]->port());
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 24; ++i) {
    clients.push_back(std::make_unique<RawClient>(200 + i));
    ASSERT_TRUE(clients.back()->Connect(port, Token("u", {"r"})).ok());
  }
  const uint64_t first = shared[0]->sync().stats().sessions_open.load();
  const uint64_t second = shared[1]->sync().stats().sessions_open.load();
  EXPECT_EQ(first + second, 24u);
  EXPECT_GT(first, 0u);
  EXPECT_GT(second, 0u);
  // Without reuse_port the port is taken.
  TempDir other;
  NodeOptions o = TestNodeOptions(other.path());
  o.port = port;
  EXPECT_EQ(Node::Start(std::move(o)).status().code(),
            absl::StatusCode::kUnavailable);
  // A node restarted on its data directory keeps its replica id.
  clients.clear();
  nodes_[0].reset();
  StartNode(0);
  std::string again;
  std::ifstream(dirs_[0].path() + "/NODE_REPLICA") >> again;
  EXPECT_EQ(again, replica);
}

TEST(ClusterOptionsTest, AnUnusableRedisAddressIsRefusedAtStart) {
  TempDir dir;
  NodeOptions o = TestNodeOptions(dir.path());
  o.sync.cluster.redis_address = "no-port-here";
  auto node = Node::Start(std::move(o));
  EXPECT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(node.status().message()),
              HasSubstr("expected host:port or unix:/path/to/socket"));
}

class ClusterShortTtlTest : public ClusterTest {
 protected:
  absl::Duration PresenceTtl() const override { return absl::Seconds(3); }
};

// Redis away for longer than the TTL: node 1 expires ada's entry (no
// heartbeat from node 0 reaches it) while node 0 keeps it (ada sends hers);
// when Redis returns, node 0 reasserts it and bob sees ada again.
TEST_F(ClusterShortTtlTest, EntriesExpiredDuringAnOutageComeBack) {
  auto a = Joined(0, 101, "ada", "board");
  auto b = Joined(1, 102, "bob", "board");
  ASSERT_TRUE(
      b->WaitFor([&] { return EntryOf(*b, "board", "ada").has_value(); }).ok());
  redis_->Stop();
  auto heartbeats_until = [&](const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done() && absl::Now() < deadline) {
      EXPECT_TRUE(
          a->SendPresence("board", [](protocol::PresenceFrame&) {}).ok());
      EXPECT_TRUE(
          b->SendPresence("board", [](protocol::PresenceFrame&) {}).ok());
      (void)a->WaitFor([] { return false; }, absl::Milliseconds(250));
      (void)b->WaitFor([] { return false; }, absl::Milliseconds(250));
    }
    return done();
  };
  ASSERT_TRUE(heartbeats_until(
      [&] { return !EntryOf(*b, "board", "ada").has_value(); }));
  EXPECT_TRUE(EntryOf(*a, "board", "ada").has_value());  // home keeps it
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(heartbeats_until([&] {
    return EntryOf(*b, "board", "ada").has_value() &&
           EntryOf(*a, "board", "bob").has_value();
  }));
}

}  // namespace
}  // namespace lattice::engine::testing
