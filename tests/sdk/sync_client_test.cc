#include "sdk/sync_client.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "crdt/doc.h"
#include "crdt/value.h"
#include "crdt/version_vector.h"
#include "engine/protocol/frames.h"
#include "net/http_server.h"
#include "net/websocket.h"
#include "tests/testing/status_matchers.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Oracle: a scripted fake of the sync server (FakeSyncServer below) on a real
// net::HttpServer on 127.0.0.1, so the client runs over real WebSockets. The
// fake keeps its own replica of each document and answers as
// docs/protocol.md says the server does; the tests compare the client's
// local documents, resume points and counters with what the fake sent, and
// the fake's documents with what the client edited. Every wait is bounded.

namespace lattice::sdk {
namespace {

namespace asio = boost::asio;
namespace protocol = engine::protocol;
using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr uint64_t kEpoch = 7;
constexpr uint64_t kServerReplica = 1000;
constexpr uint64_t kClientReplica = 42;

std::string Set(crdt::Doc& doc, absl::string_view key, int64_t value) {
  EXPECT_THAT(doc.MapSet(crdt::kRootId, key, crdt::Value::Int(value)), IsOk());
  return doc.Commit();
}

std::function<absl::Status(crdt::Doc&)> SetKey(std::string key, int64_t value) {
  return [key = std::move(key), value](crdt::Doc& doc) {
    return doc.MapSet(crdt::kRootId, key, crdt::Value::Int(value));
  };
}

// The server side of one room, scripted: hello -> welcome; join -> catch-up
// (an update with ChangesSince for each document the client lists, a
// snapshot for the others) then joined; change -> applied to its replica,
// then ack; leave -> left. The knobs change the answers.
class FakeSyncServer : public net::WsHandler {
 public:
  struct Knobs {
    bool answer_hello = true;
    // Error codes to refuse with; a refused hello is then closed with
    // hello_close_code.
    std::optional<std::string> refuse_hello = std::nullopt;
    uint16_t hello_close_code = protocol::kCloseAuthFailed;
    // Closes the connection on hello without an error frame.
    std::optional<uint16_t> close_hello = std::nullopt;
    std::optional<std::string> refuse_join = std::nullopt;
    std::optional<std::string> refuse_changes = std::nullopt;
    bool ack_changes = true;
    bool always_snapshot = false;  // even for documents the client lists
    protocol::RoomAccess access = protocol::RoomAccess::kWrite;
  };

  void set_knobs(Knobs knobs) {
    absl::MutexLock lock(&mu_);
    knobs_ = std::move(knobs);
  }

  // Edits the fake's replica of `doc` as another client would; the change
  // gets the next seq. Pushes it to the client as an update when `push`.
  void Edit(const std::string& doc, absl::string_view key, int64_t value,
            bool push) {
    absl::MutexLock lock(&mu_);
    std::string update = Set(DocFor(doc), key, value);
    ++seq_;
    if (push) {
      SendLocked(protocol::UpdateFrame{room_, doc, kEpoch, seq_, update});
    }
  }

  // Sends `frame` to the client connected last.
  void Push(const protocol::Frame& frame) {
    absl::MutexLock lock(&mu_);
    SendLocked(frame);
  }

  // Sends raw bytes to the client connected last.
  void PushRaw(std::string bytes) {
    absl::MutexLock lock(&mu_);
    conn_->Send(std::make_shared<const std::string>(std::move(bytes)));
  }

  // Closes the last connection from the server side.
  void CloseConnection(uint16_t code, std::string reason) {
    absl::MutexLock lock(&mu_);
    conn_->Close(code, std::move(reason));
  }

  std::string Json(const std::string& doc) {
    absl::MutexLock lock(&mu_);
    auto json = DocFor(doc).ToJson();
    return json.ok() ? *json : json.status().ToString();
  }
  // An update with no ops (ChangesSince the replica's own version).
  std::string NoopUpdate(const std::string& doc) {
    absl::MutexLock lock(&mu_);
    return DocFor(doc).ChangesSince(DocFor(doc).version());
  }

