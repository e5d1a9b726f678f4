#include "tests/fuzz/decode_checks.h"

#include <exception>
#include <memory>
#include <utility>

#include "base/logging.h"
#include "crdt/doc.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::fuzz {
namespace {

using crdt::ContainerId;
using crdt::ContainerType;
using crdt::Doc;
using crdt::kRootId;
using crdt::Value;
using crdt::VersionVector;

template <typename T>
T Must(absl::StatusOr<T> v) {
  LATTICE_CHECK(v.ok()) << v.status().ToString();
  return *std::move(v);
}
void Must(const absl::Status& s) { LATTICE_CHECK(s.ok()) << s.ToString(); }

struct Seeds {
  std::vector<std::string> updates;
  std::vector<std::string> snapshots;
  std::string content;  // snapshot of the doc with content
};

void Sync(const Doc& from, Doc& to, Seeds& s) {
  std::string u = from.ChangesSince(to.version());
  Must(to.ApplyUpdate(u).status());
  s.updates.push_back(std::move(u));
}

Seeds MakeSeeds() {
  Seeds s;
  Doc a(1);
  Doc b(0xABCDEF0123);
  // Text typed, edited and backspaced, with non-ASCII and astral chars.
  ContainerId text =
      Must(a.MapSetContainer(kRootId, "text", ContainerType::kText));
  Must(a.TextInsert(text, 0, "hello world"));
  s.updates.push_back(a.Commit());
  Must(a.TextInsert(text, 5, ", héllo 𝄞"));
  Must(a.TextDelete(text, 0, 2));
  for (int i = 0; i < 3; ++i) Must(a.TextDelete(text, 6 - i, 1));  // backspaces
  s.updates.push_back(a.Commit());
  s.snapshots.push_back(a.EncodeSnapshot());
  // Every scalar kind, nested containers, a list and a counter.
  Must(a.MapSet(kRootId, "null", Value::Null()));
  Must(a.MapSet(kRootId, "bool", Value::Bool(true)));
  Must(a.MapSet(kRootId, "int", Value::Int(-1234567890123)));
  Must(a.MapSet(kRootId, "double", Value::Double(2.5)));
  Must(a.MapSet(kRootId, "str", Value::String("ü")));
  Must(a.MapSet(kRootId, "bytes", Value::Bytes(std::string("\0\xff", 2))));
  ContainerId list =
      Must(a.MapSetContainer(kRootId, "list", ContainerType::kList));
  Must(a.ListInsert(list, 0, Value::Int(1)));
  Must(a.ListInsert(list, 1, Value::String("two")));
  ContainerId task = Must(a.ListInsertContainer(list, 2, ContainerType::kMap));
  Must(a.MapSet(task, "done", Value::Bool(false)));
  ContainerId likes =
      Must(a.MapSetContainer(task, "likes", ContainerType::kCounter));
  Must(a.CounterAdd(likes, 5));
  Must(a.CounterAdd(likes, -7));
  Must(a.MapDelete(kRootId, "null"));
  s.updates.push_back(a.Commit());
  const VersionVector mid = a.version();
  s.snapshots.push_back(a.EncodeSnapshot());
  // A second replica edits concurrently: same key with containers (shadows),
  // concurrent text inserts, a deleted list element that holds a container.
  Sync(a, b, s);
  Must(a.MapSetContainer(kRootId, "shared", ContainerType::kList).status());
  Must(b.MapSetContainer(kRootId, "shared", ContainerType::kMap).status());
  Must(a.TextInsert(text, 3, "AAA"));
  Must(b.TextInsert(text, 3, "BBB"));
  Must(b.ListDelete(list, 2, 1));
  Must(b.CounterAdd(likes, 100));
  s.updates.push_back(a.Commit());
  s.updates.push_back(b.Commit());
  Sync(a, b, s);
  Sync(b, a, s);
  s.updates.push_back(a.ChangesSince(VersionVector()));
  s.updates.push_back(a.ChangesSince(mid));
  s.snapshots.push_back(a.EncodeSnapshot());
  s.content = a.EncodeSnapshot();
  // Empty doc.
  Doc empty(7);
  s.snapshots.push_back(empty.EncodeSnapshot());
  s.updates.push_back(empty.ChangesSince(VersionVector()));
  return s;
}

const Seeds& TheSeeds() {
  static const Seeds* seeds = new Seeds(MakeSeeds());
  return *seeds;
}

// Checks a doc that took untrusted bytes (whether or not it accepted them
// all). `serve_history`: also check ChangesSince({}) into a fresh replica
// (meaningful only with nothing pending). `check`: how its own snapshot is
// reloaded. Returns "" or what broke.
std::string CheckAcceptedDoc(
    const Doc& doc, bool serve_history,
    crdt::SnapshotCheck check = crdt::SnapshotCheck::kFull) {
  doc.CheckInvariants();  // aborts on a broken invariant
  auto json = doc.ToJson();
  if (!json.ok()) return "ToJson failed: " + json.status().ToString();
  const std::string snapshot = doc.EncodeSnapshot();
  crdt::DocOptions options;
  options.snapshot_check = check;
  auto loaded = Doc::LoadSnapshot(99, snapshot, options);
  if (!loaded.ok()) {
    return "its own snapshot does not load: " + loaded.status().ToString();
  }
  (*loaded)->CheckInvariants();
  if ((*loaded)->EncodeSnapshot() != snapshot) {
    return "load(encode(doc)) encodes to different bytes";
  }
  auto json2 = (*loaded)->ToJson();
  if (!json2.ok() || *json2 != *json) return "JSON changed over a snapshot";
  if (serve_history) {
    Doc fresh(98);
    auto r = fresh.ApplyUpdate(doc.ChangesSince(VersionVector()));
    if (!r.ok()) {
      return "its ChangesSince({}) is refused: " + r.status().ToString();
    }
    fresh.CheckInvariants();
    auto json3 = fresh.ToJson();
    if (!json3.ok() || *json3 != *json) {
      return absl::StrCat("a replica fed its ChangesSince({}) differs: ",
                          json3.ok() ? *json3 : json3.status().ToString(),
                          " vs ", *json, " (pending ", fresh.pending_ops(),
                          ")");
    }
  }
  return "";
}

bool IsDocumentedUpdateError(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace

// Declared here (not in the header): the checks without the exception net.
std::string CheckUpdateBytesOrThrow(absl::string_view bytes);
std::string CheckSnapshotBytesOrThrow(absl::string_view bytes);

std::string CheckUpdateBytes(absl::string_view bytes) {
  // Exceptions must not cross the crdt API (style B3): report them as a
  // broken property instead of terminating, so a replay names the input.
  try {
    return CheckUpdateBytesOrThrow(bytes);
  } catch (const std::exception& e) {
    return absl::StrCat("exception escaped the crdt API: ", e.what());
  }
}

std::string CheckSnapshotBytes(absl::string_view bytes) {
  try {
    return CheckSnapshotBytesOrThrow(bytes);
  } catch (const std::exception& e) {
    return absl::StrCat("exception escaped the crdt API: ", e.what());
  }
}

std::string CheckUpdateBytesOrThrow(absl::string_view bytes) {
  // A fresh replica.
  {
    Doc doc(5);
    auto r = doc.ApplyUpdate(bytes);
    if (!r.ok() && !IsDocumentedUpdateError(r.status())) {
      return "fresh doc: undocumented error " + r.status().ToString();
    }
    std::string broken = CheckAcceptedDoc(
        doc, /*serve_history=*/r.ok() && doc.pending_ops() == 0);
    if (!broken.empty()) return "fresh doc: " + broken;
  }
  // A replica with content; errors may leave earlier ops applied.
  auto doc = Doc::LoadSnapshot(5, ContentSnapshot());
  LATTICE_CHECK(doc.ok()) << doc.status().ToString();
  auto r = (*doc)->ApplyUpdate(bytes);
  if (!r.ok() && !IsDocumentedUpdateError(r.status())) {
    return "content doc: undocumented error " + r.status().ToString();
  }
  std::string broken = CheckAcceptedDoc(
      **doc, /*serve_history=*/r.ok() && (*doc)->pending_ops() == 0);
  if (!broken.empty()) return "content doc: " + broken;
  return "";
}

std::string CheckSnapshotBytesOrThrow(absl::string_view bytes) {
  // The structural load may accept a forged order of concurrent inserts
  // (docs/crdt.md), so its doc need not replay to the same JSON; it must
  // still keep every other property.
  crdt::DocOptions structural;
  structural.snapshot_check = crdt::SnapshotCheck::kStructure;
  auto cheap = Doc::LoadSnapshot(5, bytes, structural);
  if (!cheap.ok() &&
      cheap.status().code() != absl::StatusCode::kInvalidArgument) {
    return "structural load: undocumented error " + cheap.status().ToString();
  }
  if (cheap.ok()) {
    std::string broken = CheckAcceptedDoc(**cheap, /*serve_history=*/false,
                                          crdt::SnapshotCheck::kStructure);
    if (!broken.empty()) return "structural load: " + broken;
  }
  auto doc = Doc::LoadSnapshot(5, bytes);
  if (!doc.ok()) {
    if (doc.status().code() != absl::StatusCode::kInvalidArgument) {
      return "undocumented error " + doc.status().ToString();
    }
    return "";
  }
  if (!cheap.ok())
    return "the full load accepts what the structural one refuses";
  return CheckAcceptedDoc(**doc, /*serve_history=*/true);
}

std::vector<std::string> SeedUpdates() { return TheSeeds().updates; }
std::vector<std::string> SeedSnapshots() { return TheSeeds().snapshots; }
const std::string& ContentSnapshot() { return TheSeeds().content; }

}  // namespace lattice::fuzz
