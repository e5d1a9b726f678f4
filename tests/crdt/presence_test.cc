// Tests of crdt::Presence. Oracles: LWW per field by (clock, writer) as
// docs/crdt.md ("Presence") states it; convergence means equal ToJson and
// equal EncodeState bytes on every replica after every delta arrived, in
// any order, any number of times; decoders obey the properties of
// tests/fuzz/presence_checks.h on truncated and mutated bytes.
#include "crdt/presence.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "crdt/internal/presence_codec.h"
#include "tests/fuzz/presence_checks.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

absl::Time At(double seconds) { return kT0 + absl::Seconds(seconds); }

Identity Ada() { return Identity{"ada", {{"name", "Ada"}}}; }

internal::DecodedPresence Decode(absl::string_view bytes) {
  auto d = internal::DecodePresence(bytes, PresenceLimits());
  EXPECT_THAT(d.status(), IsOk());
  return d.ok() ? *std::move(d) : internal::DecodedPresence();
}

// Bounded draw independent of the standard library (style.md B6).
uint64_t Draw(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

TEST(Presence, JoinShowsIdentityAndOnline) {
  Presence p(1);
  ASSERT_THAT(p.Join("s1", Ada(), kT0), IsOk());
  auto e = p.Get("s1");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->identity, Ada());
  EXPECT_EQ(e->status, PresenceStatus::kOnline);
  EXPECT_EQ(p.size(), 1u);
  EXPECT_EQ(p.ToJson(),
            R"({"s1":{"user":"ada","display":{"name":"Ada"},"status":"online",)"
            R"("app":{},"clock":2}})");
  EXPECT_THAT(p.SetStatus("nobody", PresenceStatus::kAway, kT0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
  p.CheckInvariants();
}

TEST(Presence, JsonShowsEveryField) {
  Presence p(1);
  ASSERT_THAT(p.Join("s1", Ada(), kT0), IsOk());
  TextAnchor a{"notes", ContainerId{7, 3}, OpId{9, 41}, 17};
  TextAnchor h{"notes", ContainerId{7, 3}, std::nullopt, 20};
  ASSERT_THAT(p.SetCursor("s1", h, kT0), IsOk());
  ASSERT_THAT(p.SetSelection("s1", Selection{a, h}, kT0), IsOk());
  ASSERT_THAT(p.StartTyping("s1", "notes", kT0), IsOk());
  ASSERT_THAT(p.SetStatus("s1", PresenceStatus::kBusy, kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s1", "tool", Value::String("pen"), kT0), IsOk());
  EXPECT_EQ(p.ToJson(),
            R"({"s1":{"user":"ada","display":{"name":"Ada"},"status":"busy",)"
            R"("cursor":{"doc":"notes","container":"7:3","index":20},)"
            R"("selection":{"anchor":{"doc":"notes","container":"7:3",)"
            R"("element":"9:41","index":17},"head":{"doc":"notes",)"
            R"("container":"7:3","index":20}},)"
            R"("typing":{"doc":"notes","expires_at_ms":1700000005000},)"
            R"("app":{"tool":"pen"},"clock":7}})");
}

TEST(Presence, LastWriterWinsPerField) {
  Presence a(1), b(2);
  ASSERT_THAT(a.Join("s", Ada(), kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(a.EncodeDelta(0), kT0), IsOk());
  const uint64_t ga = a.generation(), gb = b.generation();
  // Concurrent: both write the cursor at clock 3; writer 2 wins. A's
  // status write at clock 4 is the only status write and stays.
  ASSERT_THAT(a.SetCursor("s", Point{1, 1}, kT0), IsOk());
  ASSERT_THAT(a.SetStatus("s", PresenceStatus::kAway, kT0), IsOk());
  ASSERT_THAT(b.SetCursor("s", Point{2, 2}, kT0), IsOk());
  const std::string da = a.EncodeDelta(ga), db = b.EncodeDelta(gb);
  ASSERT_THAT(a.ApplyDelta(db, kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(da, kT0), IsOk());
  EXPECT_EQ(a.ToJson(), b.ToJson());
  EXPECT_EQ(a.EncodeState(), b.EncodeState());
  EXPECT_EQ(std::get<Point>(*a.Get("s")->cursor), (Point{2, 2}));
  EXPECT_EQ(a.Get("s")->status, PresenceStatus::kAway);
  // A write that has seen the other's (a higher clock) always wins.
  const uint64_t g = a.generation();
  ASSERT_THAT(a.SetCursor("s", Point{3, 3}, kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(a.EncodeDelta(g), kT0), IsOk());
  EXPECT_EQ(std::get<Point>(*b.Get("s")->cursor), (Point{3, 3}));
  // Applying again, or an older delta, changes nothing.
  const std::string before = b.EncodeState();
  const uint64_t gen = b.generation();
  ASSERT_THAT(b.ApplyDelta(a.EncodeDelta(g), kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(da, kT0), IsOk());
  EXPECT_EQ(b.EncodeState(), before);
  EXPECT_EQ(b.generation(), gen);
}

TEST(Presence, CursorMoveDeltaCarriesOnlyTheCursor) {
  Presence p(1);
  ASSERT_THAT(p.Join("s1", Ada(), kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s1", "tool", Value::String("pen"), kT0), IsOk());
  const uint64_t g = p.generation();
  ASSERT_THAT(p.SetCursor("s1", Point{10, 20}, kT0), IsOk());
  ASSERT_THAT(p.SetCursor("s1", Point{11, 21}, kT0), IsOk());  // coalesced
  EXPECT_THAT(p.ChangesSince(g),
              ElementsAre(SessionChange{"s1", false, kPresenceCursor, {}}));
  const std::string delta = p.EncodeDelta(g);
  // version, kind, 1 session, "s1", no removal (2), 1 field: tag, stamp
  // (2), present, kind, two doubles.
  EXPECT_EQ(delta.size(), 2u + 1 + 3 + 2 + 1 + 1 + 2 + 1 + 1 + 16);
  internal::DecodedPresence d = Decode(delta);
  ASSERT_EQ(d.sessions.size(), 1u);
  ASSERT_EQ(d.sessions[0].fields.size(), 1u);
  EXPECT_EQ(d.sessions[0].fields[0].first.tag, internal::FieldTag::kCursor);
  EXPECT_EQ(std::get<Cursor>(*d.sessions[0].fields[0].second.value),
            Cursor(Point{11, 21}));
  // An equal write is no change; nothing changed is an empty delta.
  const uint64_t g2 = p.generation();
  ASSERT_THAT(p.SetCursor("s1", Point{11, 21}, kT0), IsOk());
  EXPECT_EQ(p.generation(), g2);
  EXPECT_TRUE(Decode(p.EncodeDelta(g2)).sessions.empty());
  EXPECT_LT(p.EncodeDelta(g2).size(), 4u);
}

TEST(Presence, GetAppFieldReadsOneFieldOfALiveEntry) {
  Presence p(1);
  ASSERT_THAT(p.Join("s1", Ada(), kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s1", "tool", Value::String("pen"), kT0), IsOk());
  EXPECT_EQ(p.GetAppField("s1", "tool"), Value::String("pen"));
  EXPECT_EQ(p.GetAppField("s1", "color"), std::nullopt);
  EXPECT_EQ(p.GetAppField("s2", "tool"), std::nullopt);
  ASSERT_THAT(p.DeleteAppField("s1", "tool", kT0), IsOk());
  EXPECT_EQ(p.GetAppField("s1", "tool"), std::nullopt);
  ASSERT_THAT(p.SetAppField("s1", "tool", Value::Int(3), kT0), IsOk());
  ASSERT_THAT(p.Leave("s1", kT0), IsOk());
  EXPECT_EQ(p.GetAppField("s1", "tool"), std::nullopt);
}

TEST(Presence, TombstoneBeatsLateUpdate) {
  Presence a(1), b(2);
  ASSERT_THAT(a.Join("s", Ada(), kT0), IsOk());
  const std::string join = a.EncodeDelta(0);
  uint64_t g = a.generation();
  ASSERT_THAT(a.SetCursor("s", Point{1, 2}, kT0), IsOk());
  const std::string move = a.EncodeDelta(g);
  g = a.generation();
  ASSERT_THAT(a.Leave("s", kT0), IsOk());
  const std::string leave = a.EncodeDelta(g);
  EXPECT_THAT(a.ChangesSince(g), ElementsAre(SessionChange{"s", true, 0, {}}));
  // B sees the removal before the join and the move.
  ASSERT_THAT(b.ApplyDelta(leave, kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(move, kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(join, kT0), IsOk());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.tombstones(), 1u);
  EXPECT_EQ(b.ToJson(), "{}");
  EXPECT_EQ(a.EncodeState(), b.EncodeState());
  // A write to the removed session is refused; a new join starts above
  // the tombstone and wins everywhere.
  EXPECT_THAT(a.SetCursor("s", Point{0, 0}, kT0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"s\"")));
  g = a.generation();
  ASSERT_THAT(a.Join("s", Ada(), kT0), IsOk());
  ASSERT_THAT(b.ApplyDelta(a.EncodeDelta(g), kT0), IsOk());
  EXPECT_EQ(b.size(), 1u);
  EXPECT_FALSE(b.Get("s")->cursor.has_value());
  EXPECT_EQ(a.ToJson(), b.ToJson());
}

// docs/crdt.md, "Presence", worked example, step by step.
TEST(Presence, DocsWorkedExample) {
  Presence s(1), c(2);
  ASSERT_THAT(s.Join("s1", Ada(), At(0)), IsOk());
  EXPECT_EQ(s.generation(), 1u);
  ASSERT_THAT(s.SetCursor("s1", Point{10, 20}, At(1)), IsOk());
  ASSERT_THAT(c.ApplyDelta(s.EncodeDelta(0), At(1)), IsOk());
  ASSERT_THAT(s.SetCursor("s1", Point{11, 21}, At(2)), IsOk());
  const std::string stale = s.EncodeDelta(2);
  ASSERT_THAT(s.SetCursor("s1", Point{12, 22}, At(2)), IsOk());
  EXPECT_EQ(s.generation(), 4u);
  const std::string moves = s.EncodeDelta(2);
  EXPECT_EQ(moves.size(), 30u);
  internal::DecodedPresence d = Decode(moves);
  ASSERT_EQ(d.sessions.size(), 1u);
  ASSERT_EQ(d.sessions[0].fields.size(), 1u);
  EXPECT_EQ(d.sessions[0].fields[0].second.stamp, (internal::Stamp{5, 1}));
  ASSERT_THAT(s.StartTyping("s1", "notes", At(3)), IsOk());
  EXPECT_EQ(s.Get("s1")->typing->expires_at, At(8));
  EXPECT_THAT(s.Expire(At(8)), ElementsAre());
  EXPECT_FALSE(s.Get("s1")->typing.has_value());
  EXPECT_EQ(s.Get("s1")->clock, 7u);
  EXPECT_THAT(s.Expire(At(33)), ElementsAre("s1"));
  EXPECT_EQ(s.generation(), 7u);
  ASSERT_THAT(c.ApplyDelta(s.EncodeDelta(4), At(33)), IsOk());
  ASSERT_THAT(c.ApplyDelta(stale, At(34)), IsOk());
  EXPECT_EQ(c.ToJson(), "{}");
  EXPECT_EQ(s.ToJson(), "{}");
  EXPECT_EQ(c.EncodeState(), s.EncodeState());
}

// K replicas write random fields of shared sessions; deltas are delivered
// partially while they work, then all of them to everyone, shuffled and
// duplicated. Oracle: equal JSON and state bytes everywhere.
void RunConvergence(uint64_t seed, int replicas) {
  SCOPED_TRACE(absl::StrFormat("seed %d, %d replicas", seed, replicas));
  std::mt19937_64 rng(seed);
  std::vector<std::unique_ptr<Presence>> ps;
  std::vector<uint64_t> seen(static_cast<size_t>(replicas), 0);
  for (int i = 0; i < replicas; ++i) {
    ps.push_back(std::make_unique<Presence>(static_cast<ReplicaId>(i + 1)));
  }
  const std::vector<std::string> sessions = {"a", "b", "c", "d"};
  std::vector<std::string> deltas;
  for (int step = 0; step < 400; ++step) {
    Presence& p = *ps[Draw(rng, ps.size())];
    const std::string& s = sessions[Draw(rng, sessions.size())];
    const absl::Time now = At(static_cast<double>(step) / 10);
    absl::Status st;
    switch (Draw(rng, 10)) {
      case 0:
        st = p.Join(
            s, Identity{absl::StrCat(s, "-user"), {{"n", absl::StrCat(step)}}},
            now);
        break;
      case 1:
        st = Draw(rng, 3) == 0 ? p.Leave(s, now) : absl::OkStatus();
        break;
      case 2:
        st = p.SetStatus(s, static_cast<PresenceStatus>(Draw(rng, 4)), now);
        break;
      case 3:
        st = p.SetCursor(s,
                         Point{static_cast<double>(Draw(rng, 100)),
                               static_cast<double>(step)},
                         now);
        break;
      case 4:
        st = p.SetCursor(
            s, TextAnchor{"doc", ContainerId{1, 2}, OpId{3, Draw(rng, 9)}, 0},
            now);
        break;
      case 5:
        st = Draw(rng, 2) ? p.ClearCursor(s, now) : p.ClearSelection(s, now);
        break;
      case 6:
        st = p.SetSelection(
            s, Selection{Point{0, 0}, Point{1, static_cast<double>(step)}},
            now);
        break;
      case 7:
        st = Draw(rng, 2) ? p.StartTyping(s, "doc", now) : p.StopTyping(s, now);
        break;
      case 8:
        st = p.SetAppField(s, absl::StrCat("k", Draw(rng, 3)),
                           Value::Int(static_cast<int64_t>(step)), now);
        break;
      default:
        st = p.DeleteAppField(s, absl::StrCat("k", Draw(rng, 3)), now);
        break;
    }
    ASSERT_TRUE(st.ok() || st.code() == absl::StatusCode::kNotFound) << st;
    // Replicas emit their deltas now and then; a few get delivered.
    for (size_t i = 0; i < ps.size(); ++i) {
      if (Draw(rng, 4) != 0) continue;
      deltas.push_back(ps[i]->EncodeDelta(seen[i]));
      seen[i] = ps[i]->generation();
    }
    if (!deltas.empty() && Draw(rng, 2) == 0) {
      Presence& to = *ps[Draw(rng, ps.size())];
      ASSERT_THAT(to.ApplyDelta(deltas[Draw(rng, deltas.size())], now), IsOk());
    }
  }
  for (size_t i = 0; i < ps.size(); ++i) {
    deltas.push_back(ps[i]->EncodeDelta(seen[i]));
  }
  for (auto& p : ps) {
    std::vector<std::string> order = deltas;
    for (size_t i = 0; i < deltas.size() / 4; ++i) {
      order.push_back(deltas[Draw(rng, deltas.size())]);  // duplicates
    }
    std::shuffle(order.begin(), order.end(), rng);
    for (const std::string& d : order) {
      ASSERT_THAT(p->ApplyDelta(d, At(100)), IsOk());
    }
    p->CheckInvariants();
  }
  for (auto& p : ps) {
    EXPECT_EQ(p->ToJson(), ps[0]->ToJson());
    EXPECT_EQ(p->EncodeState(), ps[0]->EncodeState());
  }
  EXPECT_GT(ps[0]->size() + ps[0]->tombstones(), 0u);
}

TEST(PresenceConvergence, RandomFieldUpdatesInRandomOrder) {
  uint64_t seed = 20261122;
  if (const char* env = std::getenv("LATTICE_PRESENCE_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  }
  for (uint64_t i = 0; i < 6; ++i) {
    RunConvergence(seed + i, 3 + static_cast<int>(i % 3));
  }
}

TEST(Presence, TtlExpiryWithFakeClock) {
  Presence p(1);
  ASSERT_THAT(p.Join("a", Ada(), At(0)), IsOk());
  ASSERT_THAT(p.Join("b", Ada(), At(0)), IsOk());
  ASSERT_THAT(p.Touch("a", At(20)), IsOk());  // heartbeat: no change
  const uint64_t g = p.generation();
  EXPECT_TRUE(p.ChangesSince(g).empty());
  EXPECT_THAT(p.Expire(At(29.9)), ElementsAre());
  EXPECT_THAT(p.Expire(At(30)), ElementsAre("b"));
  EXPECT_THAT(p.ChangesSince(g), ElementsAre(SessionChange{"b", true, 0, {}}));
  EXPECT_THAT(p.Expire(At(49.9)), ElementsAre());
  EXPECT_THAT(p.Expire(At(50)), ElementsAre("a"));
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.tombstones(), 2u);
  // Tombstones go after tombstone_ttl (60 s) past the removal.
  p.Expire(At(89.9));
  EXPECT_EQ(p.tombstones(), 2u);
  p.Expire(At(90));
  EXPECT_EQ(p.tombstones(), 1u);
  p.Expire(At(110));
  EXPECT_EQ(p.tombstones(), 0u);
  p.CheckInvariants();
}

TEST(Presence, TypingStopsAfterTimeoutUnlessRenewed) {
  Presence p(1);
  ASSERT_THAT(p.Join("s", Ada(), At(0)), IsOk());
  ASSERT_THAT(p.StartTyping("s", "notes", At(0)), IsOk());
  ASSERT_THAT(p.StartTyping("s", "notes", At(3)), IsOk());  // renewal
  EXPECT_EQ(p.Get("s")->typing->expires_at, At(8));
  p.Expire(At(7.9));
  EXPECT_TRUE(p.Get("s")->typing.has_value());
  const uint64_t g = p.generation();
  p.Expire(At(8));
  EXPECT_FALSE(p.Get("s")->typing.has_value());
  EXPECT_THAT(p.ChangesSince(g),
              ElementsAre(SessionChange{"s", false, kPresenceTyping, {}}));
  // A change to another document leaves typing on; to that one stops it.
  ASSERT_THAT(p.StartTyping("s", "notes", At(9)), IsOk());
  ASSERT_THAT(p.StopTypingIn("s", "other", At(9)), IsOk());
  EXPECT_TRUE(p.Get("s")->typing.has_value());
  ASSERT_THAT(p.StopTypingIn("s", "notes", At(9)), IsOk());
  EXPECT_FALSE(p.Get("s")->typing.has_value());
  // Leaving clears it with the entry.
  ASSERT_THAT(p.StartTyping("s", "notes", At(10)), IsOk());
  ASSERT_THAT(p.Leave("s", At(10)), IsOk());
  EXPECT_FALSE(p.Get("s").has_value());
}

TEST(Presence, StateRoundTripsAndResetsSlowMembers) {
  Presence p(1);
  fuzz::presence_checks_internal::Populate(p, nullptr);
  const std::string state = p.EncodeState();
  Presence q(2);
  ASSERT_THAT(q.LoadState(state, kT0), IsOk());
  EXPECT_EQ(q.EncodeState(), state);
  EXPECT_EQ(q.ToJson(), p.ToJson());
  // Loaded entries expire unless their sessions come back.
  ASSERT_THAT(q.Touch("ada-1", At(25)), IsOk());
  EXPECT_THAT(q.Expire(At(30)), ElementsAre("bob-1"));
  // Deltas from before the load are a reset (a state message).
  EXPECT_EQ(q.EncodeDelta(0)[1], 1);
  EXPECT_THAT(q.LoadState(p.EncodeDelta(0), kT0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected a state")));
  // A state message removes the receiver's sessions it does not name.
  Presence r(3);
  ASSERT_THAT(r.Join("stale", Ada(), kT0), IsOk());
  ASSERT_THAT(r.ApplyDelta(state, kT0), IsOk());
  EXPECT_FALSE(r.Get("stale").has_value());
  EXPECT_EQ(r.ToJson(), p.ToJson());
}

TEST(Presence, DroppedTombstoneTurnsDeltasIntoState) {
  PresenceLimits limits;
  limits.max_tombstones = 2;
  Presence p(1, limits);
  for (const char* s : {"a", "b", "c", "d"}) {
    ASSERT_THAT(p.Join(s, Ada(), kT0), IsOk());
  }
  const uint64_t g = p.generation();
  for (const char* s : {"a", "b", "c"}) ASSERT_THAT(p.Leave(s, kT0), IsOk());
  EXPECT_EQ(p.tombstones(), 2u);      // "a" dropped: oldest first
  EXPECT_EQ(p.EncodeDelta(g)[1], 1);  // a state: "a"'s removal is gone
  const uint64_t g2 = p.generation();
  ASSERT_THAT(p.SetStatus("d", PresenceStatus::kAway, kT0), IsOk());
  EXPECT_EQ(p.EncodeDelta(g2)[1], 0);
  // A receiver that missed the removals catches up through the state.
  Presence q(2, limits);
  for (const char* s : {"a", "b", "c", "d"}) {
    ASSERT_THAT(q.Join(s, Ada(), kT0), IsOk());
  }
  ASSERT_THAT(q.ApplyDelta(p.EncodeDelta(g), kT0), IsOk());
  EXPECT_EQ(q.ToJson(), p.ToJson());
}

TEST(PresenceLimits, LocalWritesAreBounded) {
  PresenceLimits limits;
  limits.max_entries = 2;
  limits.max_app_fields = 2;
  limits.max_display_fields = 1;
  limits.max_field_bytes = 8;
  limits.max_session_id_bytes = 4;
  Presence p(1, limits);
  EXPECT_THAT(p.Join("toolong", Ada(), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("session id of 7 bytes exceeds limit 4")));
  EXPECT_THAT(p.Join("", Ada(), kT0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("empty session id")));
  EXPECT_THAT(p.Join("s", Identity{"ada", {{"a", "1"}, {"b", "2"}}}, kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("2 display fields exceed limit 1")));
  EXPECT_THAT(p.Join("s", Identity{"a-very-long-user", {}}, kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("user id of 16 bytes exceeds limit 8")));
  EXPECT_THAT(p.Join("s", Identity{"\xff", {}}, kT0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("user id is not valid utf-8")));
  ASSERT_THAT(p.Join("s", Ada(), kT0), IsOk());
  ASSERT_THAT(p.Join("t", Ada(), kT0), IsOk());
  EXPECT_THAT(p.Join("u", Ada(), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("2 sessions, the limit")));
  EXPECT_THAT(
      p.SetCursor("s", Point{std::nan(""), 0}, kT0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));
  EXPECT_THAT(
      p.SetAppField("s", "k", Value::NewContainer(ContainerType::kMap), kT0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a scalar")));
  EXPECT_THAT(p.SetAppField("s", "k", Value::String("123456789"), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("app field k of 9 bytes exceeds limit 8")));
  ASSERT_THAT(p.SetAppField("s", "k1", Value::Int(1), kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k2", Value::Int(2), kT0), IsOk());
  EXPECT_THAT(p.SetAppField("s", "k3", Value::Int(3), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("2 app fields, the limit")));
  // A deleted key's register makes room for a new one.
  ASSERT_THAT(p.DeleteAppField("s", "k1", kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k3", Value::Int(3), kT0), IsOk());
  EXPECT_EQ(p.Get("s")->app.size(), 2u);
  p.CheckInvariants();
}

TEST(PresenceLimits, DeltaToKnownSessionsIsStillAllOrNothing) {
  PresenceLimits limits;
  limits.max_app_fields = 2;
  Presence p(1);
  Presence q(2, limits);
  ASSERT_THAT(p.Join("s", Ada(), kT0), IsOk());
  ASSERT_THAT(p.Join("t", Ada(), kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k1", Value::Int(1), kT0), IsOk());
  ASSERT_THAT(q.ApplyDelta(p.EncodeDelta(0), kT0), IsOk());
  // Known sessions and an existing key.
  const uint64_t g = p.generation();
  ASSERT_THAT(p.SetCursor("t", Point{1, 2}, kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k1", Value::Int(5), kT0), IsOk());
  ASSERT_THAT(q.ApplyDelta(p.EncodeDelta(g), kT0), IsOk());
  EXPECT_EQ(q.ToJson(), p.ToJson());
  // Two new keys take s past q's limit: t's move in the same delta is
  // refused with them.
  const uint64_t g2 = p.generation();
  const uint64_t q_generation = q.generation();
  const std::string before = q.ToJson();
  ASSERT_THAT(p.SetCursor("t", Point{3, 4}, kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k2", Value::Int(2), kT0), IsOk());
  ASSERT_THAT(p.SetAppField("s", "k3", Value::Int(3), kT0), IsOk());
  EXPECT_THAT(q.ApplyDelta(p.EncodeDelta(g2), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("3 app fields")));
  EXPECT_EQ(q.ToJson(), before);
  EXPECT_EQ(q.generation(), q_generation);
  q.CheckInvariants();
}

TEST(PresenceLimits, DecodedBytesAreBounded) {
  Presence big(1);
  for (const char* s : {"a", "b", "c"}) {
    ASSERT_THAT(big.Join(s, Ada(), kT0), IsOk());
  }
  PresenceLimits limits;
  limits.max_entries = 2;
  limits.max_tombstones = 0;
  Presence small(2, limits);
  EXPECT_THAT(small.ApplyDelta(big.EncodeState(), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("decode presence: 3 sessions exceed limit 2 "
                                 "at byte 2")));
  limits.max_tombstones = 5;
  Presence roomy(3, limits);
  EXPECT_THAT(roomy.ApplyDelta(big.EncodeState(), kT0),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("applying would make 3 sessions, limit 2")));
  EXPECT_EQ(roomy.size(), 0u);
  EXPECT_EQ(roomy.generation(), 0u);
  limits = PresenceLimits();
  limits.max_field_bytes = 2;
  Presence tight(4, limits);
  EXPECT_THAT(
      tight.ApplyDelta(big.EncodeDelta(0), kT0),
      StatusIs(absl::StatusCode::kResourceExhausted,
               HasSubstr("user id of 3 bytes exceeds limit 2 at byte")));
  EXPECT_THAT(tight.ApplyDelta(std::string("\x02\x00\x00", 3), kT0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown format version 2 at byte 1")));
}

TEST(PresenceDecode, TruncatedAndMutatedBytesNeverCrash) {
  const std::vector<std::string> seeds = fuzz::SeedPresenceEncodings();
  ASSERT_GE(seeds.size(), 5u);
  std::mt19937_64 rng(7);
  int checked = 0;
  for (const std::string& seed : seeds) {
    EXPECT_EQ(fuzz::CheckPresenceBytes(seed), "");
    for (size_t n = 0; n < seed.size(); ++n) {
      const std::string cut = seed.substr(0, n);
      ASSERT_EQ(fuzz::CheckPresenceBytes(cut), "") << n;
      Presence p(9);
      EXPECT_FALSE(p.ApplyDelta(cut, kT0).ok()) << "prefix " << n;
      ++checked;
    }
    for (int m = 0; m < 150; ++m) {
      std::string bad = seed;
      for (uint64_t k = 0, flips = 1 + Draw(rng, 3); k < flips; ++k) {
        bad[Draw(rng, bad.size())] = static_cast<char>(rng());
      }
      ASSERT_EQ(fuzz::CheckPresenceBytes(bad), "") << m;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}

// Checks the seeds of presence_decode_fuzzer and, with
// LATTICE_WRITE_PRESENCE_CORPUS=DIR, writes them (and one mutant each):
//   LATTICE_WRITE_PRESENCE_CORPUS=tests/fuzz/corpus/presence_decode_fuzzer
//     build/<dir>/tests/crdt/crdt_presence_test
//     --gtest_filter=PresenceSeedCorpus.*   (one command line)
TEST(PresenceSeedCorpus, SeedsKeepTheFuzzerProperty) {
  const std::vector<std::string> seeds = fuzz::SeedPresenceEncodings();
  std::vector<std::pair<std::string, std::string>> files;
  std::mt19937_64 rng(20261122);
  for (size_t i = 0; i < seeds.size(); ++i) {
    files.emplace_back(absl::StrFormat("seed-%02d", i), seeds[i]);
    std::string mut = seeds[i];
    if (!mut.empty()) mut[Draw(rng, mut.size())] ^= 0x5a;
    files.emplace_back(absl::StrFormat("mut-%02d", i), mut);
  }
  for (const auto& [name, bytes] : files) {
    EXPECT_EQ(fuzz::CheckPresenceBytes(bytes), "") << name;
  }
  const char* dir = std::getenv("LATTICE_WRITE_PRESENCE_CORPUS");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : files) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out << bytes;
    ASSERT_TRUE(out.good()) << name;
  }
}

// Two writers (nodes) that each own the sessions of one prefix, and a
// third replica that hears both through EncodeSessions: it holds everyone,
// never loses one writer's sessions to the other's messages, and keeps an
// entry alive as long as its writer keeps naming it.
TEST(Presence, EncodeSessionsCarriesOneWritersSessionsAndNeverAState) {
  Presence n1(11), n2(12), n3(13);
  ASSERT_THAT(n1.Join("n1-a", Ada(), kT0), IsOk());
  ASSERT_THAT(n1.SetCursor("n1-a", Point{1, 2}, kT0), IsOk());
  ASSERT_THAT(n2.Join("n2-b", Identity{"bob", {}}, kT0), IsOk());
  // n1 also holds n2's session; it must not send it on.
  ASSERT_THAT(n1.ApplyDelta(n2.EncodeSessions(0, "n2-"), kT0), IsOk());
  EXPECT_EQ(n1.size(), 2u);
  const std::string from_n1 = n1.EncodeSessions(0, "n1-");
  internal::DecodedPresence d = Decode(from_n1);
  EXPECT_EQ(d.kind, internal::PresenceMessageKind::kDelta);
  ASSERT_EQ(d.sessions.size(), 1u);
  EXPECT_EQ(d.sessions[0].session, "n1-a");
  EXPECT_EQ(n1.EncodeSessions(0, "n9-"), "");
  EXPECT_EQ(n1.EncodeSessions(n1.generation(), "n1-"), "");

  ASSERT_THAT(n3.ApplyDelta(n2.EncodeSessions(0, "n2-"), kT0), IsOk());
  ASSERT_THAT(n3.ApplyDelta(from_n1, kT0), IsOk());
  EXPECT_EQ(n3.size(), 2u);  // n1's message did not remove n2's session
  // A cursor move: only the moved field, from the generation before it.
  const uint64_t before = n1.generation();
  ASSERT_THAT(n1.SetCursor("n1-a", Point{5, 6}, At(1)), IsOk());
  d = Decode(n1.EncodeSessions(before, "n1-"));
  ASSERT_EQ(d.sessions.size(), 1u);
  EXPECT_EQ(d.sessions[0].fields.size(), 1u);
  ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(before, "n1-"), At(1)), IsOk());
  EXPECT_EQ(std::get<Point>(*n3.Get("n1-a")->cursor), (Point{5, 6}));

  // n1 keeps naming its session (a heartbeat resends it unchanged); n2
  // goes silent. Past the TTL only n2's entry expires on n3.
  ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(0, "n1-"), At(25)), IsOk());
  EXPECT_THAT(n3.Expire(At(31)), ElementsAre("n2-b"));
  EXPECT_TRUE(n3.Get("n1-a").has_value());
  // A leave reaches n3 as the tombstone.
  const uint64_t g = n1.generation();
  ASSERT_THAT(n1.Leave("n1-a", At(32)), IsOk());
  ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(g, "n1-"), At(32)), IsOk());
  EXPECT_FALSE(n3.Get("n1-a").has_value());
}

// A partition: n3 stops hearing n1 and expires n1's session (a removal n3
// stamps itself). n1 reasserts its sessions when it is back; its next
// heartbeat then wins over that removal, whatever the writer ids.
TEST(Presence, ReassertBeatsARemovalMadeDuringAPartition) {
  for (ReplicaId remote : {ReplicaId{5}, ReplicaId{50}}) {
    Presence n1(11), n3(remote);
    ASSERT_THAT(n1.Join("n1-a", Ada(), kT0), IsOk());
    ASSERT_THAT(n1.SetStatus("n1-a", PresenceStatus::kBusy, kT0), IsOk());
    ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(0, "n1-"), kT0), IsOk());
    EXPECT_THAT(n3.Expire(At(30)), ElementsAre("n1-a"));
    // Without reasserting, the unchanged heartbeat is older than the
    // removal.
    ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(0, "n1-"), At(31)), IsOk());
    EXPECT_FALSE(n3.Get("n1-a").has_value());
    EXPECT_EQ(n1.Reassert("n1-"), 1u);
    EXPECT_EQ(n1.Reassert("n9-"), 0u);
    ASSERT_THAT(n3.ApplyDelta(n1.EncodeSessions(0, "n1-"), At(32)), IsOk());
    auto back = n3.Get("n1-a");
    ASSERT_TRUE(back.has_value()) << remote;
    EXPECT_EQ(back->status, PresenceStatus::kBusy);
    EXPECT_EQ(back->identity, Ada());
    n1.CheckInvariants();
    n3.CheckInvariants();
  }
}

}  // namespace
}  // namespace lattice::crdt