  // The frames of type T the client sent, in order.
  template <typename T>
  std::vector<T> Received() {
    absl::MutexLock lock(&mu_);
    std::vector<T> out;
    for (const protocol::Frame& f : received_) {
      if (const T* t = std::get_if<T>(&f)) out.push_back(*t);
    }
    return out;
  }

  // Waits until a connection has ended; returns its close code (0 if none
  // ended in time).
  uint16_t WaitForClose() {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::vector<uint16_t>* codes) { return !codes->empty(); },
            &close_codes_),
        kWait);
    return close_codes_.empty() ? 0 : close_codes_.front();
  }

  // net::WsHandler.
  void OnOpen(const std::shared_ptr<net::WsConnection>& conn) override {
    absl::MutexLock lock(&mu_);
    conn_ = conn;
  }
  void OnMessage(const std::shared_ptr<net::WsConnection>& conn,
                 std::string message) override;
  void OnClose(const std::shared_ptr<net::WsConnection>&, uint16_t code,
               std::string) override {
    absl::MutexLock lock(&mu_);
    close_codes_.push_back(code);
  }

 private:
  crdt::Doc& DocFor(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::unique_ptr<crdt::Doc>& doc = docs_[name];
    if (doc == nullptr) doc = std::make_unique<crdt::Doc>(kServerReplica);
    return *doc;
  }
  void SendLocked(const protocol::Frame& frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    conn_->Send(std::make_shared<const std::string>(EncodeFrame(frame)));
  }
  void HandleJoin(const protocol::JoinFrame& join)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleChange(const protocol::ChangeFrame& change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  Knobs knobs_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<net::WsConnection> conn_ ABSL_GUARDED_BY(mu_);
  std::vector<protocol::Frame> received_ ABSL_GUARDED_BY(mu_);
  std::vector<uint16_t> close_codes_ ABSL_GUARDED_BY(mu_);
  std::string room_ ABSL_GUARDED_BY(mu_) = "board";
  absl::btree_map<std::string, std::unique_ptr<crdt::Doc>> docs_
      ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
};

void FakeSyncServer::OnMessage(const std::shared_ptr<net::WsConnection>& conn,
                               std::string message) {
  absl::StatusOr<protocol::Frame> frame = protocol::DecodeFrame(message);
  ASSERT_THAT(frame, IsOk());
  absl::MutexLock lock(&mu_);
  conn_ = conn;
  received_.push_back(*frame);
  if (const auto* hello = std::get_if<protocol::HelloFrame>(&*frame)) {
    if (knobs_.refuse_hello.has_value()) {
      SendLocked(
          protocol::ErrorFrame{*knobs_.refuse_hello, "bad token", 1, 0, ""});
      conn->Close(knobs_.hello_close_code, "authentication failed");
    } else if (knobs_.close_hello.has_value()) {
      conn->Close(*knobs_.close_hello, "go away");
    } else if (knobs_.answer_hello) {
      SendLocked(protocol::WelcomeFrame{"session-1", hello->protocol_version,
                                        1 << 20, 16});
    }
  } else if (const auto* join = std::get_if<protocol::JoinFrame>(&*frame)) {
    HandleJoin(*join);
  } else if (const auto* change = std::get_if<protocol::ChangeFrame>(&*frame)) {
    HandleChange(*change);
  } else if (const auto* leave = std::get_if<protocol::LeaveFrame>(&*frame)) {
    SendLocked(protocol::LeftFrame{leave->room});
  }
}

