// sdk::Client against the real server (engine::Node on 127.0.0.1): offline
// edits on two clients converge, a client restarted on its local store
// delivers its pending edits exactly once, a server restart loses nothing
// acknowledged, auth failures stop the retries, and the token provider is
// asked before every connect.
//
// Oracle: every replica ends with the same JSON, and counters (whose value
// is the number of increments applied) show that each edit counted once.
// The server restarts on the same data directory and port. Backoff is
// short (10-100 ms) so that each test takes well under a few seconds.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "sdk/client.h"
#include "tests/engine/sync_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::lattice::testing::IsOk;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(5);

// Adds 1 to the counter at `key`, created on first use. (Two replicas that
// create the same key concurrently make two counters, one of which wins:
// tests give each writer its own key.)
absl::Status IncrementKey(crdt::Doc& d, const std::string& key) {
  auto counter = d.MapGetContainer(crdt::kRootId, key);
  if (!counter.ok()) {
    counter =
        d.MapSetContainer(crdt::kRootId, key, crdt::ContainerType::kCounter);
  }
  if (!counter.ok()) return counter.status();
  return d.CounterAdd(*counter, 1);
}

absl::Status Increment(crdt::Doc& d) { return IncrementKey(d, "n"); }

absl::Status SetKey(crdt::Doc& d, const std::string& key,
                    const std::string& value) {
  return d.MapSet(crdt::kRootId, key, crdt::Value::String(value));
}

std::string Describe(const std::vector<sdk::ConnectionEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    absl::StrAppend(&out, sdk::ConnectionStateName(e.state), "(", e.close_code,
                    " ", e.reason, " attempt ", e.attempt, ") ");
  }
  return out;
}

// Records connection events (they arrive on the client's executor).
class EventLog {
 public:
  std::function<void(const sdk::ConnectionEvent&)> Callback() {
    return [this](const sdk::ConnectionEvent& e) {
      absl::MutexLock lock(&mu_);
      events_.push_back(e);
    };
  }
  std::vector<sdk::ConnectionEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  int Count(sdk::ConnectionState state) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& e : events_) n += e.state == state;
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<sdk::ConnectionEvent> events_;
};

class SdkOfflineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartNode(0);
    port_ = node_->port();
  }

  void StartNode(uint16_t port) {
    NodeOptions o = TestNodeOptions(server_dir_.path());
    o.port = port;
    o.shutdown_grace = std::chrono::milliseconds(200);
    auto node = Node::Start(o);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }
  void StopNode() {
    node_->Shutdown();
    node_.reset();
  }

  sdk::ClientOptions Options(const std::string& sub,
                             const std::string& data_dir = "") {
    sdk::ClientOptions o;
    o.port = port_;
    o.token = Token(sub, {"board"});
    o.data_dir = data_dir;
    o.backoff = {absl::Milliseconds(10), absl::Milliseconds(100)};
    o.connect_timeout = absl::Seconds(2);
    return o;
  }

  std::unique_ptr<sdk::Client> NewClient(sdk::ClientOptions o) {
    auto c = sdk::Client::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  static sdk::Room JoinBoard(sdk::Client& c) {
    auto room = c.Join("board");
    EXPECT_TRUE(room.ok()) << room.status();
    return *room;
  }

  // Waits until `room`'s document `doc` has JSON `want`.
  static absl::Status WaitJson(sdk::Client& c, const sdk::Room& room,
                               const std::string& doc,
                               const std::string& want) {
    return c.WaitUntil(
        [&] {
          auto j = room.Json(doc);
          return j.ok() && *j == want;
        },
        kWait);
  }

  TempDir server_dir_;
  TempDir client_dir_a_;
  TempDir client_dir_b_;
  std::unique_ptr<Node> node_;
  uint16_t port_ = 0;
};

