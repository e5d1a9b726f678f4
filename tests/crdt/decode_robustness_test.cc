// Decoders against hostile bytes: random buffers and mutations (bit flips,
// truncations, insertions, byte replacements, spliced slices) of valid
// updates and snapshots, thousands of each with fixed seeds.
//
// Oracle: the contracts of Doc::ApplyUpdate and Doc::LoadSnapshot. Every
// input returns OK or an error Status of a documented code, never crashes
// or hangs (ctest's timeout and the sanitizers catch those); a doc that took
// the bytes keeps its invariants, exports JSON and round-trips its snapshot
// (tests/fuzz/decode_checks.h, the same checks the libFuzzer targets run).
// The mutants must also reach past the header: a good share of them decode,
// otherwise the test would only exercise the first error path.
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "crdt/doc.h"
#include "crdt/internal/op.h"
#include "crdt/internal/update_codec.h"
#include "tests/fuzz/decode_checks.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::lattice::fuzz::CheckSnapshotBytes;
using ::lattice::fuzz::CheckUpdateBytes;

// Bounded draws of our own (std::uniform_int_distribution differs between
// standard libraries): rejection sampling, so draws are unbiased.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Below(uint64_t n) {
    if (n == 0) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x = gen_();
    while (x >= limit) x = gen_();
    return x % n;
  }
  char Byte() { return static_cast<char>(Below(256)); }

 private:
  std::mt19937_64 gen_;
};

std::string RandomBytes(Rng& rng, size_t max_len) {
  std::string s(rng.Below(max_len + 1), '\0');
  for (char& c : s) c = rng.Byte();
  return s;
}

// One to four mutations of `s`.
std::string Mutate(std::string s, Rng& rng,
                   const std::vector<std::string>& others) {
  const uint64_t rounds = 1 + rng.Below(4);
  for (uint64_t k = 0; k < rounds; ++k) {
    const size_t at = rng.Below(s.size() + 1);
    switch (rng.Below(6)) {
      case 0:  // bit flip
        if (!s.empty()) {
          const size_t i = rng.Below(s.size());
          s[i] = static_cast<char>(s[i] ^ (1 << rng.Below(8)));
        }
        break;
      case 1:  // truncation
        s.resize(at);
        break;
      case 2:  // insertion of random bytes
        s.insert(at, RandomBytes(rng, 8));
        break;
      case 3:  // byte replacement, favouring varint edge values
        if (!s.empty()) {
          static constexpr char kEdges[] = {'\x00', '\x01', '\x7f', '\x80',
                                            '\xff'};
          s[rng.Below(s.size())] =
              rng.Below(2) == 0 ? kEdges[rng.Below(5)] : rng.Byte();
        }
        break;
      case 4:  // erase a slice
        s.erase(at, rng.Below(16));
        break;
      default: {  // splice in a slice of another valid encoding
        const std::string& o = others[rng.Below(others.size())];
        const size_t from = rng.Below(o.size() + 1);
        s.insert(at, o.substr(from, rng.Below(32)));
        break;
      }
    }
  }
  return s;
}

std::string Hex(const std::string& s) { return absl::BytesToHexString(s); }

// Collects broken properties, so one run reports each kind once (with its
// input) instead of stopping at the first.
class Failures {
 public:
  void Check(const std::string& broken, const std::string& input, int i) {
    if (broken.empty()) return;
    ++count_;
    // The message up to the first ':' names the kind of breakage.
    const std::string kind = broken.substr(0, broken.find(':'));
    if (kinds_.size() < 8 && kinds_.insert(kind).second) {
      ADD_FAILURE() << "iteration " << i << ": " << broken << "\n  input "
                    << Hex(input);
    }
  }
  int count() const { return count_; }

 private:
  int count_ = 0;
  std::set<std::string> kinds_;
};