void FakeSyncServer::HandleJoin(const protocol::JoinFrame& join) {
  if (knobs_.refuse_join.has_value()) {
    return SendLocked(protocol::ErrorFrame{*knobs_.refuse_join, "no entry", 2,
                                           join.ref, join.room});
  }
  room_ = join.room;
  bool any_snapshot = false;
  for (const auto& [name, doc] : docs_) {
    const protocol::DocVersion* listed = nullptr;
    for (const auto& v : join.versions) {
      if (v.doc == name) listed = &v;
    }
    if (listed != nullptr && !knobs_.always_snapshot) {
      auto theirs = crdt::VersionVector::Decode(listed->version_vector);
      ASSERT_THAT(theirs, IsOk());
      if (!theirs->Includes(doc->version())) {
        SendLocked(protocol::UpdateFrame{join.room, name, kEpoch, 0,
                                         doc->ChangesSince(*theirs)});
      }
    } else {
      any_snapshot = true;
      SendLocked(
          protocol::SnapshotFrame{join.room, name, doc->EncodeSnapshot()});
    }
  }
  protocol::JoinedFrame joined;
  joined.ref = join.ref;
  joined.room = join.room;
  joined.path = any_snapshot             ? protocol::SyncPath::kSnapshot
                : !join.versions.empty() ? protocol::SyncPath::kVersion
                                         : protocol::SyncPath::kNone;
  joined.epoch = kEpoch;
  joined.seq = seq_;
  joined.access = knobs_.access;
  for (const auto& [name, doc] : docs_) {
    joined.versions.push_back({name, doc->version().Encode()});
  }
  SendLocked(joined);
}

void FakeSyncServer::HandleChange(const protocol::ChangeFrame& change) {
  if (knobs_.refuse_changes.has_value()) {
    return SendLocked(protocol::ErrorFrame{*knobs_.refuse_changes, "refused", 3,
                                           change.client_seq, change.room});
  }
  EXPECT_THAT(DocFor(change.doc).ApplyUpdate(change.update), IsOk());
  ++seq_;
  if (knobs_.ack_changes) {
    SendLocked(
        protocol::AckFrame{change.room, change.client_seq, kEpoch, seq_});
  }
}

class SyncClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_shared<FakeSyncServer>();
    server_ = std::make_unique<net::HttpServer>(
        ioc_,
        [](const net::HttpRequest&) {
          return net::JsonError(404, "not_found", "no such endpoint");
        },
        net::HttpServerOptions{}, fake_);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_THAT(port, IsOk());
    port_ = *port;
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void TearDown() override {
    client_.reset();
    server_->Stop();
    ioc_.stop();
    thread_.join();
    server_.reset();
  }

  SyncClientOptions Options() const {
    SyncClientOptions options;
    options.port = port_;
    options.token = "tok";
    options.replica = kClientReplica;
    options.client_name = "sdk-test";
    options.timeout = absl::Seconds(5);
    return options;
  }

  // Connects client_ with Options().
  void Connect() {
    auto client = SyncClient::Connect(Options());
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
  }

  asio::io_context ioc_;
  std::shared_ptr<FakeSyncServer> fake_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::unique_ptr<SyncClient> client_;
};

TEST_F(SyncClientTest, ConnectSendsHelloAndReturnsAfterWelcome) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_EQ(client_->session_id(), "session-1");
  EXPECT_EQ(client_->replica(), kClientReplica);
  auto hellos = fake_->Received<protocol::HelloFrame>();
  ASSERT_EQ(hellos.size(), 1u);
  EXPECT_EQ(hellos[0].protocol_version, protocol::kProtocolVersion);
  EXPECT_EQ(hellos[0].token, "tok");
  EXPECT_EQ(hellos[0].replica, kClientReplica);
  EXPECT_EQ(hellos[0].client_name, "sdk-test");
  EXPECT_FALSE(client_->closed());
}

TEST_F(SyncClientTest, ZeroReplicaDrawsARandomOne) {
  SyncClientOptions options = Options();
  options.replica = 0;
  auto client = SyncClient::Connect(options);
  ASSERT_THAT(client, IsOk());
  EXPECT_NE((*client)->replica(), 0u);
  EXPECT_EQ(fake_->Received<protocol::HelloFrame>().at(0).replica,
            (*client)->replica());
}

