// The columns of a snapshot and the sequence runs written into them
// (docs/crdt.md, "Snapshot (format 2)"). A snapshot is split by kind of field
// into columns, each stored as a packed block (huffman.h): flag bytes, ids,
// lengths and text each have a skewed distribution of their own, which the
// entropy coder exploits and one mixed stream would blur.
//
// Decoding never trusts its input: counts are bounded by the bytes left in
// their column, every id is checked against the snapshot's version, and
// errors name the column and the byte offset in it.
//
// Thread safety: none needed; the types belong to one encode or decode call.
#ifndef LATTICE_CRDT_INTERNAL_SNAPSHOT_RUNS_H_
#define LATTICE_CRDT_INTERNAL_SNAPSHOT_RUNS_H_

#include <string>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/codec.h"
#include "crdt/internal/container.h"
#include "crdt/internal/replica_table.h"
#include "crdt/internal/sequence.h"
#include "crdt/value.h"
#include "crdt/version_vector.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

// The columns of a snapshot being written, in their order in the format.
struct SnapshotColumnWriters {
  Writer main;        // containers, map entries, counters, list values
  Writer run_flags;   // one byte per run
  Writer ids;         // run ids and origins
  Writer delete_ids;  // delete ids and targets
  Writer lens;        // run and delete lengths
  Writer text;        // UTF-8 of every live text run
  Writer delete_flags;
  // Appends every column as a packed block to `out`.
  void PackInto(Writer& out);
};

// The columns of a snapshot being read: the unpacked bytes and a Reader over
// each. Not copyable or movable: the readers point into the strings.
class SnapshotColumnReaders {
 public:
  SnapshotColumnReaders() = default;
  SnapshotColumnReaders(const SnapshotColumnReaders&) = delete;
  SnapshotColumnReaders& operator=(const SnapshotColumnReaders&) = delete;

  // Unpacks the columns that follow in `in`. InvalidArgument on malformed
  // blocks.
  absl::Status Unpack(Reader& in);
  // InvalidArgument naming the first column with bytes left over.
  absl::Status CheckDone() const;

  Reader main{{}, "snapshot"};
  Reader run_flags{{}, "snapshot run flags"};
  Reader ids{{}, "snapshot ids"};
  Reader delete_ids{{}, "snapshot delete ids"};
  Reader lens{{}, "snapshot lengths"};
  Reader text{{}, "snapshot text"};
  Reader delete_flags{{}, "snapshot delete flags"};

 private:
  std::string bytes_[7];
};

// An id near a base id: one varint for a nearby id of the base's replica,
// else a replica index and the counter. Bases are neighbours in the encoding
// (the previous run's end, the run's own id), so most ids take a byte or two.
void EncodeNear(const ReplicaTable& table, const OpId& id, const OpId& base,
                Writer& w);
absl::StatusOr<OpId> DecodeNear(Reader& r, const std::vector<ReplicaId>& table,
                                const OpId& base);
// Relative cost of EncodeNear(id, base), to choose between bases.
size_t NearSize(const OpId& id, const OpId& base);

// Checks decoded ids against the snapshot's version. Remembers the last
// replica's count: consecutive ids mostly share a replica, and the version
// is a btree.
class VersionBound {
 public:
  // `version` must outlive this.
  explicit VersionBound(const VersionVector& version) : version_(version) {}
  // InvalidArgument (at `r`'s offset, naming `what`) unless len > 0 and ids
  // id .. id+len-1 lie inside the version.
  absl::Status Check(const Reader& r, const OpId& id, uint64_t len,
                     absl::string_view what) {
    if (id.replica == replica_ && id.replica != 0 && len != 0 &&
        id.counter + len >= id.counter && id.counter + len <= count_) {
      return absl::OkStatus();
    }
    return CheckOtherReplica(r, id, len, what);
  }

 private:
  absl::Status CheckOtherReplica(const Reader& r, const OpId& id, uint64_t len,
                                 absl::string_view what);

  const VersionVector& version_;
  ReplicaId replica_ = 0;
  uint64_t count_ = 0;  // version_.Get(replica_)
};

// A run with its content, as encoded: a maximal canonical run of a sequence.
struct EncodedRun {
  Run run;
  std::u32string text;
  std::vector<Value> values;  // live list runs; deleted ones holding containers
};

// Writes the runs of one sequence, in document order.
void EncodeRuns(const std::vector<EncodedRun>& runs, bool is_text,
                const ReplicaTable& table, SnapshotColumnWriters& out);

// Reads the runs of sequence `self` into `seq`, appending the containers its
// list values create to `refs`.
absl::Status DecodeRuns(SnapshotColumnReaders& in,
                        const std::vector<ReplicaId>& table,
                        VersionBound& version, ContainerId self,
                        std::vector<ContainerRef>& refs, Sequence& seq);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_SNAPSHOT_RUNS_H_
