// sdk::Client's presence helpers against the real server. Oracle: what a
// second client sees in the room's presence (entries by user id), which is
// what the server relayed: the latest cursor, typing that stops by itself,
// away after inactivity and back on activity, presence events, and app
// fields.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sdk/client.h"
#include "tests/engine/sync_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::lattice::testing::IsOk;

constexpr absl::Duration kWait = absl::Seconds(5);

class SdkPresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto node = Node::Start(TestNodeOptions(dir_.path()));
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  std::unique_ptr<sdk::Client> NewClient(
      const std::string& sub,
      absl::Duration away_after = absl::ZeroDuration()) {
    sdk::ClientOptions o;
    o.port = node_->port();
    o.token = Token(sub, {"board"});
    o.backoff = {absl::Milliseconds(10), absl::Milliseconds(100)};
    o.typing_timeout = absl::Milliseconds(300);
    o.away_after = away_after;
    auto c = sdk::Client::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // The presence entry of `user` as `room` last received it.
  static std::optional<crdt::PresenceEntry> EntryOf(const sdk::Room& room,
                                                    const std::string& user) {
    for (auto& e : room.PresenceEntries()) {
      if (e.identity.user_id == user) return e;
    }
    return std::nullopt;
  }

  TempDir dir_;
  std::unique_ptr<Node> node_;
};

TEST_F(SdkPresenceTest, CursorIsThrottledAndTheLatestWins) {
  auto a = NewClient("ada");
  auto b = NewClient("bob");
  ASSERT_TRUE(a && b);
  sdk::Room ra = *a->Join("board");
  sdk::Room rb = *b->Join("board");
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());
  ASSERT_THAT(
      b->WaitUntil([&] { return EntryOf(rb, "ada").has_value(); }, kWait),
      IsOk());
  absl::Mutex mu;
  int cursor_changes = 0;
  rb.OnPresence([&](const std::vector<crdt::SessionChange>& changes) {
    absl::MutexLock lock(&mu);
    for (const auto& c : changes) {
      cursor_changes += (c.fields & crdt::kPresenceCursor) != 0;
    }
  });
  // 100 moves in well under a throttle period's worth of sends each.
  for (int i = 1; i <= 100; ++i) {
    ra.SetCursor(crdt::Point{static_cast<double>(i), 2.0 * i});
  }
  const crdt::Cursor last = crdt::Point{100, 200};
  EXPECT_THAT(b->WaitUntil(
                  [&] {
                    auto e = EntryOf(rb, "ada");
                    return e.has_value() && e->cursor == last;
                  },
                  kWait),
              IsOk())
      << rb.PresenceJson();
  absl::MutexLock lock(&mu);
  // Throttled at the source: a handful of frames, not 100.
  EXPECT_GE(cursor_changes, 1);
  EXPECT_LE(cursor_changes, 5);
}

TEST_F(SdkPresenceTest, TypingStopsByItself) {
  auto a = NewClient("ada");
  auto b = NewClient("bob");
  ASSERT_TRUE(a && b);
  sdk::Room ra = *a->Join("board");
  sdk::Room rb = *b->Join("board");
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());
  ra.StartTyping("notes");
  ASSERT_THAT(b->WaitUntil(
                  [&] {
                    auto e = EntryOf(rb, "ada");
                    return e.has_value() && e->typing.has_value() &&
                           e->typing->doc == "notes";
                  },
                  kWait),
              IsOk())
      << rb.PresenceJson();
  // typing_timeout is 300 ms here; the server's own is 5 s.
  const absl::Time start = absl::Now();
  EXPECT_THAT(b->WaitUntil(
                  [&] {
                    auto e = EntryOf(rb, "ada");
                    return e.has_value() && !e->typing.has_value();
                  },
                  kWait),
              IsOk())
      << rb.PresenceJson();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(SdkPresenceTest, AwayAfterInactivityAndBackOnActivity) {
  auto a = NewClient("ada", absl::Milliseconds(200));
  auto b = NewClient("bob");
  ASSERT_TRUE(a && b);
  sdk::Room ra = *a->Join("board");
  sdk::Room rb = *b->Join("board");
  auto status_is = [&](crdt::PresenceStatus s) {
    return [&rb, s] {
      auto e = EntryOf(rb, "ada");
      return e.has_value() && e->status == s;
    };
  };
  EXPECT_THAT(b->WaitUntil(status_is(crdt::PresenceStatus::kAway), kWait),
              IsOk())
      << rb.PresenceJson();
  a->NoteActivity();
  EXPECT_THAT(b->WaitUntil(status_is(crdt::PresenceStatus::kOnline), kWait),
              IsOk())
      << rb.PresenceJson();
  // A chosen status is kept through inactivity.
  ra.SetStatus(crdt::PresenceStatus::kBusy);
  EXPECT_THAT(b->WaitUntil(status_is(crdt::PresenceStatus::kBusy), kWait),
              IsOk())
      << rb.PresenceJson();
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_TRUE(status_is(crdt::PresenceStatus::kBusy)());
}

