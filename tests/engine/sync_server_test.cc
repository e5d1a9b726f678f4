// End-to-end tests of the sync engine: a real Node (RocksDB in a temporary
// directory, WebSockets on 127.0.0.1 port 0) and protocol clients that keep
// CRDT replicas. Oracle: clients that exchanged everything hold the same
// JSON; a resuming client gets exactly the log records it missed; every
// refusal is an error frame (or the documented close) and leaves the server,
// the room and the other clients working.
#include <memory>
#include <string>
#include <thread>

#include "tests/engine/sync_test_util.h"
#include "tests/testing/http_test_client.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Status SetTitle(crdt::Doc& d, const std::string& key,
                      const std::string& value) {
  return d.MapSet(crdt::kRootId, key, crdt::Value::String(value));
}

class SyncServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNode(); }
  void TearDown() override { node_.reset(); }

  void StartNode() { StartNode(TestNodeOptions(dir_.path())); }
  void StartNode(NodeOptions options) {
    auto node = Node::Start(std::move(options));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }
  void RestartNode() {
    node_.reset();  // graceful: Shutdown in the destructor
    StartNode();
  }
  uint16_t port() const { return node_->port(); }

  std::unique_ptr<RawClient> Connected(uint64_t replica,
                                       const std::string& token) {
    auto c = std::make_unique<RawClient>(replica);
    absl::Status s = c->Connect(port(), token);
    EXPECT_TRUE(s.ok()) << s;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

TEST_F(SyncServerTest, TwoClientsEditOneRoomAndConverge) {
  auto a = Connected(101, Token("ada", {"board"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return SetTitle(d, "t1", "write spec");
               }).ok());
  ASSERT_TRUE(b->Edit("board", "tasks", [](crdt::Doc& d) {
                 return SetTitle(d, "t2", "review");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitAcked().ok());
  const std::string want = R"({"t1":"write spec","t2":"review"})";
  EXPECT_TRUE(
      a->WaitFor([&] { return a->Json("board", "tasks") == want; }).ok())
      << a->Json("board", "tasks");
  EXPECT_TRUE(
      b->WaitFor([&] { return b->Json("board", "tasks") == want; }).ok())
      << b->Json("board", "tasks");
}

TEST_F(SyncServerTest, LateJoinerCatchesUpBySnapshot) {
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(a->Edit("board", "tasks", [i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("k", i), "v");
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked().ok());
  auto c = Connected(103, Token("cy", {"board"}));
  auto joined = c->Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->path, protocol::SyncPath::kSnapshot);
  EXPECT_EQ(joined->seq, 20u);
  EXPECT_EQ(c->Json("board", "tasks"), a->Json("board", "tasks"));
}

TEST_F(SyncServerTest, MetricsReportTheBusiestRooms) {
  auto a = Connected(101, Token("ada", {"board", "quiet"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Join("quiet").ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->Edit("board", "tasks", [i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("k", i), "v");
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitFor([&] { return b->resume("board").seq == 3; }).ok());
  auto metrics = ::lattice::testing::HttpCall(port(), "GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_EQ(metrics->status, 200);
  const std::string& m = metrics->body;
  // The busier room (more members) comes first; each broadcast reached b.
  EXPECT_THAT(m, HasSubstr("lattice_room_members{room=\"board\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("lattice_room_members{room=\"quiet\"} 1\n"));
  EXPECT_LT(m.find("room=\"board\""), m.find("room=\"quiet\""));
  EXPECT_THAT(m, HasSubstr("lattice_room_changes_total{room=\"board\"} 3\n"));
  EXPECT_THAT(m,
              HasSubstr("lattice_room_deliveries_total{room=\"board\"} 3\n"));
  EXPECT_THAT(m, HasSubstr("lattice_room_joins_total{room=\"board\","
                           "path=\"none\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("lattice_joins_total{path=\"none\"} 3\n"));
}

TEST(RoomMetrics, LabelValuesAreEscaped) {
  std::string out;
  RoomStatsSample sample;
  sample.members = 4;
  AppendRoomPrometheus({{"a\"b\\c\nd", sample}}, &out);
  EXPECT_THAT(out,
              HasSubstr("lattice_room_members{room=\"a\\\"b\\\\c\\nd\"} 4\n"));
}

TEST_F(SyncServerTest, ReconnectGetsExactlyTheMissedTail) {
  auto a = Connected(101, Token("ada", {"board"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Edit("board", "chat", [](crdt::Doc& d) {
                 return SetTitle(d, "m0", "hello");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitFor([&] { return b->resume("board").seq == 1; }).ok());
  b->Disconnect();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(a->Edit("board", "chat", [i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("m", i), "x");
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->Connect(port(), Token("bob", {"board"})).ok());
  b->ClearReceived();
  auto joined = b->Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->path, protocol::SyncPath::kTail);
  // Exactly the five records it missed, in order, and nothing more.
  EXPECT_THAT(b->catch_up_seqs(), ElementsAre(2, 3, 4, 5, 6));
  EXPECT_EQ(joined->seq, 6u);
  EXPECT_EQ(b->Json("board", "chat"), a->Json("board", "chat"));
}

TEST_F(SyncServerTest, OfflineEditsMergeBothWays) {
  auto a = Connected(101, Token("ada", {"board"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Edit("board", "notes", [](crdt::Doc& d) {
                 auto t = d.MapSetContainer(crdt::kRootId, "text",
                                            crdt::ContainerType::kText);
                 if (!t.ok()) return t.status();
                 return d.TextInsert(*t, 0, "hello");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitFor([&] {
                 return b->Json("board", "notes") == R"({"text":"hello"})";
               }).ok());
  b->Disconnect();
  // Both edit: b offline, a online.
  auto text = b->Doc("board", "notes").MapGetContainer(crdt::kRootId, "text");
  ASSERT_TRUE(text.ok());
  ASSERT_TRUE(
      b->Edit(
           "board", "notes",
           [&](crdt::Doc& d) { return d.TextInsert(*text, 5, " world"); },
           /*send=*/false)
          .ok());
  ASSERT_TRUE(a->Edit("board", "notes", [&](crdt::Doc& d) {
                 return d.TextInsert(*text, 0, ">> ");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  // b comes back with its resume point and version vectors: the server
  // sends the tail b missed, and b sends what the server lacks.
  ASSERT_TRUE(b->Connect(port(), Token("bob", {"board"})).ok());
  auto joined = b->Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  ASSERT_TRUE(b->WaitAcked().ok());
  const std::string want = R"({"text":">> hello world"})";
  EXPECT_EQ(b->Json("board", "notes"), want);
  EXPECT_TRUE(
      a->WaitFor([&] { return a->Json("board", "notes") == want; }).ok())
      << a->Json("board", "notes");
}

TEST_F(SyncServerTest, ResentChangeIsAppliedOnce) {
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  std::string update;
  {
    crdt::Doc& d = a->Doc("board", "counter");
    auto c =
        d.MapSetContainer(crdt::kRootId, "n", crdt::ContainerType::kCounter);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(d.CounterAdd(*c, 5).ok());
    update = d.Commit();
  }
  ASSERT_TRUE(a->SendChange("board", "counter", update).ok());
  ASSERT_TRUE(a->SendChange("board", "counter", update).ok());  // ack "lost"
  ASSERT_TRUE(a->WaitAcked().ok());
  EXPECT_EQ(a->resume("board").seq, 1u) << "the resend was persisted again";
  auto c = Connected(103, Token("cy", {"board"}));
  ASSERT_TRUE(c->Join("board").ok());
  EXPECT_EQ(c->Json("board", "counter"), R"({"n":5})");
}

TEST_F(SyncServerTest, GracefulRestartLosesNoAcknowledgedChange) {
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(a->Edit("board", "tasks", [i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("k", i), "v");
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked().ok());
  RestartNode();
  EXPECT_EQ(a->ws().WaitClosed(absl::Seconds(5)),
            std::optional<uint16_t>(1001));
  auto c = Connected(103, Token("cy", {"board"}));
  auto joined = c->Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->seq, 30u);
  EXPECT_EQ(c->Json("board", "tasks"), a->Json("board", "tasks"));
  // a reconnects by its resume point: nothing new, path none.
  ASSERT_TRUE(a->Connect(port(), Token("ada", {"board"})).ok());
  auto again = a->Join("board");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->path, protocol::SyncPath::kNone);
}

// A resume point below the trimmed log: the tail is gone, so the join falls
// back to the client's version vectors and sends only what it lacks.
TEST_F(SyncServerTest, ResumeBelowTheTrimmedLogFallsBackToVersions) {
  node_.reset();
  NodeOptions options = TestNodeOptions(dir_.path());
  options.sync.engine.snapshot_every_changes = 5;
  options.store.replay_window_changes = 2;
  options.store.replay_window_age = absl::ZeroDuration();
  StartNode(std::move(options));
  auto a = Connected(101, Token("ada", {"board"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(b->Join("board").ok());
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return SetTitle(d, "first", "x");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_TRUE(b->WaitFor([&] { return b->resume("board").seq == 1; }).ok());
  b->Disconnect();
  for (int i = 0; i < 12; ++i) {  // snapshots at 5 and 10 trim seq 1..8
    ASSERT_TRUE(a->Edit("board", "tasks", [i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("k", i), "v");
                 }).ok());
    ASSERT_TRUE(a->WaitAcked().ok());
  }
  ASSERT_TRUE(b->Connect(port(), Token("bob", {"board"})).ok());
  auto joined = b->Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->path, protocol::SyncPath::kVersion);
  EXPECT_EQ(joined->seq, 13u);
  EXPECT_EQ(b->Json("board", "tasks"), a->Json("board", "tasks"));
}

// ---- Refusals ---------------------------------------------------------------

std::string UnsignedToken(const std::string& alg) {
  const std::string header = absl::WebSafeBase64Escape(
      absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})"));
  const std::string payload = absl::WebSafeBase64Escape(
      absl::StrCat(R"({"sub":"eve","rooms":["*"],"exp":)",
                   absl::ToUnixSeconds(absl::Now() + absl::Hours(1)), "}"));
  return header + "." + payload + ".";
}

TEST_F(SyncServerTest, BadTokensAreRefusedWithTheAuthCloseCode) {
  nlohmann::json claims = {
      {"sub", "eve"},
      {"rooms", {"*"}},
      {"exp", absl::ToUnixSeconds(absl::Now() + absl::Hours(1))}};
  auto wrong_key =
      MintHs256("another-secret-another-secret-0123456789", claims);
  ASSERT_TRUE(wrong_key.ok());
  const std::vector<std::string> bad = {
      "garbage",  Token("eve", {"*"}, {}, absl::Minutes(-10)),  // expired
      *wrong_key, UnsignedToken("none"),
      "",
  };
  for (const std::string& token : bad) {
    RawClient c(200);
    absl::Status s = c.Connect(port(), token);
    EXPECT_TRUE(absl::IsUnauthenticated(s)) << token << ": " << s;
    EXPECT_EQ(c.ws().WaitClosed(absl::Seconds(5)),
              std::optional<uint16_t>(4001))
        << token;
  }
  // The server still serves.
  auto ok = Connected(201, Token("ada", {"board"}));
  EXPECT_TRUE(ok->Join("board").ok());
}

TEST_F(SyncServerTest, ForbiddenRoomIsRefusedAndTheConnectionCarriesOn) {
  auto a = Connected(101, Token("ada", {"board", "team/*"}));
  auto denied = a->Join("secret");
  EXPECT_THAT(denied.status().message(), HasSubstr("forbidden"));
  EXPECT_TRUE(a->Join("team/red").ok());
}

TEST_F(SyncServerTest, ReadOnlyWriteIsRefusedNotAppliedNorBroadcast) {
  auto writer = Connected(101, Token("ada", {"board"}));
  auto reader = Connected(102, Token("bob", {}, {"board"}));
  ASSERT_TRUE(writer->Join("board").ok());
  auto joined = reader->Join("board");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->access, protocol::RoomAccess::kRead);
  ASSERT_TRUE(reader
                  ->Edit("board", "tasks",
                         [](crdt::Doc& d) { return SetTitle(d, "evil", "x"); })
                  .ok());
  ASSERT_TRUE(reader->WaitAcked().ok());  // answered by an error
  ASSERT_EQ(reader->Errors().size(), 1u);
  EXPECT_EQ(reader->Errors()[0].code, "read_only");
  // The writer's next change arrives at the reader; the refused one never
  // reached the writer or the room.
  ASSERT_TRUE(writer
                  ->Edit("board", "tasks",
                         [](crdt::Doc& d) { return SetTitle(d, "ok", "y"); })
                  .ok());
  ASSERT_TRUE(writer->WaitAcked().ok());
  EXPECT_TRUE(
      reader->WaitFor([&] { return reader->UpdatesReceived() == 1; }).ok());
  EXPECT_EQ(writer->Json("board", "tasks"), R"({"ok":"y"})");
  auto late = Connected(103, Token("cy", {"board"}));
  ASSERT_TRUE(late->Join("board").ok());
  EXPECT_EQ(late->Json("board", "tasks"), R"({"ok":"y"})");
}

TEST_F(SyncServerTest, MalformedAndUnknownFramesGetErrorsAndTheSessionGoesOn) {
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->ws().Send("\xc1 not msgpack").ok());
  ASSERT_TRUE(a->ws().Send(std::string("\x92\x63\x01", 3)).ok());  // tag 99
  ASSERT_TRUE(a->WaitFor([&] { return a->Errors().size() == 2; }).ok());
  EXPECT_EQ(a->Errors()[0].code, "bad_frame");
  EXPECT_EQ(a->Errors()[1].code, "unknown_frame");
  // A change naming a room it never joined.
  ASSERT_TRUE(a->SendChange("board", "tasks", "x").ok());
  ASSERT_TRUE(a->WaitFor([&] { return a->Errors().size() == 3; }).ok());
  EXPECT_EQ(a->Errors()[2].code, "not_joined");
  // An update that is not a CRDT update.
  ASSERT_TRUE(a->Join("board").ok());
  ASSERT_TRUE(a->SendChange("board", "tasks", "\x01garbage").ok());
  ASSERT_TRUE(a->WaitFor([&] { return a->Errors().size() == 4; }).ok());
  EXPECT_EQ(a->Errors()[3].code, "bad_update");
  ASSERT_TRUE(a->Edit("board", "tasks", [](crdt::Doc& d) {
                 return SetTitle(d, "still", "works");
               }).ok());
  EXPECT_TRUE(a->WaitAcked().ok());
}

TEST_F(SyncServerTest, OversizeFrameClosesOnlyThatConnection) {
  auto a = Connected(101, Token("ada", {"board"}));
  auto b = Connected(102, Token("bob", {"board"}));
  ASSERT_TRUE(b->Join("board").ok());
  (void)a->ws().Send(std::string((1 << 20) + 10, 'x'));
  EXPECT_EQ(a->ws().WaitClosed(absl::Seconds(5)),
            std::optional<uint16_t>(1009));
  ASSERT_TRUE(b->Edit("board", "tasks", [](crdt::Doc& d) {
                 return SetTitle(d, "k", "v");
               }).ok());
  EXPECT_TRUE(b->WaitAcked().ok());
}

TEST_F(SyncServerTest, RateLimitRefusesChangesAboveTheBudget) {
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  // The default budget is 200 changes per second with a one-second burst.
  for (int i = 0; i < 260; ++i) {
    ASSERT_TRUE(a->Edit("board", "tasks", [i](crdt::Doc& d) {
                   return SetTitle(d, "k", absl::StrCat(i));
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked(absl::Seconds(20)).ok());
  size_t limited = 0;
  for (const auto& e : a->Errors()) limited += e.code == "rate_limited";
  EXPECT_GT(limited, 0u);
  EXPECT_LT(limited, 260u);
}

TEST_F(SyncServerTest, ChangesToAnOversizeDocumentAreRefused) {
  node_.reset();
  NodeOptions options = TestNodeOptions(dir_.path());
  options.sync.engine.max_doc_bytes = 16 << 10;
  StartNode(std::move(options));
  auto a = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(a->Join("board").ok());
  const std::string big(1000, 'x');
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(a->Edit("board", "tasks", [&, i](crdt::Doc& d) {
                   return SetTitle(d, absl::StrCat("k", i), big);
                 }).ok());
  }
  ASSERT_TRUE(a->WaitAcked().ok());
  ASSERT_FALSE(a->Errors().empty());
  EXPECT_EQ(a->Errors().back().code, "too_large");
  // Other documents of the room still take changes.
  const size_t errors = a->Errors().size();
  ASSERT_TRUE(a->Edit("board", "chat", [](crdt::Doc& d) {
                 return SetTitle(d, "m", "hi");
               }).ok());
  ASSERT_TRUE(a->WaitAcked().ok());
  EXPECT_EQ(a->Errors().size(), errors);
}

// Protocol 2 sessions may get several frames per message (docs/protocol.md,
// "Batches"); a protocol 1 client never does, even under a burst.
TEST_F(SyncServerTest, ProtocolOneSessionGetsOneFramePerMessage) {
  ::lattice::testing::WsTestClient old;
  ASSERT_TRUE(old.Connect("127.0.0.1", port()).ok());
  protocol::HelloFrame hello;
  hello.protocol_version = 1;
  hello.token = Token("old", {"board"});
  hello.replica = 7;
  ASSERT_TRUE(old.Send(protocol::EncodeFrame(hello)).ok());
  // Reads one message, which must hold exactly one frame.
  auto next = [&old]() -> absl::StatusOr<protocol::Frame> {
    auto bytes = old.Receive(absl::Seconds(10));
    if (!bytes.ok()) return bytes.status();
    return protocol::DecodeFrame(*bytes);  // refuses trailing frames
  };
  auto welcome = next();
  ASSERT_TRUE(welcome.ok()) << welcome.status();
  ASSERT_TRUE(std::holds_alternative<protocol::WelcomeFrame>(*welcome));
  EXPECT_EQ(std::get<protocol::WelcomeFrame>(*welcome).protocol_version, 1u);
  ASSERT_TRUE(
      old.Send(protocol::EncodeFrame(protocol::JoinFrame{1, "board", 0, 0, {}}))
          .ok());
  for (;;) {
    auto f = next();
    ASSERT_TRUE(f.ok()) << f.status();
    if (std::holds_alternative<protocol::JoinedFrame>(*f)) break;
  }
  // 100 changes sent without waiting for acks reach it back to back.
  auto writer = Connected(101, Token("ada", {"board"}));
  ASSERT_TRUE(writer->Join("board").ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(writer
                    ->Edit("board", "tasks",
                           [i](crdt::Doc& d) {
                             return SetTitle(d, "t", absl::StrCat(i));
                           })
                    .ok());
  }
  int updates = 0;
  while (updates < 100) {
    auto f = next();
    ASSERT_TRUE(f.ok()) << f.status() << " after " << updates << " updates";
    updates += std::holds_alternative<protocol::UpdateFrame>(*f);
  }
  ASSERT_TRUE(writer->WaitAcked().ok());
}

TEST_F(SyncServerTest, FirstFrameMustBeHello) {
  ::lattice::testing::WsTestClient ws;
  ASSERT_TRUE(ws.Connect("127.0.0.1", port()).ok());
  ASSERT_TRUE(
      ws.Send(protocol::EncodeFrame(protocol::LeaveFrame{"board"})).ok());
  auto reply = ws.Receive(absl::Seconds(5));
  ASSERT_TRUE(reply.ok());
  auto frame = protocol::DecodeFrame(*reply);
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(std::holds_alternative<protocol::ErrorFrame>(*frame));
  EXPECT_EQ(ws.WaitClosed(absl::Seconds(5)), std::optional<uint16_t>(4003));
}

}  // namespace
}  // namespace lattice::engine::testing