TEST_F(SyncClientTest, JoinLoadsSnapshotAndEditIsAcked) {
  fake_->Edit("shapes", "title", 1, /*push=*/false);  // seq 1
  ASSERT_NO_FATAL_FAILURE(Connect());

  EXPECT_THAT(
      client_->Join("board"),
      IsOkAndHolds(static_cast<uint8_t>(protocol::SyncPath::kSnapshot)));
  auto joins = fake_->Received<protocol::JoinFrame>();
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].epoch, 0u);
  EXPECT_EQ(joins[0].seq, 0u);
  EXPECT_TRUE(joins[0].versions.empty());
  EXPECT_THAT(client_->Json("board", "shapes"), IsOkAndHolds(R"({"title":1})"));
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 1}));

  EXPECT_THAT(client_->Edit("board", "shapes", SetKey("color", 2)),
              IsOkAndHolds(1u));
  // Applied locally at once.
  EXPECT_THAT(client_->Json("board", "shapes"),
              IsOkAndHolds(R"({"color":2,"title":1})"));
  EXPECT_THAT(client_->WaitAcked(kWait), IsOk());
  EXPECT_EQ(fake_->Json("shapes"), R"({"color":2,"title":1})");
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 2}));

  RoomStatus status = client_->room_status("board");
  EXPECT_TRUE(status.joined);
  EXPECT_EQ(status.access, static_cast<uint8_t>(protocol::RoomAccess::kWrite));
  EXPECT_EQ(status.path, static_cast<uint8_t>(protocol::SyncPath::kSnapshot));
  EXPECT_EQ(status.snapshots_since_join, 1u);
  EXPECT_EQ(status.updates_since_join, 0u);
  EXPECT_EQ(status.unacked, 0u);
  SyncClientCounters counters = client_->counters();
  EXPECT_EQ(counters.joined, 1u);
  EXPECT_EQ(counters.snapshots, 1u);
  EXPECT_EQ(counters.acks, 1u);
  EXPECT_EQ(counters.changes_sent, 1u);
  EXPECT_EQ(counters.bad_frames, 0u);
  EXPECT_EQ(client_->unacked(), 0u);
}

TEST_F(SyncClientTest, LiveUpdatesApplyAndAdvanceTheResumePoint) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_THAT(client_->Join("board"),
              IsOkAndHolds(static_cast<uint8_t>(protocol::SyncPath::kNone)));
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 0}));

  fake_->Edit("shapes", "x", 1, /*push=*/true);  // seq 1
  // The predicate reads through an accessor under the lock it runs under.
  EXPECT_THAT(client_->WaitUntil(
                  [&] {
                    return client_->Json("board", "shapes").value_or("") ==
                           R"({"x":1})";
                  },
                  kWait),
              IsOk());
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 1}));

  // Neither a computed catch-up (seq 0) nor another epoch moves it.
  const std::string noop = fake_->NoopUpdate("shapes");
  fake_->Push(protocol::UpdateFrame{"board", "shapes", kEpoch, 0, noop});
  fake_->Push(protocol::UpdateFrame{"board", "shapes", kEpoch + 1, 9, noop});
  fake_->Push(protocol::UpdateFrame{"board", "shapes", kEpoch, 1, noop});
  // A payload the Doc refuses is counted, and does not end the connection.
  fake_->Push(protocol::UpdateFrame{"board", "shapes", kEpoch, 0, "\xff"});
  EXPECT_THAT(client_->WaitUntil(
                  [&] { return client_->counters().updates == 5; }, kWait),
              IsOk());
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 1}));
  EXPECT_EQ(client_->counters().apply_errors, 1u);
  EXPECT_THAT(client_->last_apply_error(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("update of board/shapes (seq 0)")));

  fake_->Edit("shapes", "y", 2, /*push=*/true);  // seq 2
  EXPECT_THAT(
      client_->WaitUntil(
          [&] { return client_->resume_point("board").seq == 2; }, kWait),
      IsOk());
  EXPECT_THAT(client_->Json("board", "shapes"),
              IsOkAndHolds(R"({"x":1,"y":2})"));
  EXPECT_EQ(client_->room_status("board").updates_since_join, 6u);
  EXPECT_FALSE(client_->closed());
}