// App fields reach the others with their kind (1.0 stays a double, also
// through the wire codec), clear, come back after the server restarts (the
// client re-sends them on rejoin), and the server's limits are the
// caller's errors.
TEST_F(SdkPresenceTest, AppFieldsKeepTheirKindClearAndSurviveARestart) {
  auto a = NewClient("ada");
  auto b = NewClient("bob");
  ASSERT_TRUE(a && b);
  sdk::Room ra = *a->Join("board");
  sdk::Room rb = *b->Join("board");
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());
  ASSERT_THAT(ra.SetAppField("zoom", crdt::Value::Double(1.0)), IsOk());
  ASSERT_THAT(ra.SetAppField("count", crdt::Value::Int(1)), IsOk());
  ASSERT_THAT(ra.SetAppField("color", crdt::Value::String("#ff0")), IsOk());
  auto app_of_ada = [&] {
    auto e = EntryOf(rb, "ada");
    return e.has_value() ? e->app : absl::btree_map<std::string, crdt::Value>();
  };
  ASSERT_THAT(b->WaitUntil([&] { return app_of_ada().size() == 3; }, kWait),
              IsOk())
      << rb.PresenceJson();
  auto app = app_of_ada();
  EXPECT_EQ(app.at("zoom"), crdt::Value::Double(1.0));
  EXPECT_EQ(app.at("zoom").kind(), crdt::Value::Kind::kDouble);
  EXPECT_EQ(app.at("count"), crdt::Value::Int(1));
  EXPECT_EQ(app.at("color"), crdt::Value::String("#ff0"));

  ra.ClearAppField("color");
  ASSERT_THAT(b->WaitUntil([&] { return app_of_ada().size() == 2; }, kWait),
              IsOk())
      << rb.PresenceJson();
  EXPECT_FALSE(app_of_ada().contains("color"));

  // Refused before anything is sent.
  const auto invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(ra.SetAppField("", crdt::Value::Int(1)).code(), invalid);
  EXPECT_EQ(ra.SetAppField(std::string(257, 'k'), crdt::Value::Int(1)).code(),
            invalid);
  EXPECT_EQ(ra.SetAppField("x", crdt::Value::Null()).code(), invalid);
  EXPECT_EQ(ra.SetAppField("x", crdt::Value::Double(std::nan(""))).code(),
            invalid);
  EXPECT_EQ(
      ra.SetAppField("x", crdt::Value::String(std::string(257, 'v'))).code(),
      invalid);
  EXPECT_EQ(ra.SetAppField("x", crdt::Value::String("\xff")).code(), invalid);
  for (int i = 0; i < 14; ++i) {
    ASSERT_THAT(ra.SetAppField(absl::StrCat("f", i), crdt::Value::Int(i)),
                IsOk());
  }
  EXPECT_EQ(ra.SetAppField("one-too-many", crdt::Value::Int(0)).code(),
            invalid);
  EXPECT_THAT(ra.SetAppField("zoom", crdt::Value::Double(2.5)), IsOk())
      << "replacing one of the 16 is fine";
  ASSERT_THAT(b->WaitUntil([&] { return app_of_ada().size() == 16; }, kWait),
              IsOk())
      << rb.PresenceJson();

  // After a restart both clients rejoin as new sessions, and ada's sends
  // what it keeps. The old sessions' entries come back from the server's
  // checkpoint until their TTL; a new session must not take one of their
  // ids (ids counted from 1 in every run did, and bob's entry could then
  // show ada's old fields).
  absl::flat_hash_set<std::string> old_sessions;
  for (const crdt::PresenceEntry& e : rb.PresenceEntries()) {
    old_sessions.insert(e.session);
  }
  ASSERT_EQ(old_sessions.size(), 2u);
  const uint16_t port = node_->port();
  node_->Shutdown();
  node_.reset();
  NodeOptions o = TestNodeOptions(dir_.path());
  o.port = port;
  auto node = Node::Start(o);
  ASSERT_TRUE(node.ok()) << node.status();
  node_ = *std::move(node);
  auto new_entry = [&](const std::string& user) {
    std::optional<crdt::PresenceEntry> found;
    for (crdt::PresenceEntry& e : rb.PresenceEntries()) {
      if (e.identity.user_id == user && !old_sessions.contains(e.session)) {
        found = std::move(e);
      }
    }
    return found;
  };
  ASSERT_THAT(b->WaitUntil(
                  [&] {
                    auto ada = new_entry("ada");
                    return ada.has_value() && ada->app.size() == 16 &&
                           ada->app.at("zoom") == crdt::Value::Double(2.5) &&
                           new_entry("bob").has_value();
                  },
                  absl::Seconds(20)),
              IsOk())
      << rb.PresenceJson();
  EXPECT_TRUE(new_entry("bob")->app.empty()) << rb.PresenceJson();
}

