#include "sdk/internal/room_replica.h"

#include "crdt/version_vector.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace lattice::sdk::internal {

namespace protocol = engine::protocol;

void RoomReplica::Advance(uint64_t epoch, uint64_t seq) {
  if (seq == 0) return;
  // A room joined before it had a log (epoch 0) gets one with its first
  // append; frames arrive in seq order, so that epoch is taken as it comes.
  if (resume_.epoch == 0 && resume_.seq == 0) resume_.epoch = epoch;
  if (epoch == resume_.epoch && seq > resume_.seq) resume_.seq = seq;
}

protocol::JoinFrame RoomReplica::MakeJoin(uint64_t ref,
                                          const std::string& room) const {
  protocol::JoinFrame join;
  join.ref = ref;
  join.room = room;
  join.epoch = resume_.epoch;
  join.seq = resume_.seq;
  for (const auto& [name, doc] : docs_) {
    join.versions.push_back({name, doc->version().Encode()});
  }
  return join;
}

std::vector<std::pair<std::string, std::string>> RoomReplica::MissingOnServer(
    const std::vector<protocol::DocVersion>& server) const {
  absl::flat_hash_map<std::string, crdt::VersionVector> theirs;
  for (const protocol::DocVersion& v : server) {
    auto decoded = crdt::VersionVector::Decode(v.version_vector);
    // An undecodable vector counts as empty: resending is harmless.
    if (decoded.ok()) theirs[v.doc] = *std::move(decoded);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, doc] : docs_) {
    auto it = theirs.find(name);
    const crdt::VersionVector base =
        it == theirs.end() ? crdt::VersionVector() : it->second;
    if (base.Includes(doc->version())) continue;
    out.emplace_back(name, doc->ChangesSince(base));
  }
  return out;
}

absl::Status RoomReplica::ApplyUpdate(const protocol::UpdateFrame& f) {
  auto applied = Doc(f.doc).ApplyUpdate(f.update);
  Advance(f.epoch, f.seq);
  if (applied.ok()) return absl::OkStatus();
  return absl::Status(applied.status().code(),
                      absl::StrCat("update of ", f.room, "/", f.doc, " (seq ",
                                   f.seq, "): ", applied.status().message()));
}

absl::Status RoomReplica::ApplySnapshot(const protocol::SnapshotFrame& f) {
  // The server is the client's source of truth for the room: every update
  // it relays could say anything the snapshot could. So the client checks
  // what keeps it safe (kStructure: nothing to crash on or wait for) and
  // skips kFull's replay of the whole history, which would make a join of a
  // million-op document cost seconds instead of milliseconds.
  crdt::DocOptions doc_options;
  doc_options.snapshot_check = crdt::SnapshotCheck::kStructure;
  auto loaded = crdt::Doc::LoadSnapshot(replica_, f.snapshot, doc_options);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat("snapshot of ", f.room, "/", f.doc, ": ",
                                     loaded.status().message()));
  }
  std::unique_ptr<crdt::Doc>& local = docs_[f.doc];
  if (local != nullptr && !(*loaded)->version().Includes(local->version())) {
    // Local ops the snapshot lacks (edits not yet acked): keep them.
    auto merged =
        (*loaded)->ApplyUpdate(local->ChangesSince((*loaded)->version()));
    if (!merged.ok()) {
      // Keep the local replica rather than lose its edits.
      return absl::Status(
          merged.status().code(),
          absl::StrCat("snapshot of ", f.room, "/", f.doc,
                       ": merging local ops: ", merged.status().message()));
    }
  }
  local = *std::move(loaded);
  if (doc_hook_) doc_hook_(f.doc, *local);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RoomReplica::ApplyPresence(absl::string_view bytes,
                                                    absl::Time now) {
  if (presence_ == nullptr) {
    presence_ = std::make_unique<crdt::Presence>(replica_);
  }
  const uint64_t before = presence_->generation();
  absl::Status applied = presence_->ApplyDelta(bytes, now);
  if (!applied.ok()) return applied;
  return before;
}

crdt::Doc& RoomReplica::Doc(const std::string& name) {
  std::unique_ptr<crdt::Doc>& d = docs_[name];
  if (d == nullptr) {
    d = std::make_unique<crdt::Doc>(replica_);
    if (doc_hook_) doc_hook_(name, *d);
  }
  return *d;
}

void RoomReplica::PutDoc(const std::string& name,
                         std::unique_ptr<crdt::Doc> doc) {
  std::unique_ptr<crdt::Doc>& d = docs_[name];
  d = std::move(doc);
  if (doc_hook_) doc_hook_(name, *d);
}

const crdt::Doc* RoomReplica::FindDoc(const std::string& name) const {
  auto it = docs_.find(name);
  return it == docs_.end() ? nullptr : it->second.get();
}

}  // namespace lattice::sdk::internal
