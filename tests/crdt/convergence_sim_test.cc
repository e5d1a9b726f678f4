// Convergence simulation. K replicas (3..8) make random edits on random
// nested containers; a simulated network delivers each update over every
// link with random delay (so reordering), duplication and loss, and peers
// disconnect and reconnect, resyncing by version vector when they do.
//
// Oracle, at quiescence (after a final anti-entropy round): every replica has
// the same JSON, the same version vector, byte-identical snapshots, nothing
// pending, intact invariants; a replica rebuilt from the updates one replica
// received equals it; a snapshot loads back to the same bytes.
//
// Replay one seed:   LATTICE_SIM_SEED=123 ./crdt_sim_test
// A longer soak:     LATTICE_SIM_SEEDS=20000 ./crdt_sim_soak_test
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "crdt/doc.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

// Bounded draws of our own: std::uniform_int_distribution differs between
// standard libraries, and a seed must replay everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : gen_() % n; }
  bool Chance(double p) {
    return static_cast<double>(gen_() >> 11) * 0x1.0p-53 < p;
  }

 private:
  std::mt19937_64 gen_;
};

// Checks every replica's invariants after every step (slow; for debugging).
constexpr bool kCheckEveryStep = true;

struct Message {
  uint64_t due;
  size_t to;
  std::string update;
};

struct Replica {
  std::unique_ptr<Doc> doc;
  bool connected = true;
  std::vector<std::string> received;  // every update applied, in order
};

struct Node {
  ContainerId id;
  ContainerType type;
};

void CollectContainers(const Doc& doc, ContainerId id, ContainerType type,
                       std::vector<Node>* out) {
  out->push_back({id, type});
  if (type == ContainerType::kMap) {
    const std::vector<std::string> keys = *doc.MapKeys(id);
    for (const std::string& key : keys) {
      auto child = doc.MapGetContainer(id, key);
      if (child.ok()) CollectContainers(doc, *child, *doc.TypeOf(*child), out);
    }
  } else if (type == ContainerType::kList) {
    const uint64_t n = *doc.Length(id);
    for (uint64_t i = 0; i < n; ++i) {
      auto child = doc.ListGetContainer(id, i);
      if (child.ok()) CollectContainers(doc, *child, *doc.TypeOf(*child), out);
    }
  }
}

Value RandomScalar(Rng& rng) {
  switch (rng.Below(6)) {
    case 0:
      return Value::Null();
    case 1:
      return Value::Bool(rng.Chance(0.5));
    case 2:
      return Value::Int(static_cast<int64_t>(rng.Below(2000)) - 1000);
    case 3:
      return Value::Double(static_cast<double>(rng.Below(1000)) / 8.0);
    case 4:
      return Value::String(absl::StrCat("s", rng.Below(100)));
    default:
      return Value::Bytes(std::string(rng.Below(4), '\x01'));
  }
}

ContainerType RandomType(Rng& rng) {
  return static_cast<ContainerType>(1 + rng.Below(4));
}

std::string RandomText(Rng& rng) {
  static const char* kPieces[] = {"a", "b", "c", "xy", "é", "😀", " ", "hello"};
  std::string s;
  const uint64_t n = 1 + rng.Below(3);
  for (uint64_t i = 0; i < n; ++i) s += kPieces[rng.Below(8)];
  return s;
}