TEST(DecodeRobustness, SeedsAreValid) {
  for (const std::string& u : fuzz::SeedUpdates()) {
    Doc d(5);
    EXPECT_TRUE(d.ApplyUpdate(u).ok()) << Hex(u);
    EXPECT_EQ(CheckUpdateBytes(u), "") << Hex(u);
  }
  for (const std::string& s : fuzz::SeedSnapshots()) {
    EXPECT_TRUE(Doc::LoadSnapshot(5, s).ok()) << Hex(s);
    EXPECT_EQ(CheckSnapshotBytes(s), "") << Hex(s);
  }
}

TEST(DecodeRobustness, RandomBytes) {
  Rng rng(1);
  Failures failures;
  for (int i = 0; i < 3000; ++i) {
    const std::string s = RandomBytes(rng, 64);
    failures.Check(CheckUpdateBytes(s), s, i);
    failures.Check(CheckSnapshotBytes(s), s, i);
    // With a valid version byte the decoders get further.
    const std::string v = "\x01" + s;
    failures.Check(CheckUpdateBytes(v), v, i);
    failures.Check(CheckSnapshotBytes(v), v, i);
  }
  EXPECT_EQ(failures.count(), 0);
}

TEST(DecodeRobustness, MutatedUpdates) {
  const std::vector<std::string> seeds = fuzz::SeedUpdates();
  Rng rng(2);
  int accepted = 0;
  Failures failures;
  constexpr int kIterations = 6000;
  for (int i = 0; i < kIterations; ++i) {
    const std::string s = Mutate(seeds[rng.Below(seeds.size())], rng, seeds);
    failures.Check(CheckUpdateBytes(s), s, i);
    Doc d(5);
    if (d.ApplyUpdate(s).ok()) ++accepted;
  }
  EXPECT_EQ(failures.count(), 0);
  EXPECT_GT(accepted, kIterations / 50) << "mutants hardly ever decode";
}

TEST(DecodeRobustness, MutatedSnapshots) {
  const std::vector<std::string> seeds = fuzz::SeedSnapshots();
  Rng rng(3);
  int accepted = 0;
  Failures failures;
  constexpr int kIterations = 6000;
  for (int i = 0; i < kIterations; ++i) {
    const std::string s = Mutate(seeds[rng.Below(seeds.size())], rng, seeds);
    failures.Check(CheckSnapshotBytes(s), s, i);
    if (Doc::LoadSnapshot(5, s).ok()) ++accepted;
  }
  EXPECT_EQ(failures.count(), 0);
  EXPECT_GT(accepted, kIterations / 100) << "mutants hardly ever decode";
}

// Regression reproducers for what this test found (issue 3). Each replaces
// bytes of a valid snapshot; the pattern must occur exactly once.
std::string ReplaceOnce(const std::string& s, const std::string& from,
                        const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "pattern not found in " << Hex(s);
  EXPECT_EQ(s.find(from, at + 1), std::string::npos) << "pattern ambiguous";
  if (at == std::string::npos) return s;
  return s.substr(0, at) + to + s.substr(at + from.size());
}

// Two counter adds sharing one id: the loaded doc sums both (-2), but
// ChangesSince sends two ops with one id and a peer keeps one of them, so
// the replicas never converge. LoadSnapshot must reject duplicate ids.
TEST(DecodeRobustness, Issue3SnapshotWithDuplicateCounterAddIdsIsRejected) {
  Doc d(1);
  auto c = d.MapSetContainer(kRootId, "c", ContainerType::kCounter);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(d.CounterAdd(*c, 5).ok());   // id 1:1, zigzag delta 0x0a
  ASSERT_TRUE(d.CounterAdd(*c, -7).ok());  // id 1:2, zigzag delta 0x0d
  // Adds are (replica index 1, counter, delta): make the second id 1:1.
  const std::string bad =
      ReplaceOnce(d.EncodeSnapshot(), "\x01\x01\x0a\x01\x02\x0d",
                  "\x01\x01\x0a\x01\x01\x0d");
  auto loaded = Doc::LoadSnapshot(2, bad);
  if (loaded.ok()) {
    Doc peer(3);
    ASSERT_TRUE(peer.ApplyUpdate((*loaded)->ChangesSince({})).ok());
    EXPECT_EQ(*peer.ToJson(), *(*loaded)->ToJson())
        << "the loaded doc cannot be replicated";
  }
  EXPECT_FALSE(loaded.ok())
      << "snapshot " << Hex(bad) << " with a duplicate op id was accepted";
}

