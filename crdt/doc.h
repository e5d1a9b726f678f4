// A Doc is one replica of a collaborative document: a tree of containers
// rooted at a Map (kRootId). Maps hold last-writer-wins registers, Lists and
// Texts are YATA sequences, Counters sum increments. docs/crdt.md states the
// semantics with worked examples.
//
//   Doc doc(/*replica=*/42);
//   auto tasks = doc.MapSetContainer(kRootId, "tasks", ContainerType::kList);
//   doc.ListInsert(*tasks, 0, Value::String("write spec"));
//   std::string update = doc.Commit();        // send to peers
//   ...
//   other.ApplyUpdate(update);                // idempotent, any order
//   std::string missing = doc.ChangesSince(other.version());
//
// Local edits apply at once and accumulate until Commit() returns them as
// one encoded update. Remote updates may arrive in any order and more than
// once: ops whose dependencies are missing wait in a bounded pending buffer.
// Every encoding carries a format version; decoding never trusts its input.
// The same set of ops gives byte-identical snapshots on every replica.
//
// Pure: no I/O, clocks or randomness (replica ids come from the caller).
// Thread safety: not thread-safe; a Doc belongs to one owner (a room strand,
// an SDK executor). Distinct Docs may be used concurrently.
#ifndef LATTICE_CRDT_DOC_H_
#define LATTICE_CRDT_DOC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/container.h"
#include "crdt/internal/op.h"
#include "crdt/value.h"
#include "crdt/version_vector.h"

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt {

// How much Doc::LoadSnapshot checks beyond the syntax.
enum class SnapshotCheck : uint8_t {
  // Everything kStructure checks, and then replays the snapshot's history
  // (ChangesSince) into a scratch replica and requires the same state: the
  // only check that proves peers will order concurrent inserts as this
  // replica does. Costs about as much as applying the history remotely
  // (tens of times a structural load). For bytes from elsewhere.
  kFull,
  // Op ids used once, origins and delete targets inside their container on
  // the right side, map winners, every container reachable from the root:
  // a loaded doc never crashes, hangs or leaves a peer waiting, but a forged
  // order of concurrent inserts would go unnoticed. For snapshots this
  // program wrote itself behind a checksum (storage/, the SDK's local store).
  kStructure,
};

struct DocOptions {
  // Ops that may wait for missing dependencies before ApplyUpdate refuses
  // more with ResourceExhausted. Default: 100,000.
  uint64_t max_pending_ops = 100'000;
  // What LoadSnapshot verifies. Default: kFull.
  SnapshotCheck snapshot_check = SnapshotCheck::kFull;
};

// What changed, reported to the observer after Commit() or ApplyUpdate().
struct ChangeEvent {
  enum class Kind : uint8_t {
    kMapKey,   // `key` was set or deleted
    kInsert,   // `length` elements inserted at `index`
    kDelete,   // `length` elements deleted at `index` (index before deletion)
    kCounter,  // counter changed by `delta`
  };
  ContainerId container;
  Kind kind;
  std::string key;
  uint64_t index = 0;
  uint64_t length = 0;
  int64_t delta = 0;
  bool local = false;  // made by this replica
};

// What ApplyUpdate did.
struct ApplyResult {
  uint64_t ops_applied = 0;  // ops (or parts) newly applied, including ones
                             // released from the pending buffer
  uint64_t ops_pending = 0;  // ops now waiting for dependencies
};

class Doc {
 public:
  // REQUIRES: replica != 0.
  explicit Doc(ReplicaId replica, DocOptions options = {});
  ~Doc();
  Doc(const Doc&) = delete;
  Doc& operator=(const Doc&) = delete;

  ReplicaId replica() const { return replica_; }
  // The ops applied so far (local and remote), per replica.
  const VersionVector& version() const { return version_; }

  // ---- Local edits -------------------------------------------------------
  // Errors: NotFound for an unknown container, FailedPrecondition when the
  // container has another type, OutOfRange for a bad index, InvalidArgument
  // for bad values (invalid UTF-8, a container or deletion Value).
  [[nodiscard]] absl::Status MapSet(ContainerId map, absl::string_view key,
                                    Value value);
  // Creates a nested container at `key`; returns its id.
  [[nodiscard]] absl::StatusOr<ContainerId> MapSetContainer(
      ContainerId map, absl::string_view key, ContainerType type);
  [[nodiscard]] absl::Status MapDelete(ContainerId map, absl::string_view key);
  [[nodiscard]] absl::Status ListInsert(ContainerId list, uint64_t index,
                                        Value value);
  [[nodiscard]] absl::StatusOr<ContainerId> ListInsertContainer(
      ContainerId list, uint64_t index, ContainerType type);
  [[nodiscard]] absl::Status ListDelete(ContainerId list, uint64_t index,
                                        uint64_t count);
  // Positions count code points (see crdt/text_units.h for UTF-16).
  [[nodiscard]] absl::Status TextInsert(ContainerId text, uint64_t index,
                                        absl::string_view utf8);
  [[nodiscard]] absl::Status TextDelete(ContainerId text, uint64_t index,
                                        uint64_t count);
  [[nodiscard]] absl::Status CounterAdd(ContainerId counter, int64_t delta);

  // Returns one encoded update with every local op since the last Commit
  // (empty when there is none) and reports them to the observer.
  std::string Commit();

  // ---- Sync ----------------------------------------------------------------
  // Applies an encoded update. Ops already seen are skipped; ops whose
  // dependencies are missing wait. Errors: InvalidArgument for malformed
  // bytes (nothing applied) or an op that contradicts the document (wrong
  // container type, origin outside its container): ops before it stay
  // applied, it and the rest of this update are dropped. ResourceExhausted
  // when the pending buffer would exceed max_pending_ops (nothing applied).
  // REQUIRES: no uncommitted local ops.
  [[nodiscard]] absl::StatusOr<ApplyResult> ApplyUpdate(
      absl::string_view update);

  // Returns an update with exactly the ops this replica has that `since`
  // lacks (runs merged; superseded ops as skips). Empty vector: everything.
  std::string ChangesSince(const VersionVector& since) const;

  // Ops waiting for dependencies, and the version they need.
  uint64_t pending_ops() const;
  std::string PendingDebugString() const;

  // ---- Snapshots ---------------------------------------------------------
  // Encodes the whole state (deleted text content dropped). Byte-identical on
  // every replica with the same ops.
  std::string EncodeSnapshot() const;
  // Loads a snapshot into a fresh replica that continues editing as
  // `replica`, checking it as options.snapshot_check says. Errors:
  // InvalidArgument naming what and where.
  static absl::StatusOr<std::unique_ptr<Doc>> LoadSnapshot(
      ReplicaId replica, absl::string_view snapshot, DocOptions options = {});

  // ---- Reading -----------------------------------------------------------
  // Errors as for the edits.
  absl::StatusOr<ContainerType> TypeOf(ContainerId container) const;
  // The value at `key`; NotFound when absent or deleted. For a nested
  // container, the Value is kContainer and MapGetContainer gives its id.
  absl::StatusOr<Value> MapGet(ContainerId map, absl::string_view key) const;
  absl::StatusOr<ContainerId> MapGetContainer(ContainerId map,
                                              absl::string_view key) const;
  absl::StatusOr<std::vector<std::string>> MapKeys(ContainerId map) const;
  // Number of visible elements of a List or code points of a Text.
  absl::StatusOr<uint64_t> Length(ContainerId seq) const;
  absl::StatusOr<Value> ListGet(ContainerId list, uint64_t index) const;
  absl::StatusOr<ContainerId> ListGetContainer(ContainerId list,
                                               uint64_t index) const;
  absl::StatusOr<std::string> GetText(ContainerId text) const;  // UTF-8
  absl::StatusOr<std::u32string> GetCodePoints(ContainerId text) const;
  absl::StatusOr<int64_t> CounterValue(ContainerId counter) const;
  // JSON of a container and everything below it: maps as objects with keys
  // in byte order, lists as arrays, texts as strings, counters as numbers,
  // bytes as {"$bytes":"<base64>"}, non-finite doubles as null.
  absl::StatusOr<std::string> ToJson(ContainerId container = kRootId) const;

  // ---- Observation
  // -------------------------------------------------------------
  using Observer = std::function<void(const std::vector<ChangeEvent>&)>;
  // Replaces the observer (empty: none). Called synchronously at the end of
  // Commit() / ApplyUpdate() with the events in application order.
  void SetObserver(Observer observer);

  // Memory held by the document state, approximately (bytes).
  uint64_t MemoryUsage() const;
  // Aborts on a broken invariant (tests).
  void CheckInvariants() const;
  // Every container's internal state, one line per run or entry (debugging).
  std::string DebugDump() const;

 private:
  struct PendingOp {
    internal::Op op;
    uint64_t batch = 0;  // which ApplyUpdate call brought it
  };

  absl::StatusOr<internal::Container*> Get(ContainerId id, ContainerType type);
  absl::StatusOr<const internal::Container*> Get(ContainerId id,
                                                 ContainerType type) const;
  // The container Get() last found if it is `id` of `type`, else null: the
  // keystroke path, without a StatusOr.
  internal::Container* Cached(ContainerId id, ContainerType type) const {
    return id == cached_id_ && cached_ != nullptr && cached_->type == type
               ? cached_
               : nullptr;
  }
  // The id of the next local op (and `len` - 1 after it). Inline: every
  // keystroke takes one.
  OpId NextId(uint64_t len) {
    return {replica_, version_.Extend(replica_, len)};
  }
  // TextInsert without a keystroke's shortcut: decodes `utf8`, finds the
  // container, reports errors.
  absl::Status TextInsertSlow(ContainerId text, uint64_t index,
                              absl::string_view utf8);
  // Inserts `cps` at `index` of `c` (Text `text`) as a local edit, extending
  // the previous local op when typing continues it. REQUIRES: cps not empty
  // and at most kMaxRunLength long, index <= c.seq->size().
  void InsertLocalText(internal::Container& c, ContainerId text, uint64_t index,
                       std::u32string_view cps);
  // Deletes `count` elements at `index` of sequence `seq` (container `c`) as
  // a local edit, extending the previous local op when backspacing
  // continues it. REQUIRES: index + count <= c.seq->size().
  void DeleteLocal(internal::Container& c, ContainerId seq, uint64_t index,
                   uint64_t count);
  void RecordLocal(internal::Op op);
  absl::Status ApplyRemoteOp(internal::Op& op);
  absl::Status ApplyMapSet(const internal::Op& op, bool local);
  absl::Status ApplyInsert(internal::Op& op);
  absl::Status ApplyDelete(const internal::Op& op);
  // Records delete `id` (extending the record before it when it continues
  // it). Inline for a run of backspaces, which extends the record written
  // last.
  void RecordDelete(const OpId& id, const internal::DeleteRecord& d) {
    if (last_delete_ != nullptr && last_delete_id_.replica == id.replica &&
        last_delete_id_.counter + last_delete_->len == id.counter &&
        last_delete_->container == d.container &&
        internal::ExtendDelete(last_delete_->target, last_delete_->len,
                               last_delete_->reversed, d.target, d.len,
                               d.reversed)) {
      return;
    }
    RecordDeleteSlow(id, d);
  }
  // RecordDelete's search of deletes_ for the record before `id`.
  void RecordDeleteSlow(const OpId& id, const internal::DeleteRecord& d);
  void RegisterContainer(ContainerId id, ContainerType type);
  bool DepsReady(const internal::Op& op) const;
  absl::Status DrainPending(uint64_t batch, ApplyResult* result);
  void Emit(ChangeEvent event);
  void AppendJson(const internal::Container& c, std::string* out) const;
  void CollectOps(const VersionVector& since,
                  std::vector<internal::Op>* ops) const;
  // The semantic checks of LoadSnapshot (doc_validate.cc); `refs` are the
  // values that create containers.
  absl::Status ValidateLoaded(
      const std::vector<internal::ContainerRef>& refs) const;

  ReplicaId replica_;
  DocOptions options_;
  VersionVector version_;
  uint64_t max_lamport_ = 0;
  absl::flat_hash_map<ContainerId, std::unique_ptr<internal::Container>>
      containers_;
  // Delete ops by id, kept so ChangesSince can send them.
  absl::btree_map<OpId, internal::DeleteRecord> deletes_;
  // The record RecordDelete last wrote and its id, so that a run of
  // backspaces extends it without a tree search; null until then. Valid
  // because RecordDelete is the only insertion into deletes_ after load.
  OpId last_delete_id_;
  internal::DeleteRecord* last_delete_ = nullptr;
  std::vector<internal::Op> local_ops_;
  // Pending remote ops per replica, by first counter.
  absl::btree_map<ReplicaId, absl::btree_map<uint64_t, PendingOp>> pending_;
  uint64_t pending_count_ = 0;
  uint64_t batch_counter_ = 0;
  // The last container Get() found (containers are never removed).
  ContainerId cached_id_ = kRootId;
  internal::Container* cached_ = nullptr;
  Observer observer_;
  std::vector<ChangeEvent> events_;
  // ListDelete's scratch, kept so that a keystroke allocates nothing.
  std::vector<std::pair<OpId, uint64_t>> delete_targets_;
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_DOC_H_
