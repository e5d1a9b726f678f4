// Semantics of single containers and of two replicas merging: the worked
// examples of docs/crdt.md are the oracle.
#include "crdt/doc.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Applies everything `from` has that `to` lacks.
void Sync(const Doc& from, Doc& to) {
  ASSERT_THAT(to.ApplyUpdate(from.ChangesSince(to.version())), IsOk());
}

void SyncBoth(Doc& a, Doc& b) {
  Sync(a, b);
  Sync(b, a);
}

std::string Json(const Doc& d) { return *d.ToJson(); }

TEST(Doc, MapSetGetDeleteAndJson) {
  Doc d(1);
  ASSERT_THAT(d.MapSet(kRootId, "title", Value::String("plan")), IsOk());
  ASSERT_THAT(d.MapSet(kRootId, "n", Value::Int(-3)), IsOk());
  ASSERT_THAT(d.MapSet(kRootId, "pi", Value::Double(3.25)), IsOk());
  ASSERT_THAT(d.MapSet(kRootId, "ok", Value::Bool(true)), IsOk());
  ASSERT_THAT(
      d.MapSet(kRootId, "raw", Value::Bytes(std::string("\x00\xff", 2))),
      IsOk());
  ASSERT_THAT(d.MapSet(kRootId, "none", Value::Null()), IsOk());
  EXPECT_THAT(d.MapGet(kRootId, "n"), IsOkAndHolds(Value::Int(-3)));
  ASSERT_THAT(d.MapDelete(kRootId, "ok"), IsOk());
  EXPECT_THAT(d.MapGet(kRootId, "ok"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ok")));
  EXPECT_EQ(
      Json(d),
      R"({"n":-3,"none":null,"pi":3.25,"raw":{"$bytes":"AP8="},"title":"plan"})");
  EXPECT_THAT(d.MapKeys(kRootId),
              IsOkAndHolds(ElementsAre("n", "none", "pi", "raw", "title")));
}

TEST(Doc, NestedContainersExportAsJson) {
  Doc d(1);
  auto tasks = d.MapSetContainer(kRootId, "tasks", ContainerType::kList);
  ASSERT_THAT(tasks, IsOk());
  auto task = d.ListInsertContainer(*tasks, 0, ContainerType::kMap);
  ASSERT_THAT(task, IsOk());
  ASSERT_THAT(d.MapSet(*task, "done", Value::Bool(false)), IsOk());
  auto title = d.MapSetContainer(*task, "title", ContainerType::kText);
  ASSERT_THAT(d.TextInsert(*title, 0, "héllo \"x\"\n"), IsOk());
  auto likes = d.MapSetContainer(*task, "likes", ContainerType::kCounter);
  ASSERT_THAT(d.CounterAdd(*likes, 5), IsOk());
  ASSERT_THAT(d.CounterAdd(*likes, -2), IsOk());
  ASSERT_THAT(d.ListInsert(*tasks, 1, Value::Int(7)), IsOk());
  EXPECT_EQ(
      Json(d),
      R"({"tasks":[{"done":false,"likes":3,"title":"héllo \"x\"\n"},7]})");
  EXPECT_THAT(d.MapGetContainer(kRootId, "tasks"), IsOkAndHolds(*tasks));
  EXPECT_THAT(d.ListGetContainer(*tasks, 0), IsOkAndHolds(*task));
  EXPECT_THAT(d.ToJson(*task), IsOkAndHolds(HasSubstr("\"likes\":3")));
  d.CheckInvariants();
}