TEST_F(SyncClientTest, UnknownFrameTypesAreIgnoredAndGarbageIsCounted) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  fake_->PushRaw(std::string("\x92\x63\x01", 3));  // [99, 1]: a later type
  fake_->PushRaw(std::string("\xc1", 1));          // never valid msgpack
  EXPECT_THAT(client_->WaitUntil(
                  [&] { return client_->counters().frames == 3; }, kWait),
              IsOk());  // welcome and the two above
  EXPECT_EQ(client_->counters().bad_frames, 1u);
  EXPECT_FALSE(client_->closed());
}

TEST_F(SyncClientTest, OfflineEditIsMergedIntoSnapshotAndSentAfterJoined) {
  fake_->Edit("shapes", "title", 1, /*push=*/false);
  fake_->set_knobs({.always_snapshot = true});
  ASSERT_NO_FATAL_FAILURE(Connect());

  // Not joined: applies locally, sent by the join.
  EXPECT_THAT(client_->Edit("board", "shapes", SetKey("local", 5)),
              IsOkAndHolds(0u));
  EXPECT_EQ(client_->unacked(), 0u);

  EXPECT_THAT(
      client_->Join("board"),
      IsOkAndHolds(static_cast<uint8_t>(protocol::SyncPath::kSnapshot)));
  auto joins = fake_->Received<protocol::JoinFrame>();
  ASSERT_EQ(joins.size(), 1u);
  ASSERT_EQ(joins[0].versions.size(), 1u);
  EXPECT_EQ(joins[0].versions[0].doc, "shapes");
  // The snapshot did not drop the local edit.
  EXPECT_THAT(client_->Json("board", "shapes"),
              IsOkAndHolds(R"({"local":5,"title":1})"));
  EXPECT_THAT(client_->WaitAcked(kWait), IsOk());
  EXPECT_EQ(fake_->Json("shapes"), R"({"local":5,"title":1})");
  auto changes = fake_->Received<protocol::ChangeFrame>();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].client_seq, 1u);
  EXPECT_EQ(changes[0].doc, "shapes");
  // The local replica keeps this client's replica id after the snapshot.
  EXPECT_THAT(client_->Read("board", "shapes",
                            [](const crdt::Doc& doc) {
                              EXPECT_EQ(doc.replica(), kClientReplica);
                              EXPECT_EQ(doc.version().Get(kClientReplica), 1u);
                            }),
              IsOk());
}

TEST_F(SyncClientTest, RejoinSendsVersionsAndOnlyWhatTheServerLacks) {
  fake_->Edit("shapes", "a", 1, /*push=*/false);  // seq 1
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_THAT(client_->Join("board"), IsOk());
  EXPECT_THAT(client_->Leave("board"), IsOk());
  EXPECT_FALSE(client_->room_status("board").joined);
  EXPECT_THAT(
      client_->Leave("board"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not joined")));

  fake_->Edit("shapes", "b", 2, /*push=*/false);  // seq 2, missed
  EXPECT_THAT(client_->Edit("board", "shapes", SetKey("c", 3)),
              IsOkAndHolds(0u));
  EXPECT_THAT(client_->Join("board"),
              IsOkAndHolds(static_cast<uint8_t>(protocol::SyncPath::kVersion)));
  auto joins = fake_->Received<protocol::JoinFrame>();
  ASSERT_EQ(joins.size(), 2u);
  EXPECT_EQ(joins[1].epoch, kEpoch);
  EXPECT_EQ(joins[1].seq, 1u);
  ASSERT_EQ(joins[1].versions.size(), 1u);
  EXPECT_THAT(client_->Json("board", "shapes"),
              IsOkAndHolds(R"({"a":1,"b":2,"c":3})"));
  EXPECT_EQ(client_->room_status("board").updates_since_join, 1u);
  EXPECT_THAT(client_->WaitAcked(kWait), IsOk());
  EXPECT_EQ(fake_->Json("shapes"), R"({"a":1,"b":2,"c":3})");
  EXPECT_EQ(client_->counters().changes_sent, 1u);
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 3}));
}