// A text run whose left origin (1:0, the text container's own id) is not an
// element of the text: LoadSnapshot accepts it, but every peer refuses the
// loaded doc's ChangesSince({}) ("left origin 1:0 is not in its container").
TEST(DecodeRobustness, Issue3SnapshotWithOriginOutsideTheContainerIsRejected) {
  Doc d(1);
  auto t = d.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(d.TextInsert(*t, 0, "ab").ok());  // run 1:1..1:2
  ASSERT_TRUE(d.TextInsert(*t, 1, "X").ok());   // 1:3 between a and b
  ASSERT_TRUE(d.TextInsert(*t, 1, "Y").ok());   // 1:4 between a and X
  // Runs in document order: "a" 1:1, "Y" 1:4, "X" 1:3, "b" 1:2. Only X's
  // left origin (a, 1:1) is neither the previous run's last element nor its
  // own predecessor, so it is the one origin the ids column spells out. That
  // column (format 2, a raw block of 6 bytes) holds: a's id 1:1 (long form
  // 01 01), Y's 1:4 (+2 from a's end: 10), X's 1:3 (-2 from Y's end: 0c),
  // X's left origin 1:1 (-2 from X: 06), b's 1:2 (the end of the run 3
  // back, a: 06). Make X's left origin 1:0 (-3: 0a).
  const std::string bad = ReplaceOnce(
      d.EncodeSnapshot(), std::string("\x06\x01\x01\x10\x0c\x06\x06", 7),
      std::string("\x06\x01\x01\x10\x0c\x0a\x06", 7));
  auto loaded = Doc::LoadSnapshot(2, bad);
  if (loaded.ok()) {
    Doc peer(3);
    auto r = peer.ApplyUpdate((*loaded)->ChangesSince({}));
    EXPECT_TRUE(r.ok()) << "a peer refuses the loaded doc's history: "
                        << r.status();
  }
  EXPECT_FALSE(loaded.ok()) << "snapshot " << Hex(bad)
                            << " with an origin outside its container was "
                               "accepted";
}

// A version vector naming replica 0 (reserved): the snapshot loads, and then
// ChangesSince() throws std::out_of_range (ReplicaTable::Index, replica 0 is
// never interned) and terminates the process. VersionVector::DecodeFrom
// accepts 0 as the first replica. (Not called here: it would abort the test.)
TEST(DecodeRobustness, Issue3VersionVectorWithReplicaZeroIsRejected) {
  EXPECT_FALSE(VersionVector::Decode(std::string("\x01\x00\x03", 3)).ok());
  Doc d(7);
  // Empty doc: format 2, then its first column as a raw block (mode 0,
  // length) starting with the empty version (0), lamport 0, ... -> version
  // {0:3}, two bytes longer.
  const std::string snapshot = d.EncodeSnapshot();
  ASSERT_EQ(snapshot.substr(0, 2), std::string("\x02\x00", 2));
  ASSERT_EQ(snapshot[3], '\x00');
  const std::string bad = std::string("\x02\x00", 2) +
                          static_cast<char>(snapshot[2] + 2) +
                          std::string("\x01\x00\x03", 3) + snapshot.substr(4);
  EXPECT_FALSE(Doc::LoadSnapshot(2, bad).ok())
      << "snapshot " << Hex(bad) << " with replica 0 in its version was "
      << "accepted; its ChangesSince() terminates the process";
}