// Makes one random local edit on `doc`. Every edit is valid by construction,
// so a failure is a bug.
void RandomEdit(Doc& doc, Rng& rng) {
  std::vector<Node> nodes;
  CollectContainers(doc, kRootId, ContainerType::kMap, &nodes);
  const Node node = nodes[rng.Below(nodes.size())];
  const std::string key = absl::StrCat("k", rng.Below(5));
  switch (node.type) {
    case ContainerType::kMap: {
      const uint64_t what = rng.Below(10);
      if (what < 5) {
        ASSERT_THAT(doc.MapSet(node.id, key, RandomScalar(rng)),
                    testing::IsOk());
      } else if (what < 8) {
        ASSERT_THAT(doc.MapSetContainer(node.id, key, RandomType(rng)),
                    testing::IsOk());
      } else if (doc.MapGet(node.id, key).ok()) {
        ASSERT_THAT(doc.MapDelete(node.id, key), testing::IsOk());
      }
      break;
    }
    case ContainerType::kList: {
      const uint64_t n = *doc.Length(node.id);
      const uint64_t what = rng.Below(10);
      if (what < 4 || n == 0) {
        ASSERT_THAT(
            doc.ListInsert(node.id, rng.Below(n + 1), RandomScalar(rng)),
            testing::IsOk());
      } else if (what < 6) {
        ASSERT_THAT(
            doc.ListInsertContainer(node.id, rng.Below(n + 1), RandomType(rng)),
            testing::IsOk());
      } else {
        const uint64_t at = rng.Below(n);
        ASSERT_THAT(
            doc.ListDelete(node.id, at,
                           1 + rng.Below(std::min<uint64_t>(3, n - at))),
            testing::IsOk());
      }
      break;
    }
    case ContainerType::kText: {
      const uint64_t n = *doc.Length(node.id);
      if (n == 0 || rng.Chance(0.65)) {
        ASSERT_THAT(doc.TextInsert(node.id, rng.Below(n + 1), RandomText(rng)),
                    testing::IsOk());
      } else {
        const uint64_t at = rng.Below(n);
        ASSERT_THAT(
            doc.TextDelete(node.id, at,
                           1 + rng.Below(std::min<uint64_t>(4, n - at))),
            testing::IsOk());
      }
      break;
    }
    case ContainerType::kCounter:
      ASSERT_THAT(
          doc.CounterAdd(node.id, static_cast<int64_t>(rng.Below(21)) - 10),
          testing::IsOk());
      break;
  }
}