TEST_F(SdkOfflineTest, ConnectsAndReportsItsState) {
  EventLog log;
  sdk::ClientOptions o = Options("ada");
  o.on_connection = log.Callback();
  auto a = NewClient(std::move(o));
  ASSERT_TRUE(a);
  ASSERT_THAT(
      a->WaitUntil(
          [&] { return log.Count(sdk::ConnectionState::kConnected) == 1; },
          kWait),
      IsOk());
  EXPECT_EQ(a->state(), sdk::ConnectionState::kConnected);
  EXPECT_EQ(a->connections(), 1u);
  EXPECT_FALSE(a->session_id().empty());
  std::vector<sdk::ConnectionEvent> events = log.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].state, sdk::ConnectionState::kConnecting);
  EXPECT_EQ(events[1].state, sdk::ConnectionState::kConnected);

  sdk::Room board = JoinBoard(*a);
  ASSERT_THAT(
      board.Edit("tasks", [](crdt::Doc& d) { return SetKey(d, "t1", "spec"); }),
      IsOk());
  EXPECT_THAT(board.WaitSynced(kWait), IsOk());
  EXPECT_EQ(board.status().pending, 0u);
  EXPECT_NE(board.status().resume.seq, 0u);
}

// Both clients start while the server is down, edit the same document,
// then the server comes up: each gets the other's edits.
TEST_F(SdkOfflineTest, TwoClientsEditOfflineThenConverge) {
  StopNode();
  EventLog log_a;
  sdk::ClientOptions oa = Options("ada", client_dir_a_.path());
  oa.on_connection = log_a.Callback();
  auto a = NewClient(std::move(oa));
  auto b = NewClient(Options("bob", client_dir_b_.path()));
  ASSERT_TRUE(a && b);
  sdk::Room ra = JoinBoard(*a);
  sdk::Room rb = JoinBoard(*b);
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(
        ra.Edit("tasks", [](crdt::Doc& d) { return IncrementKey(d, "na"); }),
        IsOk());
    ASSERT_THAT(
        rb.Edit("tasks", [](crdt::Doc& d) { return IncrementKey(d, "nb"); }),
        IsOk());
  }
  ASSERT_THAT(
      ra.Edit("tasks", [](crdt::Doc& d) { return SetKey(d, "a", "1"); }),
      IsOk());
  ASSERT_THAT(
      rb.Edit("tasks", [](crdt::Doc& d) { return SetKey(d, "b", "2"); }),
      IsOk());
  // Applied locally at once, pending while offline.
  EXPECT_EQ(*ra.Json("tasks"), R"({"a":"1","na":3})");
  EXPECT_EQ(ra.status().pending, 4u);
  // The client keeps retrying with backoff meanwhile.
  ASSERT_THAT(
      a->WaitUntil(
          [&] { return log_a.Count(sdk::ConnectionState::kReconnecting) >= 2; },
          kWait),
      IsOk());
  for (const auto& e : log_a.events()) {
    if (e.state != sdk::ConnectionState::kReconnecting) continue;
    EXPECT_GE(e.attempt, 1u);
    EXPECT_LE(e.delay, absl::Milliseconds(100));
  }

  StartNode(port_);
  const std::string want = R"({"a":"1","b":"2","na":3,"nb":3})";
  EXPECT_THAT(WaitJson(*a, ra, "tasks", want), IsOk())
      << *ra.Json("tasks") << " " << Describe(log_a.events());
  EXPECT_THAT(WaitJson(*b, rb, "tasks", want), IsOk()) << *rb.Json("tasks");
  EXPECT_THAT(ra.WaitSynced(kWait), IsOk());
  EXPECT_THAT(rb.WaitSynced(kWait), IsOk());

  // A third client sees what the server holds: the same.
  auto c = NewClient(Options("cy"));
  ASSERT_TRUE(c);
  sdk::Room rc = JoinBoard(*c);
  EXPECT_THAT(WaitJson(*c, rc, "tasks", want), IsOk()) << *rc.Json("tasks");
}