// A map key that is not UTF-8: LoadSnapshot accepts it, every peer refuses
// the loaded doc's ChangesSince({}) ("key is not valid utf-8").
TEST(DecodeRobustness, Issue3SnapshotWithInvalidUtf8KeyIsRejected) {
  Doc d(1);
  ASSERT_TRUE(d.MapSet(kRootId, "k", Value::Int(1)).ok());
  const std::string bad = ReplaceOnce(d.EncodeSnapshot(), "\x01k", "\x01\xff");
  auto loaded = Doc::LoadSnapshot(2, bad);
  if (loaded.ok()) {
    Doc peer(3);
    auto r = peer.ApplyUpdate((*loaded)->ChangesSince({}));
    EXPECT_TRUE(r.ok()) << "a peer refuses the loaded doc's history: "
                        << r.status();
  }
  EXPECT_FALSE(loaded.ok())
      << "snapshot " << Hex(bad) << " with a non-UTF-8 key was accepted";
}

// A container no map entry or list element creates (here the entry "t"
// holds null instead of the text 1:0): LoadSnapshot accepts it, and a peer
// fed ChangesSince({}) keeps the text's ops pending forever.
TEST(DecodeRobustness, Issue3SnapshotWithOrphanContainerIsRejected) {
  Doc d(1);
  auto t = d.MapSetContainer(kRootId, "t", ContainerType::kText);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(d.TextInsert(*t, 0, "abc").ok());
  // Entry "t": key, id 1:0 (index 1, counter 0), lamport 1, value
  // container(6) text(3) -> null(0).
  const std::string bad = ReplaceOnce(
      d.EncodeSnapshot(), std::string("\x01t\x01\x00\x01\x06\x03", 7),
      std::string("\x01t\x01\x00\x01\x00", 6));
  auto loaded = Doc::LoadSnapshot(2, bad);
  if (loaded.ok()) {
    Doc peer(3);
    ASSERT_TRUE(peer.ApplyUpdate((*loaded)->ChangesSince({})).ok());
    EXPECT_EQ(peer.pending_ops(), 0u) << "ops of the orphan wait forever";
  }
  EXPECT_FALSE(loaded.ok())
      << "snapshot " << Hex(bad) << " with an orphan container was accepted";
}

// Update path (found by update_decode_fuzzer): a list insert holding a
// container whose origin is not in the list fails in Sequence::Integrate,
// but ApplyInsert registered the nested container before integrating. The
// replica keeps a container outside its version, and its own snapshot no
// longer loads ("container id 1:4 outside the snapshot's version"): one bad
// update from a peer makes a room's snapshot unloadable.
TEST(DecodeRobustness, Issue3FailedInsertLeavesNoContainerBehind) {
  Doc a(1);
  Doc b(2);
  auto t = a.MapSetContainer(kRootId, "t", ContainerType::kText);  // 1:0
  auto l = a.MapSetContainer(kRootId, "l", ContainerType::kList);  // 1:1
  ASSERT_TRUE(t.ok() && l.ok());
  ASSERT_TRUE(a.TextInsert(*t, 0, "x").ok());            // 1:2
  ASSERT_TRUE(a.ListInsert(*l, 0, Value::Int(7)).ok());  // 1:3
  ASSERT_TRUE(b.ApplyUpdate(a.Commit()).ok());
  ASSERT_TRUE(a.ListInsertContainer(*l, 1, ContainerType::kMap).ok());  // 1:4
  // Insert: kind 1, container 1:1, flags 1 (left origin), origin 1:3, len
  // 1, value kind 6 (container). Point the origin at the text's 1:2.
  const std::string bad = ReplaceOnce(
      a.Commit(), std::string("\x01\x01\x01\x01\x01\x03\x01\x06", 8),
      std::string("\x01\x01\x01\x01\x01\x02\x01\x06", 8));
  EXPECT_FALSE(b.ApplyUpdate(bad).ok());
  b.CheckInvariants();
  auto loaded = Doc::LoadSnapshot(3, b.EncodeSnapshot());
  EXPECT_TRUE(loaded.ok()) << "after a refused update the replica's own "
                           << "snapshot does not load: " << loaded.status();
}