// Runs one seed; returns a description of the first divergence, or "".
void RunScenario(uint64_t seed, int ops) {
  SCOPED_TRACE(absl::StrCat("replay with LATTICE_SIM_SEED=", seed));
  Rng rng(seed);
  const size_t k = 3 + rng.Below(6);
  const double drop = rng.Chance(0.5) ? 0.1 : 0.0;
  const double dup = 0.1;
  std::vector<Replica> replicas(k);
  for (size_t i = 0; i < k; ++i)
    replicas[i].doc = std::make_unique<Doc>(100 + i * 7);
  std::vector<Message> inflight;
  uint64_t now = 0;

  auto apply = [&](size_t to, const std::string& update) {
    if (update.empty()) return;
    Replica& r = replicas[to];
    ASSERT_THAT(r.doc->ApplyUpdate(update), testing::IsOk());
    if (kCheckEveryStep) r.doc->CheckInvariants();
    r.received.push_back(update);
  };
  auto send = [&](size_t from, size_t to, const std::string& update) {
    if (!replicas[from].connected || !replicas[to].connected) return;
    if (rng.Chance(drop)) return;
    inflight.push_back({now + 1 + rng.Below(20), to, update});
    if (rng.Chance(dup))
      inflight.push_back({now + 1 + rng.Below(40), to, update});
  };
  auto resync = [&](size_t a, size_t b) {
    // Version vectors exchanged, each sends what the other lacks.
    apply(b, replicas[a].doc->ChangesSince(replicas[b].doc->version()));
    apply(a, replicas[b].doc->ChangesSince(replicas[a].doc->version()));
  };
  auto deliver_due = [&](bool all) {
    std::vector<Message> keep;
    for (Message& m : inflight) {
      if (all || m.due <= now) {
        if (replicas[m.to].connected) apply(m.to, m.update);
      } else {
        keep.push_back(std::move(m));
      }
    }
    inflight = std::move(keep);
  };

  for (int step = 0; step < ops; ++step) {
    ++now;
    const size_t who = rng.Below(k);
    Replica& r = replicas[who];
    if (rng.Chance(0.03)) {
      r.connected = !r.connected;
      if (r.connected) {
        for (size_t other = 0; other < k; ++other) {
          if (other != who && replicas[other].connected) resync(who, other);
        }
      }
      continue;
    }
    const uint64_t edits = 1 + rng.Below(3);
    for (uint64_t e = 0; e < edits; ++e) {
      RandomEdit(*r.doc, rng);
      if (::testing::Test::HasFatalFailure()) return;
      if (kCheckEveryStep) r.doc->CheckInvariants();
    }
    const std::string update = r.doc->Commit();
    if (update.empty()) continue;  // the edits were no-ops
    r.received.push_back(update);  // its own history, in order
    for (size_t other = 0; other < k; ++other) {
      if (other != who) send(who, other, update);
    }
    if (rng.Chance(0.5)) deliver_due(false);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Quiescence: everyone back, everything delivered, one anti-entropy round
  // in each direction (drops may have lost updates).
  for (Replica& r : replicas) r.connected = true;
  deliver_due(true);
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = 0; b < k; ++b) {
      if (a != b)
        apply(b, replicas[a].doc->ChangesSince(replicas[b].doc->version()));
    }
  }
  if (::testing::Test::HasFatalFailure()) return;

  const Doc& first = *replicas[0].doc;
  const std::string json = *first.ToJson();
  const std::string snap = first.EncodeSnapshot();
  for (size_t i = 0; i < k; ++i) {
    const Doc& d = *replicas[i].doc;
    d.CheckInvariants();
    ASSERT_EQ(d.pending_ops(), 0u) << "replica " << i << " pending:\n"
                                   << d.PendingDebugString();
    ASSERT_EQ(d.version(), first.version()) << "replica " << i;
    ASSERT_EQ(*d.ToJson(), json) << "replica " << i;
    ASSERT_TRUE(d.EncodeSnapshot() == snap)
        << "replica " << i << " snapshot differs\n--- replica 0:\n"
        << first.DebugDump() << "--- replica " << i << ":\n"
        << d.DebugDump();
  }
  // Rebuilt from what replica 0 received (its own commits included).
  Doc rebuilt(100);
  for (const std::string& u : replicas[0].received) {
    ASSERT_THAT(rebuilt.ApplyUpdate(u), testing::IsOk());
  }
  ASSERT_EQ(rebuilt.EncodeSnapshot(), snap);
  // A snapshot loads back identically and a replica fed everything at once
  // in one update agrees too.
  auto loaded = Doc::LoadSnapshot(999, snap);
  ASSERT_THAT(loaded, testing::IsOk());
  (*loaded)->CheckInvariants();
  ASSERT_EQ((*loaded)->EncodeSnapshot(), snap);
  Doc fresh(998);
  ASSERT_THAT(fresh.ApplyUpdate(first.ChangesSince({})), testing::IsOk());
  ASSERT_EQ(fresh.EncodeSnapshot(), snap);
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

#ifndef LATTICE_SIM_SOAK
TEST(ConvergenceSim, ThousandSeedsOfThreeHundredOps) {
  if (const char* one = std::getenv("LATTICE_SIM_SEED")) {
    RunScenario(std::strtoull(one, nullptr, 10), 300);
    return;
  }
  const uint64_t seeds = EnvOr("LATTICE_SIM_SEEDS_CI", 1000);
  for (uint64_t seed = 0; seed < seeds; ++seed) {
    RunScenario(seed, 300);
    if (HasFatalFailure()) return;
  }
}

#else
TEST(ConvergenceSimSoak, ManySeedsLongRuns) {
  const uint64_t seeds = EnvOr("LATTICE_SIM_SEEDS", 5000);
  for (uint64_t seed = 1'000'000; seed < 1'000'000 + seeds; ++seed) {
    RunScenario(seed, 1000);
    if (HasFatalFailure()) return;
  }
}
#endif

}  // namespace
}  // namespace lattice::crdt