// A client edits offline and is destroyed; a new one on the same data
// directory (a restarted process) loads the edits and delivers them once
// the server is reachable, exactly once.
TEST_F(SdkOfflineTest, RestartedClientDeliversPendingEditsExactlyOnce) {
  StopNode();
  uint64_t replica = 0;
  {
    auto a = NewClient(Options("ada", client_dir_a_.path()));
    ASSERT_TRUE(a);
    replica = a->replica();
    sdk::Room ra = JoinBoard(*a);
    for (int i = 0; i < 5; ++i)
      ASSERT_THAT(ra.Edit("tasks", Increment), IsOk());
  }
  StartNode(port_);
  auto a = NewClient(Options("ada", client_dir_a_.path()));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->replica(), replica);  // the stored replica id
  sdk::Room ra = JoinBoard(*a);
  EXPECT_EQ(*ra.Json("tasks"), R"({"n":5})");  // loaded before any connect
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());

  // Restart again, connected this time: the resume point and documents
  // come from the store, and nothing is sent twice.
  a.reset();
  a = NewClient(Options("ada", client_dir_a_.path()));
  ASSERT_TRUE(a);
  ra = JoinBoard(*a);
  ASSERT_THAT(ra.Edit("tasks", Increment), IsOk());
  // Destroyed right away: its ack may be lost; the next start resends.
  a.reset();
  a = NewClient(Options("ada", client_dir_a_.path()));
  ASSERT_TRUE(a);
  ra = JoinBoard(*a);
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());

  auto b = NewClient(Options("bob"));
  ASSERT_TRUE(b);
  sdk::Room rb = JoinBoard(*b);
  EXPECT_THAT(WaitJson(*b, rb, "tasks", R"({"n":6})"), IsOk())
      << *rb.Json("tasks");
  EXPECT_EQ(*ra.Json("tasks"), R"({"n":6})");
}

// The server restarts (close 1001) while a client edits: the client
// reconnects by itself, every edit reaches the server once, and what was
// acknowledged before the restart is still there.
TEST_F(SdkOfflineTest, ServerRestartDuringEditsLosesNothing) {
  EventLog log;
  sdk::ClientOptions oa = Options("ada", client_dir_a_.path());
  oa.on_connection = log.Callback();
  auto a = NewClient(std::move(oa));
  auto b = NewClient(Options("bob"));
  ASSERT_TRUE(a && b);
  sdk::Room ra = JoinBoard(*a);
  sdk::Room rb = JoinBoard(*b);
  for (int i = 0; i < 10; ++i) ASSERT_THAT(ra.Edit("tasks", Increment), IsOk());
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());

  std::thread restart([&] {
    StopNode();
    StartNode(port_);
  });
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(ra.Edit("tasks", Increment), IsOk());
    absl::SleepFor(absl::Milliseconds(5));
  }
  restart.join();

  EXPECT_THAT(WaitJson(*b, rb, "tasks", R"({"n":30})"), IsOk())
      << *rb.Json("tasks");
  EXPECT_THAT(ra.WaitSynced(kWait), IsOk());
  EXPECT_EQ(*ra.Json("tasks"), R"({"n":30})");
  EXPECT_GE(a->connections(), 2u);
  // The server said 1001 (going away); the first retry was immediate.
  const std::vector<sdk::ConnectionEvent> events = log.events();
  bool saw_going_away = false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].state != sdk::ConnectionState::kDisconnected) continue;
    EXPECT_TRUE(events[i].will_retry);
    if (events[i].close_code != 1001) continue;
    saw_going_away = true;
    ASSERT_LT(i + 1, events.size());
    EXPECT_EQ(events[i + 1].state, sdk::ConnectionState::kReconnecting);
    EXPECT_EQ(events[i + 1].attempt, 1u);
    EXPECT_EQ(events[i + 1].delay, absl::ZeroDuration());
  }
  EXPECT_TRUE(saw_going_away) << Describe(events);
}

TEST_F(SdkOfflineTest, AuthFailureStopsRetryingUntilReconnect) {
  EventLog log;
  auto good = std::make_shared<std::atomic<bool>>(false);
  sdk::ClientOptions o = Options("ada");
  o.token.clear();
  o.token_provider = [good]() -> absl::StatusOr<std::string> {
    return good->load() ? Token("ada", {"board"}) : std::string("not-a-jwt");
  };
  o.on_connection = log.Callback();
  auto a = NewClient(std::move(o));
  ASSERT_TRUE(a);
  ASSERT_THAT(
      a->WaitUntil(
          [&] { return a->state() == sdk::ConnectionState::kDisconnected; },
          kWait),
      IsOk());
  sdk::ConnectionEvent e = a->last_event();
  EXPECT_FALSE(e.will_retry);
  EXPECT_THAT(e.reason, HasSubstr("unauthenticated"));
  // No retry: still one attempt after many backoff periods.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(log.Count(sdk::ConnectionState::kConnecting), 1);
  EXPECT_EQ(log.Count(sdk::ConnectionState::kReconnecting), 0);

  good->store(true);
  a->Reconnect();
  EXPECT_THAT(
      a->WaitUntil(
          [&] { return a->state() == sdk::ConnectionState::kConnected; },
          kWait),
      IsOk());
}