TEST(Doc, LocalEditErrorsAreStatuses) {
  Doc d(1);
  auto text = d.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(d.TextInsert(*text, 0, "abc"), IsOk());
  EXPECT_THAT(d.TextInsert(*text, 4, "x"),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("4")));
  EXPECT_THAT(d.TextDelete(*text, 2, 2),
              StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  EXPECT_THAT(d.TextInsert(*text, 0, "\xff"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("utf-8")));
  EXPECT_THAT(
      d.ListInsert(*text, 0, Value::Int(1)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is a text")));
  EXPECT_THAT(d.MapSet({9, 9}, "k", Value::Int(1)),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(d.MapSet(kRootId, "k", Value::NewContainer(ContainerType::kMap)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(d.GetText(*text), IsOkAndHolds("abc"));
}

TEST(Doc, TextEditsAndCodePoints) {
  Doc d(1);
  auto t = *d.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(d.TextInsert(t, 0, "hello world"), IsOk());
  ASSERT_THAT(d.TextDelete(t, 5, 6), IsOk());
  ASSERT_THAT(d.TextInsert(t, 0, "😀 "), IsOk());  // one code point + space
  EXPECT_THAT(d.Length(t), IsOkAndHolds(7u));
  EXPECT_THAT(d.GetText(t), IsOkAndHolds("😀 hello"));
  ASSERT_THAT(d.TextInsert(t, 7, "!"), IsOk());
  ASSERT_THAT(d.TextDelete(t, 0, 1), IsOk());
  EXPECT_THAT(d.GetText(t), IsOkAndHolds(" hello!"));
  d.CheckInvariants();
}

// Oracle: a plain string edited the same way. Edits are biased like typing
// (runs at a cursor, backspaces, forward deletes, jumps, pastes) so that the
// sequence's gap buffer fills, moves within a chunk, closes when an edit
// lands in another chunk and survives chunk splits, snapshots (which read
// the content) and remote edits; the invariants hold after every edit.
TEST(Doc, TypingAnywhereMatchesAStringModel) {
  std::mt19937_64 rng(7);
  auto below = [&](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  Doc d(1);
  Doc peer(2);
  auto t = *d.MapSetContainer(kRootId, "t", ContainerType::kText);
  Sync(d, peer);
  std::string model;
  uint64_t cursor = 0;
  for (int step = 0; step < 6000; ++step) {
    const uint64_t r = below(100);
    if (r < 3) {  // jump
      cursor = below(model.size() + 1);
    } else if (r < 60 || model.empty()) {  // type (sometimes paste)
      std::string s(r < 55 ? 1 : 1 + below(40), 'a');
      for (char& ch : s) ch = static_cast<char>('a' + below(26));
      ASSERT_THAT(d.TextInsert(t, cursor, s), IsOk());
      model.insert(cursor, s);
      cursor += s.size();
    } else if (r < 85) {  // backspace
      if (cursor == 0) continue;
      const uint64_t n = std::min<uint64_t>(cursor, r < 83 ? 1 : 1 + below(9));
      ASSERT_THAT(d.TextDelete(t, cursor - n, n), IsOk());
      model.erase(cursor - n, n);
      cursor -= n;
    } else if (r < 97) {  // forward delete
      if (cursor == model.size()) continue;
      const uint64_t n =
          std::min<uint64_t>(model.size() - cursor, 1 + below(3));
      ASSERT_THAT(d.TextDelete(t, cursor, n), IsOk());
      model.erase(cursor, n);
    } else if (r < 98) {  // a snapshot reads every chunk's content
      auto loaded = Doc::LoadSnapshot(3, d.EncodeSnapshot());
      ASSERT_THAT(loaded, IsOk());
      EXPECT_THAT((*loaded)->GetText(t), IsOkAndHolds(model));
    } else {  // a concurrent edit from the peer, merged both ways
      d.Commit();
      Sync(d, peer);
      const uint64_t len = *peer.Length(t);
      ASSERT_THAT(peer.TextInsert(t, below(len + 1), "XY"), IsOk());
      peer.Commit();
      Sync(peer, d);
      auto text = d.GetCodePoints(t);
      ASSERT_THAT(text, IsOk());
      model.assign(text->begin(), text->end());
      cursor = std::min<uint64_t>(cursor, model.size());
    }
    d.CheckInvariants();
    ASSERT_THAT(d.GetText(t), IsOkAndHolds(model)) << "step " << step;
  }
  d.Commit();
  SyncBoth(d, peer);
  EXPECT_THAT(peer.GetText(t), IsOkAndHolds(model));
  EXPECT_EQ(peer.EncodeSnapshot(), d.EncodeSnapshot());
}

TEST(Doc, ObserverReportsLocalAndRemoteChanges) {
  Doc a(1), b(2);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(a.TextInsert(t, 0, "abcdef"), IsOk());
  a.Commit();
  Sync(a, b);
  std::vector<ChangeEvent> seen;
  b.SetObserver([&](const std::vector<ChangeEvent>& events) {
    seen.insert(seen.end(), events.begin(), events.end());
  });
  ASSERT_THAT(a.TextDelete(t, 1, 2), IsOk());
  ASSERT_THAT(a.TextInsert(t, 4, "XY"), IsOk());
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::Int(1)), IsOk());
  ASSERT_THAT(b.ApplyUpdate(a.Commit()), IsOk());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kind, ChangeEvent::Kind::kDelete);
  EXPECT_EQ(seen[0].index, 1u);
  EXPECT_EQ(seen[0].length, 2u);
  EXPECT_EQ(seen[1].kind, ChangeEvent::Kind::kInsert);
  EXPECT_EQ(seen[1].index, 4u);
  EXPECT_EQ(seen[1].length, 2u);
  EXPECT_EQ(seen[2].kind, ChangeEvent::Kind::kMapKey);
  EXPECT_EQ(seen[2].key, "k");
  EXPECT_FALSE(seen[2].local);
  seen.clear();
  ASSERT_THAT(b.CounterAdd(
                  *b.MapSetContainer(kRootId, "c", ContainerType::kCounter), 4),
              IsOk());
  b.Commit();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].local);
  EXPECT_EQ(seen[1].delta, 4);
}

// ---- Merging ---------------------------------------------------------------

TEST(Merge, MapConcurrentSetsLastWriterWinsByLamportThenReplica) {
  Doc a(1), b(2);
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::String("a")), IsOk());
  ASSERT_THAT(b.MapSet(kRootId, "k", Value::String("b")), IsOk());
  a.Commit();
  b.Commit();
  SyncBoth(a, b);
  // Equal Lamport (1): the higher replica id wins.
  EXPECT_THAT(a.MapGet(kRootId, "k"), IsOkAndHolds(Value::String("b")));
  EXPECT_EQ(Json(a), Json(b));
  // A set that has seen the other wins regardless of replica.
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::String("a2")), IsOk());
  a.Commit();
  SyncBoth(a, b);
  EXPECT_THAT(b.MapGet(kRootId, "k"), IsOkAndHolds(Value::String("a2")));
}