TEST_F(SyncClientTest, SetResumePointIsSentByTheNextJoin) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  client_->set_resume_point("board", {kEpoch, 12});
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 12}));
  ASSERT_THAT(client_->Join("board"), IsOk());
  auto joins = fake_->Received<protocol::JoinFrame>();
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].epoch, kEpoch);
  EXPECT_EQ(joins[0].seq, 12u);
  // joined sets it to the server's word.
  EXPECT_EQ(client_->resume_point("board"), (ResumePoint{kEpoch, 0}));
}

TEST_F(SyncClientTest, RefusedChangeCountsAsAnswered) {
  fake_->set_knobs({.refuse_changes = "rate_limited"});
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_THAT(client_->Join("board"), IsOk());
  auto seq = client_->Edit("board", "shapes", SetKey("x", 1));
  ASSERT_THAT(seq, IsOkAndHolds(1u));
  EXPECT_THAT(client_->WaitAcked(kWait), IsOk());
  std::optional<ServerError> error = client_->change_error(*seq);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "rate_limited");
  EXPECT_EQ(error->ref, 1u);
  EXPECT_EQ(error->room, "board");
  ASSERT_TRUE(client_->last_error().has_value());
  EXPECT_EQ(client_->last_error()->code, "rate_limited");
  EXPECT_EQ(client_->counters().errors, 1u);
  EXPECT_FALSE(client_->change_error(2).has_value());
  // Still applied locally.
  EXPECT_THAT(client_->Json("board", "shapes"), IsOkAndHolds(R"({"x":1})"));
}

TEST_F(SyncClientTest, ReadOnlyRoomRefusesEditsLocally) {
  fake_->set_knobs({.access = protocol::RoomAccess::kRead});
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_THAT(client_->Join("board"), IsOk());
  EXPECT_EQ(client_->room_status("board").access,
            static_cast<uint8_t>(protocol::RoomAccess::kRead));
  EXPECT_THAT(
      client_->Edit("board", "shapes", SetKey("x", 1)),
      StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("read-only")));
  EXPECT_THAT(client_->Json("board", "shapes"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("shapes")));
}

TEST_F(SyncClientTest, FailedEditStillSendsWhatItApplied) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_THAT(client_->Join("board"), IsOk());
  auto seq = client_->Edit("board", "shapes", [](crdt::Doc& doc) {
    EXPECT_THAT(doc.MapSet(crdt::kRootId, "x", crdt::Value::Int(1)), IsOk());
    return absl::AbortedError("changed my mind");
  });
  EXPECT_THAT(
      seq, StatusIs(absl::StatusCode::kAborted, HasSubstr("changed my mind")));
  EXPECT_THAT(client_->WaitAcked(kWait), IsOk());
  EXPECT_EQ(fake_->Json("shapes"), R"({"x":1})");
  // An edit that makes no ops sends nothing.
  EXPECT_THAT(client_->Edit("board", "shapes",
                            [](crdt::Doc&) { return absl::OkStatus(); }),
              IsOkAndHolds(0u));
  EXPECT_EQ(client_->counters().changes_sent, 1u);
}

TEST_F(SyncClientTest, ForbiddenJoinIsPermissionDenied) {
  fake_->set_knobs({.refuse_join = "forbidden"});
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_THAT(client_->Join("board"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("forbidden: no entry")));
  EXPECT_FALSE(client_->room_status("board").joined);
}