// The provider runs before every connect; after a server restart the
// session uses the new token (its subject shows in the room's presence).
TEST_F(SdkOfflineTest, TokenRefreshIsUsedOnTheNextConnect) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  sdk::ClientOptions o = Options("unused");
  o.token.clear();
  o.token_provider = [calls]() -> absl::StatusOr<std::string> {
    const int n = ++*calls;
    return Token(absl::StrCat("ada-", n), {"board"});
  };
  auto a = NewClient(std::move(o));
  ASSERT_TRUE(a);
  sdk::Room ra = JoinBoard(*a);
  // The subject of the latest token asked for shows in the presence.
  auto latest_user_present = [&] {
    const std::string user = absl::StrCat("ada-", calls->load());
    for (const auto& e : ra.PresenceEntries()) {
      if (e.identity.user_id == user) return true;
    }
    return false;
  };
  ASSERT_THAT(a->WaitUntil(latest_user_present, kWait), IsOk())
      << ra.PresenceJson();
  EXPECT_EQ(calls->load(), 1);
  StopNode();
  StartNode(port_);
  EXPECT_THAT(
      a->WaitUntil(
          [&] { return a->connections() == 2 && latest_user_present(); },
          kWait),
      IsOk())
      << ra.PresenceJson();
  EXPECT_GE(calls->load(), 2);
  EXPECT_GE(a->connections(), 2u);
}

TEST_F(SdkOfflineTest, ChangeEventsReportRemoteEdits) {
  auto a = NewClient(Options("ada"));
  auto b = NewClient(Options("bob"));
  ASSERT_TRUE(a && b);
  sdk::Room ra = JoinBoard(*a);
  sdk::Room rb = JoinBoard(*b);
  absl::Mutex mu;
  std::vector<sdk::DocChange> seen;
  rb.OnChange([&](const sdk::DocChange& c) {
    absl::MutexLock lock(&mu);
    seen.push_back(c);
  });
  ASSERT_THAT(rb.WaitSynced(kWait), IsOk());
  ASSERT_THAT(
      ra.Edit("tasks", [](crdt::Doc& d) { return SetKey(d, "t", "x"); }),
      IsOk());
  ASSERT_THAT(b->WaitUntil(
                  [&] {
                    absl::MutexLock lock(&mu);
                    for (const auto& c : seen) {
                      for (const auto& e : c.events) {
                        if (!c.local && e.key == "t") return true;
                      }
                    }
                    return false;
                  },
                  kWait),
              IsOk());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen.back().doc, "tasks");
  EXPECT_EQ(seen.back().events[0].kind, crdt::ChangeEvent::Kind::kMapKey);
}

TEST_F(SdkOfflineTest, RunsOnTheCallersIoContext) {
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::thread runner([&] { ioc.run(); });
  {
    auto c = sdk::Client::Create(Options("ada"), ioc);
    ASSERT_TRUE(c.ok()) << c.status();
    sdk::Room room = JoinBoard(**c);
    ASSERT_THAT(room.Edit("tasks", Increment), IsOk());
    EXPECT_THAT(room.WaitSynced(kWait), IsOk());
    // Destroyed with the connection open and the context running.
  }
  work.reset();
  ioc.stop();
  runner.join();
}

TEST_F(SdkOfflineTest, HandlesOutliveTheClient) {
  sdk::Room room = [&] {
    auto a = NewClient(Options("ada"));
    sdk::Room r = JoinBoard(*a);
    EXPECT_THAT(r.Edit("tasks", Increment), IsOk());
    return r;
  }();
  EXPECT_THAT(room.Edit("tasks", Increment),
              ::lattice::testing::StatusIs(
                  absl::StatusCode::kFailedPrecondition, HasSubstr("stopped")));
  EXPECT_EQ(*room.Json("tasks"), R"({"n":1})");
}

}  // namespace
}  // namespace lattice::engine::testing