TEST(Merge, ConcurrentSetAndDeleteLaterLamportWins) {
  Doc a(1), b(2);
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::Int(1)), IsOk());
  a.Commit();
  SyncBoth(a, b);
  // a deletes (lamport 2); b sets twice (lamports 2, 3): b's later set wins.
  ASSERT_THAT(a.MapDelete(kRootId, "k"), IsOk());
  ASSERT_THAT(b.MapSet(kRootId, "k", Value::Int(2)), IsOk());
  ASSERT_THAT(b.MapSet(kRootId, "k", Value::Int(3)), IsOk());
  a.Commit();
  b.Commit();
  SyncBoth(a, b);
  EXPECT_THAT(a.MapGet(kRootId, "k"), IsOkAndHolds(Value::Int(3)));
  EXPECT_EQ(Json(a), Json(b));
  // Now a delete that has seen the set wins.
  ASSERT_THAT(b.MapDelete(kRootId, "k"), IsOk());
  b.Commit();
  SyncBoth(a, b);
  EXPECT_THAT(a.MapGet(kRootId, "k"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(Merge, ConcurrentContainerCreationAtOneKeyIsDeterministic) {
  Doc a(1), b(2);
  auto la = *a.MapSetContainer(kRootId, "col", ContainerType::kList);
  auto lb = *b.MapSetContainer(kRootId, "col", ContainerType::kList);
  ASSERT_THAT(a.ListInsert(la, 0, Value::String("from a")), IsOk());
  ASSERT_THAT(b.ListInsert(lb, 0, Value::String("from b")), IsOk());
  a.Commit();
  b.Commit();
  SyncBoth(a, b);
  EXPECT_EQ(Json(a), R"({"col":["from b"]})");
  EXPECT_EQ(Json(a), Json(b));
  // Ops into the losing container still apply (and stay invisible).
  ASSERT_THAT(a.ListInsert(la, 1, Value::String("late")), IsOk());
  a.Commit();
  SyncBoth(a, b);
  EXPECT_EQ(Json(b), R"({"col":["from b"]})");
  EXPECT_EQ(a.EncodeSnapshot(), b.EncodeSnapshot());
}

TEST(Merge, CounterSumsConcurrentIncrements) {
  Doc a(1), b(2);
  auto c = *a.MapSetContainer(kRootId, "likes", ContainerType::kCounter);
  a.Commit();
  SyncBoth(a, b);
  for (int i = 0; i < 10; ++i) ASSERT_THAT(a.CounterAdd(c, 1), IsOk());
  ASSERT_THAT(b.CounterAdd(c, 100), IsOk());
  ASSERT_THAT(b.CounterAdd(c, -1), IsOk());
  a.Commit();
  b.Commit();
  SyncBoth(a, b);
  EXPECT_THAT(a.CounterValue(c), IsOkAndHolds(109));
  EXPECT_THAT(b.CounterValue(c), IsOkAndHolds(109));
}

// The classic interleaving cases: concurrent runs typed at one position end
// up one after the other, never mixed character by character.
TEST(Merge, ConcurrentForwardTypingDoesNotInterleave) {
  for (ReplicaId ra : {1, 5}) {
    Doc a(ra), b(3);
    auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
    ASSERT_THAT(a.TextInsert(t, 0, "[]"), IsOk());
    a.Commit();
    Sync(a, b);
    // Each types a word one key at a time at position 1.
    for (int i = 0; i < 5; ++i) {
      ASSERT_THAT(a.TextInsert(t, 1 + static_cast<uint64_t>(i),
                               std::string(1, "hello"[i])),
                  IsOk());
      ASSERT_THAT(b.TextInsert(t, 1 + static_cast<uint64_t>(i),
                               std::string(1, "WORLD"[i])),
                  IsOk());
    }
    a.Commit();
    b.Commit();
    SyncBoth(a, b);
    EXPECT_THAT(a.GetText(t),
                IsOkAndHolds(AnyOf("[helloWORLD]", "[WORLDhello]")));
    EXPECT_EQ(*a.GetText(t), *b.GetText(t));
    EXPECT_EQ(a.EncodeSnapshot(), b.EncodeSnapshot());
  }
}

TEST(Merge, ThreeWayConcurrentInsertsAtOnePositionConverge) {
  Doc a(1), b(2), c(3);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(a.TextInsert(t, 0, "<>"), IsOk());
  a.Commit();
  Sync(a, b);
  Sync(a, c);
  ASSERT_THAT(a.TextInsert(t, 1, "aaa"), IsOk());
  ASSERT_THAT(b.TextInsert(t, 1, "bbb"), IsOk());
  ASSERT_THAT(c.TextInsert(t, 1, "ccc"), IsOk());
  std::string ua = a.Commit(), ub = b.Commit(), uc = c.Commit();
  // Deliver in different orders.
  ASSERT_THAT(a.ApplyUpdate(uc), IsOk());
  ASSERT_THAT(a.ApplyUpdate(ub), IsOk());
  ASSERT_THAT(b.ApplyUpdate(ua), IsOk());
  ASSERT_THAT(b.ApplyUpdate(uc), IsOk());
  ASSERT_THAT(c.ApplyUpdate(ub), IsOk());
  ASSERT_THAT(c.ApplyUpdate(ua), IsOk());
  EXPECT_THAT(a.GetText(t), IsOkAndHolds("<aaabbbccc>"));
  EXPECT_EQ(*b.GetText(t), *a.GetText(t));
  EXPECT_EQ(*c.GetText(t), *a.GetText(t));
  EXPECT_EQ(b.EncodeSnapshot(), a.EncodeSnapshot());
  EXPECT_EQ(c.EncodeSnapshot(), a.EncodeSnapshot());
}

TEST(Merge, ConcurrentDeleteAndInsertInsideDeletedRange) {
  Doc a(1), b(2);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(a.TextInsert(t, 0, "abcdef"), IsOk());
  a.Commit();
  Sync(a, b);
  ASSERT_THAT(a.TextDelete(t, 1, 4), IsOk());     // "af"
  ASSERT_THAT(b.TextInsert(t, 3, "XY"), IsOk());  // "abcXYdef"
  a.Commit();
  b.Commit();
  SyncBoth(a, b);
  EXPECT_THAT(a.GetText(t), IsOkAndHolds("aXYf"));
  EXPECT_THAT(b.GetText(t), IsOkAndHolds("aXYf"));
}

// ---- Sync
// ----------------------------------------------------------------------

TEST(Sync, OutOfOrderUpdatesWaitInPendingThenApply) {
  Doc a(1), b(2);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  std::string u1 = a.Commit();
  ASSERT_THAT(a.TextInsert(t, 0, "abc"), IsOk());
  std::string u2 = a.Commit();
  ASSERT_THAT(a.TextDelete(t, 1, 1), IsOk());
  std::string u3 = a.Commit();
  auto r = b.ApplyUpdate(u3);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->ops_applied, 0u);
  EXPECT_EQ(b.pending_ops(), 1u);
  EXPECT_THAT(b.PendingDebugString(), HasSubstr("1:4"));
  ASSERT_THAT(b.ApplyUpdate(u2), IsOk());
  EXPECT_EQ(b.pending_ops(), 2u);
  r = b.ApplyUpdate(u1);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->ops_applied, 3u);
  EXPECT_EQ(b.pending_ops(), 0u);
  EXPECT_THAT(b.GetText(t), IsOkAndHolds("ac"));
  EXPECT_EQ(a.EncodeSnapshot(), b.EncodeSnapshot());
}