// A deleted run costs a few bytes of an update whatever its length, so a
// peer can claim 2^31 ids per op. Indexing them used to cost an entry per
// 32 ids: the fuzzer's 229-byte update (corpus timeout-36f8...) took 55 s
// and 3.3 GB. Each run now costs a bounded number of entries, and ids deep
// inside such runs are still found (an insert after one, a delete of one).
TEST(DecodeRobustness, LongDeletedRunsCostFewIndexEntries) {
  using internal::Op;
  Doc a(1);
  auto t = a.MapSetContainer(kRootId, "t", ContainerType::kText);  // 1:0
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(a.TextInsert(*t, 0, "ab").ok());  // 1:1, 1:2
  Doc b(2);
  ASSERT_TRUE(b.ApplyUpdate(a.Commit()).ok());
  const uint64_t before = b.MemoryUsage();

  constexpr uint64_t kLong = uint64_t{1} << 31;
  std::vector<Op> ops;
  for (ReplicaId r = 10; r < 1010; ++r) {  // 1,000 runs after 'a'
    Op run;
    run.kind = Op::Kind::kInsert;
    run.id = {r, 0};
    run.len = kLong;
    run.container = *t;
    run.origin_left = {1, 1};
    run.origin_right = {1, 2};
    run.deleted = true;
    run.is_text = true;
    ops.push_back(run);
  }
  // Replica 10 then types "X" after the middle of its run and deletes one
  // of its ids near the end.
  Op x;
  x.kind = Op::Kind::kInsert;
  x.id = {10, kLong};
  x.container = *t;
  x.origin_left = {10, kLong / 2};
  x.origin_right = {10, kLong / 2 + 1};
  x.is_text = true;
  x.text = U"X";
  ops.push_back(x);
  Op del;
  del.kind = Op::Kind::kDelete;
  del.id = {10, kLong + 1};
  del.container = *t;
  del.target = {10, kLong - 3};
  ops.push_back(del);
  auto applied = b.ApplyUpdate(internal::EncodeUpdate(ops));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(b.pending_ops(), 0u);
  b.CheckInvariants();
  EXPECT_EQ(*b.ToJson(), R"({"t":"aXb"})");
  // Well under 1 KiB per run (with an entry per 32 ids: 2 GiB per run).
  EXPECT_LT(b.MemoryUsage() - before, uint64_t{1000} * 1024) << "bytes";

  // The same ids after a snapshot, and their history, in a new replica.
  auto loaded = Doc::LoadSnapshot(3, b.EncodeSnapshot());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*(*loaded)->ToJson(), R"({"t":"aXb"})");
  Doc c(4);
  ASSERT_TRUE(c.ApplyUpdate(b.ChangesSince(VersionVector())).ok());
  c.CheckInvariants();
  EXPECT_EQ(*c.ToJson(), R"({"t":"aXb"})");
}

// A delete whose range runs into ids of another container is refused whole.
// It used to delete the elements before the first foreign id and then fail:
// that part was in the state but not in the history (the delete was not
// recorded), so the replica's own snapshot failed its full check and a
// replica fed its history differed (fuzzer, corpus crash-f5ead64d...).
TEST(DecodeRobustness, RefusedDeleteDeletesNothing) {
  using internal::Op;
  Doc a(1);
  auto l = a.MapSetContainer(kRootId, "l", ContainerType::kList);  // 1:0
  ASSERT_TRUE(l.ok());
  for (int i = 0; i < 3; ++i)  // 1:1, 1:2, 1:3
    ASSERT_TRUE(a.ListInsert(*l, i, Value::Int(i)).ok());
  auto t = a.MapSetContainer(kRootId, "t", ContainerType::kText);  // 1:4
  ASSERT_TRUE(t.ok());
  Doc b(2);
  ASSERT_TRUE(b.ApplyUpdate(a.Commit()).ok());
  Op del;
  del.kind = Op::Kind::kDelete;
  del.id = {7, 0};
  del.container = *l;
  del.target = {1, 1};
  del.len = 4;  // 1:4 is the text
  auto applied = b.ApplyUpdate(internal::EncodeUpdate({del}));
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*b.ToJson(), R"({"l":[0,1,2],"t":""})");
  b.CheckInvariants();
  auto loaded = Doc::LoadSnapshot(3, b.EncodeSnapshot());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
}

}  // namespace
}  // namespace lattice::crdt