TEST_F(SyncClientTest, OtherJoinErrorsKeepTheirCode) {
  fake_->set_knobs({.refuse_join = "room_full"});
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_THAT(
      client_->Join("board"),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("room_full")));
}

TEST_F(SyncClientTest, RefusedHelloIsUnauthenticated) {
  fake_->set_knobs({.refuse_hello = "unauthenticated"});
  EXPECT_THAT(
      SyncClient::Connect(Options()),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("bad token")));
}

TEST_F(SyncClientTest, Close4001BeforeWelcomeIsUnauthenticated) {
  fake_->set_knobs({.close_hello = protocol::kCloseAuthFailed});
  EXPECT_THAT(SyncClient::Connect(Options()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("4001")));
}

TEST_F(SyncClientTest, OtherCloseBeforeWelcomeIsUnavailable) {
  fake_->set_knobs({.close_hello = net::kCloseNormal});
  EXPECT_THAT(SyncClient::Connect(Options()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("no welcome: connection closed (1000")));
}

TEST_F(SyncClientTest, ProtocolVersionRefusalIsFailedPrecondition) {
  fake_->set_knobs({.refuse_hello = "protocol_version",
                    .hello_close_code = protocol::kCloseProtocolError});
  EXPECT_THAT(SyncClient::Connect(Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("protocol_version")));
}

TEST_F(SyncClientTest, SilentServerIsDeadlineExceeded) {
  fake_->set_knobs({.answer_hello = false});
  SyncClientOptions options = Options();
  options.timeout = absl::Milliseconds(300);
  EXPECT_THAT(
      SyncClient::Connect(options),
      StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("no welcome")));
}

TEST_F(SyncClientTest, ServerCloseEndsWaitsWithUnavailable) {
  fake_->set_knobs({.ack_changes = false});
  ASSERT_NO_FATAL_FAILURE(Connect());
  ASSERT_THAT(client_->Join("board"), IsOk());
  ASSERT_THAT(client_->Edit("board", "shapes", SetKey("x", 1)),
              IsOkAndHolds(1u));
  fake_->CloseConnection(protocol::kCloseResyncRequired, "fell behind");
  EXPECT_THAT(
      client_->WaitAcked(kWait),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("4002 fell behind")));
  EXPECT_TRUE(client_->closed());
  EXPECT_EQ(client_->close_code(), protocol::kCloseResyncRequired);
  EXPECT_EQ(client_->close_reason(), "fell behind");
  EXPECT_FALSE(client_->room_status("board").joined);
  EXPECT_EQ(client_->unacked(), 1u);
  EXPECT_THAT(client_->Edit("board", "shapes", SetKey("y", 1)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("closed")));
  EXPECT_THAT(client_->Join("board"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("closed")));
  // The local documents stay readable.
  EXPECT_THAT(client_->Json("board", "shapes"), IsOkAndHolds(R"({"x":1})"));
}

TEST_F(SyncClientTest, DestructorClosesNormally) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  client_.reset();
  EXPECT_EQ(fake_->WaitForClose(), net::kCloseNormal);
}

TEST_F(SyncClientTest, WaitUntilTimesOut) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_THAT(
      client_->WaitUntil([] { return false; }, absl::Milliseconds(50)),
      StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("still false")));
  EXPECT_THAT(client_->WaitAcked(absl::Milliseconds(1)), IsOk());
}

TEST(SyncClientConnectTest, ClosedPortIsUnavailableWithinTheTimeout) {
  uint16_t port = 0;
  {
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor(ioc,
                                     {asio::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }  // closed again: nothing listens there now
  SyncClientOptions options;
  options.port = port;
  options.timeout = absl::Seconds(3);
  const absl::Time start = absl::Now();
  EXPECT_THAT(SyncClient::Connect(options),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("127.0.0.1:", port))));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(SyncClientConnectTest, PortZeroIsInvalid) {
  EXPECT_THAT(SyncClient::Connect({}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
}

}  // namespace
}  // namespace lattice::sdk