TEST(Sync, PendingBufferIsBounded) {
  Doc a(1);
  DocOptions options;
  options.max_pending_ops = 2;
  Doc b(2, options);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  a.Commit();
  std::vector<std::string> updates;
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(a.MapSet(kRootId, absl::StrCat("k", i), Value::Int(i)), IsOk());
    updates.push_back(a.Commit());
  }
  ASSERT_THAT(b.ApplyUpdate(updates[1]), IsOk());
  ASSERT_THAT(b.ApplyUpdate(updates[2]), IsOk());
  EXPECT_THAT(b.ApplyUpdate(updates[3]),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("pending buffer full")));
  EXPECT_EQ(b.pending_ops(), 2u);
  (void)t;
}

TEST(Sync, ChangesSinceSendsExactlyWhatIsMissing) {
  Doc a(1), b(2);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(a.TextInsert(t, 0, "hello"), IsOk());
  a.Commit();
  Sync(a, b);
  const std::string before = b.EncodeSnapshot();
  // Nothing missing: applying changes-since is a no-op.
  auto r = b.ApplyUpdate(a.ChangesSince(b.version()));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->ops_applied, 0u);
  EXPECT_EQ(b.EncodeSnapshot(), before);
  ASSERT_THAT(a.TextInsert(t, 5, " world"), IsOk());
  a.Commit();
  std::string delta = a.ChangesSince(b.version());
  r = b.ApplyUpdate(delta);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->ops_applied, 1u);  // one run
  EXPECT_THAT(b.GetText(t), IsOkAndHolds("hello world"));
  EXPECT_LT(delta.size(), 30u);
}