// A graceful stop checkpoints the sessions connected at that moment. After
// the restart each user who comes back replaces their entries from before
// it (their own old cursor must not linger beside the new one), and the
// entry of a user who does not come back stays, cursor and all, until its
// TTL.
TEST_F(SdkPresenceTest, ReturningUsersReplaceTheirEntriesFromBeforeARestart) {
  auto a = NewClient("ada");
  auto b = NewClient("bob");
  auto c = NewClient("cy");
  ASSERT_TRUE(a && b && c);
  sdk::Room ra = *a->Join("board");
  sdk::Room rb = *b->Join("board");
  sdk::Room rc = *c->Join("board");
  // Only a room with a log has its presence checkpointed.
  ASSERT_THAT(ra.Edit("notes",
                      [](crdt::Doc& d) {
                        return d.MapSet(crdt::kRootId, "k",
                                        crdt::Value::Int(1));
                      }),
              IsOk());
  ASSERT_THAT(ra.WaitSynced(kWait), IsOk());
  ra.SetCursor(crdt::Point{1, 2});
  rc.SetCursor(crdt::Point{7, 8});
  ASSERT_THAT(b->WaitUntil(
                  [&] {
                    auto ada = EntryOf(rb, "ada");
                    auto cy = EntryOf(rb, "cy");
                    return ada && ada->cursor && cy && cy->cursor &&
                           EntryOf(rb, "bob");
                  },
                  kWait),
              IsOk())
      << rb.PresenceJson();
  absl::flat_hash_map<std::string, std::string> old_session;  // by user
  for (const crdt::PresenceEntry& e : rb.PresenceEntries()) {
    old_session[e.identity.user_id] = e.session;
  }
  ASSERT_EQ(old_session.size(), 3u);

  const uint16_t port = node_->port();
  node_->Shutdown();
  node_.reset();
  c.reset();  // cy does not come back
  NodeOptions o = TestNodeOptions(dir_.path());
  o.port = port;
  auto node = Node::Start(o);
  ASSERT_TRUE(node.ok()) << node.status();
  node_ = *std::move(node);

  // Exactly three entries: ada's and bob's new ones, cy's old one. Before
  // the returning users replaced theirs, their old entries stayed for the
  // whole TTL (30 s here, longer than this wait).
  auto settled = [&] {
    std::vector<crdt::PresenceEntry> entries = rb.PresenceEntries();
    if (entries.size() != 3) return false;
    for (const crdt::PresenceEntry& e : entries) {
      const bool old = e.session == old_session[e.identity.user_id];
      if (old != (e.identity.user_id == "cy")) return false;
    }
    return true;
  };
  ASSERT_THAT(b->WaitUntil(settled, absl::Seconds(20)), IsOk())
      << rb.PresenceJson();
  EXPECT_EQ(EntryOf(rb, "cy")->cursor, crdt::Cursor(crdt::Point{7, 8}));
  ASSERT_THAT(
      b->WaitUntil([&] { return EntryOf(rb, "ada")->cursor.has_value(); },
                   kWait),
      IsOk())
      << "ada's client sends its cursor again on rejoin";
  EXPECT_EQ(EntryOf(rb, "ada")->cursor, crdt::Cursor(crdt::Point{1, 2}));
}

}  // namespace
}  // namespace lattice::engine::testing