TEST(Sync, SupersededMapWritesTravelAsSkips) {
  Doc a(1), b(2);
  for (int i = 0; i < 100; ++i)
    ASSERT_THAT(a.MapSet(kRootId, "k", Value::Int(i)), IsOk());
  a.Commit();
  std::string all = a.ChangesSince({});
  EXPECT_LT(all.size(), 20u);
  ASSERT_THAT(b.ApplyUpdate(all), IsOk());
  EXPECT_EQ(b.version(), a.version());
  EXPECT_THAT(b.MapGet(kRootId, "k"), IsOkAndHolds(Value::Int(99)));
}

TEST(Sync, MalformedUpdateIsInvalidArgumentAndChangesNothing) {
  Doc a(1);
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::Int(1)), IsOk());
  std::string u = a.Commit();
  Doc b(2);
  EXPECT_THAT(
      b.ApplyUpdate(u.substr(0, u.size() - 1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("decode update")));
  EXPECT_THAT(b.ApplyUpdate(std::string("\x07", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("format version 7")));
  EXPECT_TRUE(b.version().empty());
}

TEST(Sync, OpContradictingTheDocumentIsRefused) {
  Doc a(1), b(2);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  a.Commit();
  Sync(a, b);
  // c thinks the container is a map: c is a replica with a forged doc.
  Doc c(3);
  ASSERT_THAT(c.ApplyUpdate(a.ChangesSince({})), IsOk());
  auto forged = c.MapSetContainer(kRootId, "m", ContainerType::kMap);
  ASSERT_THAT(forged, IsOk());
  c.Commit();
  // Rewrite: a counter add aimed at the text container.
  Doc d(4);
  ASSERT_THAT(d.ApplyUpdate(a.ChangesSince({})), IsOk());
  auto ctr = d.MapSetContainer(kRootId, "c", ContainerType::kCounter);
  ASSERT_THAT(d.CounterAdd(*ctr, 1), IsOk());
  std::string ok_update = d.Commit();
  ASSERT_THAT(b.ApplyUpdate(ok_update), IsOk());
  EXPECT_THAT(b.ToJson(), IsOkAndHolds(R"({"c":1,"t":""})"));
  (void)t;
}

TEST(Snapshot, RoundTripsAndContinuesEditing) {
  Doc a(1);
  auto t = *a.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_THAT(a.TextInsert(t, 0, "hello brave new world"), IsOk());
  ASSERT_THAT(a.TextDelete(t, 6, 6), IsOk());
  auto l = *a.MapSetContainer(kRootId, "l", ContainerType::kList);
  auto m = *a.ListInsertContainer(l, 0, ContainerType::kMap);
  ASSERT_THAT(a.MapSet(m, "x", Value::Double(0.5)), IsOk());
  ASSERT_THAT(a.ListInsert(l, 1, Value::Int(2)), IsOk());
  ASSERT_THAT(a.ListDelete(l, 0, 1), IsOk());  // deleted element holds a map
  a.Commit();
  std::string snap = a.EncodeSnapshot();
  auto b = Doc::LoadSnapshot(2, snap);
  ASSERT_THAT(b, IsOk());
  (*b)->CheckInvariants();
  EXPECT_EQ(Json(**b), Json(a));
  EXPECT_EQ((*b)->EncodeSnapshot(), snap);
  EXPECT_EQ((*b)->version(), a.version());
  // Both continue; a third replica syncing from the loaded one converges.
  ASSERT_THAT((*b)->TextInsert(t, 0, ">"), IsOk());
  (*b)->Commit();
  ASSERT_THAT(a.TextInsert(t, 15, "!"), IsOk());
  a.Commit();
  SyncBoth(a, **b);
  Doc c(3);
  Sync(**b, c);
  EXPECT_THAT(c.GetText(t), IsOkAndHolds(">hello new world!"));
  EXPECT_EQ(c.EncodeSnapshot(), a.EncodeSnapshot());
  // The deleted map's id is still known, so ops into it apply.
  EXPECT_THAT(c.TypeOf(m), IsOkAndHolds(ContainerType::kMap));
}

TEST(Snapshot, DecodeErrorsSayWhatAndWhere) {
  Doc a(1);
  ASSERT_THAT(a.MapSet(kRootId, "k", Value::Int(1)), IsOk());
  a.Commit();
  std::string snap = a.EncodeSnapshot();
  EXPECT_THAT(Doc::LoadSnapshot(2, snap.substr(0, snap.size() - 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decode snapshot")));
  EXPECT_THAT(Doc::LoadSnapshot(2, "\x03"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("format version 3")));
  EXPECT_THAT(Doc::LoadSnapshot(2, snap + "x"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trailing bytes")));
}

}  // namespace
}  // namespace lattice::crdt
