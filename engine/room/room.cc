#include "engine/room/room.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/post.hpp>

#include "base/logging.h"
#include "engine/room/room_loader.h"
#include "engine/room/room_records.h"

#include "absl/strings/str_cat.h"

namespace lattice::engine {

namespace asio = boost::asio;
using protocol::EncodeFrame;
using protocol::FrameType;
using protocol::SyncPath;

namespace {

crdt::PresenceLimits PresenceLimitsOf(const EngineOptions& options) {
  crdt::PresenceLimits limits;
  limits.entry_ttl = options.presence_ttl;
  return limits;
}

std::shared_ptr<const std::string> Shared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

}  // namespace

Room::Room(std::string name, RoomContext& context)
    : name_(std::move(name)),
      context_(context),
      strand_(asio::make_strand(context.io_for(name_))),
      idle_timer_(strand_),
      cluster_timer_(strand_),
      presence_(context.options.server_replica,
                PresenceLimitsOf(context.options)),
      presence_timer_(strand_),
      housekeeping_timer_(strand_) {}

Room::~Room() = default;

void Room::Join(Member member, protocol::JoinFrame join) {
  asio::post(strand_, [self = shared_from_this(), member = std::move(member),
                       join = std::move(join)]() mutable {
    self->WhenReady(
        [self, member = std::move(member), join = std::move(join)]() mutable {
          self->DoJoin(std::move(member), std::move(join));
        });
  });
}

void Room::Change(uint64_t session_id, protocol::ChangeFrame change) {
  const auto received = std::chrono::steady_clock::now();
  asio::post(strand_, [self = shared_from_this(), session_id, received,
                       change = std::move(change)]() mutable {
    self->WhenReady(
        [self, session_id, received, change = std::move(change)]() mutable {
          self->DoChange(session_id, std::move(change), received);
        });
  });
}

void Room::Leave(uint64_t session_id, bool reply) {
  asio::post(strand_, [self = shared_from_this(), session_id, reply] {
    self->WhenReady(
        [self, session_id, reply] { self->DoLeave(session_id, reply); });
  });
}

void Room::Emit(uint64_t session_id, std::string from,
                protocol::EmitFrame emit) {
  asio::post(strand_, [self = shared_from_this(), session_id,
                       from = std::move(from), emit = std::move(emit)] {
    self->WhenReady([self, session_id, from, emit] {
      auto it = self->members_.find(session_id);
      if (it == self->members_.end()) return;  // left: the session refused
      const auto& conn = it->second.member.conn;
      if (self->state_ == State::kClosed) {
        return self->SendError(conn, "unavailable",
                               "room is unloading; join again",
                               FrameType::kEmit, emit.ref);
      }
      const uint64_t delivered = self->SendEvent(
          protocol::EventFrame{self->name_, from, emit.name, emit.payload},
          session_id, /*publish=*/true);
      if (emit.ref != 0) {
        conn->Send(
            Shared(EncodeFrame(protocol::EventAckFrame{emit.ref, delivered})));
      }
    });
  });
}

void Room::EmitFromServer(std::string name, std::string payload,
                          std::function<void(uint64_t)> done) {
  asio::post(strand_, [self = shared_from_this(), name = std::move(name),
                       payload = std::move(payload),
                       done = std::move(done)]() mutable {
    self->WhenReady([self, name = std::move(name), payload = std::move(payload),
                     done = std::move(done)]() mutable {
      uint64_t delivered = 0;
      if (self->state_ != State::kClosed) {
        delivered = self->SendEvent(
            protocol::EventFrame{self->name_, "server", std::move(name),
                                 std::move(payload)},
            /*except_session=*/0, /*publish=*/true);
      }
      done(delivered);
    });
  });
}

uint64_t Room::SendEvent(const protocol::EventFrame& event,
                         uint64_t except_session, bool publish) {
  auto frame = Shared(EncodeFrame(event));
  if (publish && context_.cluster != nullptr) {
    context_.cluster->PublishToRoom(name_, *frame);
  }
  uint64_t delivered = 0;
  for (auto& [id, m] : members_) {
    if (id == except_session) continue;
    SendTo(m, frame);  // after the catch-up of a member still joining
    ++delivered;
  }
  context_.stats.events_delivered.fetch_add(delivered,
                                            std::memory_order_relaxed);
  return delivered;
}

void Room::ApplyServerEdit(
    std::string doc, std::function<absl::Status(crdt::Doc&)> edit,
    std::function<void(absl::StatusOr<ServerEditResult>)> done) {
  asio::post(
      strand_, [self = shared_from_this(), doc = std::move(doc),
                edit = std::move(edit), done = std::move(done)]() mutable {
        self->WhenReady([self, doc = std::move(doc), edit = std::move(edit),
                         done = std::move(done)]() mutable {
          self->DoServerEdit(std::move(doc), edit, std::move(done));
        });
      });
}

void Room::ReadDocJson(std::string doc,
                       std::function<void(absl::StatusOr<std::string>)> done) {
  asio::post(strand_, [self = shared_from_this(), doc = std::move(doc),
                       done = std::move(done)]() mutable {
    self->WhenReady(
        [self, doc = std::move(doc), done = std::move(done)]() mutable {
          if (self->state_ == State::kClosed) {
            return done(absl::UnavailableError("room is unloading"));
          }
          auto it = self->docs_.find(doc);
          if (it == self->docs_.end()) {
            return done(absl::NotFoundError(
                absl::StrCat("room ", self->name_, " has no document ", doc)));
          }
          done(it->second->ToJson());
        });
  });
}

// ---- Loading ---------------------------------------------------------------

void Room::WhenReady(std::function<void()> fn) {
  switch (state_) {
    case State::kReady:
      fn();
      return;
    case State::kNew:
      waiting_.push_back(std::move(fn));
      StartLoad();
      return;
    case State::kLoading:
      waiting_.push_back(std::move(fn));
      return;
    case State::kClosed:
      // Unloaded or failed: the work runs against a closed room, which
      // refuses joins (the session retries on a fresh room) and ignores the
      // rest.
      fn();
      return;
  }
}

void Room::StartLoad() {
  state_ = State::kLoading;
  auto self = shared_from_this();
  auto work = [self] {
    return LoadRoomDocs(self->context_.store, self->name_,
                        self->context_.options.server_replica);
  };
  auto done = [self](absl::StatusOr<LoadedDocs> loaded) {
    asio::post(self->strand_,
               [self, loaded = std::make_shared<absl::StatusOr<LoadedDocs>>(
                          std::move(loaded))]() mutable {
                 self->FinishLoad(std::move(*loaded));
               });
  };
  absl::Status submitted = context_.executor.Run(std::move(work), done);
  if (!submitted.ok()) {
    asio::post(strand_, [self, submitted] { self->FinishLoad(submitted); });
  }
}

void Room::FinishLoad(absl::StatusOr<LoadedDocs> loaded) {
  if (!loaded.ok()) {
    LATTICE_LOG(kError) << "room " << name_
                        << ": load failed: " << loaded.status();
    Fail(loaded.status());
    return;
  }
  docs_ = std::move(loaded->docs);
  epoch_ = loaded->epoch;
  last_seq_ = loaded->last_seq;
  snapshot_seq_ = loaded->snapshot_seq;
  if (loaded->presence) {
    // Entries whose sessions do not come back expire after the TTL.
    absl::Status s = presence_.LoadState(*loaded->presence, absl::Now());
    if (!s.ok()) {
      LATTICE_LOG(kWarning)
          << "room " << name_ << ": presence checkpoint: " << s;
    }
    checkpointed_generation_ = presence_.generation();
    // On one node every restored entry is a session of the previous run.
    // In a cluster they may be other nodes' live sessions: TTL only.
    if (context_.cluster == nullptr) {
      for (crdt::PresenceEntry& e : presence_.Entries()) {
        restored_sessions_.emplace(std::move(e.session),
                                   std::move(e.identity.user_id));
      }
    }
  }
  state_ = State::kReady;
  context_.stats.rooms_loaded.fetch_add(1, std::memory_order_relaxed);
  if (context_.cluster != nullptr) {
    SendClusterHello(kHelloLoaded);
    ScheduleClusterSync();
  }
  std::vector<std::function<void()>> waiting;
  waiting.swap(waiting_);
  for (auto& fn : waiting) fn();
  if (members_.empty()) ScheduleIdleCheck();
}

// ---- Join and leave --------------------------------------------------------

void Room::DoJoin(Member member, protocol::JoinFrame join) {
  auto refuse = [&](absl::string_view code, absl::string_view message) {
    SendError(member.conn, code, message, FrameType::kJoin, join.ref);
    if (member.on_dropped) member.on_dropped();
  };
  if (state_ == State::kClosed) {
    return refuse("unavailable", "room is unloading; join again");
  }
  if (!members_.contains(member.session_id) &&
      members_.size() >= context_.options.max_members_per_room) {
    return refuse("room_full",
                  absl::StrCat("room has ", members_.size(), " members"));
  }
  idle_timer_.cancel();
  const uint64_t session_id = member.session_id;
  MemberState& m = members_[session_id];
  m = MemberState();
  m.member = std::move(member);

  // Tail: the client's resume point is in this epoch and inside the log.
  if (epoch_ != 0 && join.epoch == epoch_ && join.seq <= last_seq_) {
    if (join.seq == last_seq_) return SendJoined(m, join.ref, SyncPath::kNone);
    m.catching_up = true;
    auto self = shared_from_this();
    const storage::Epoch epoch = epoch_;
    const storage::Seq until = last_seq_;
    auto work = [self, epoch, from = join.seq,
                 until]() -> absl::StatusOr<std::vector<std::string>> {
      auto it = self->context_.store.ReadAfter(self->name_, epoch, from);
      if (!it.ok()) return it.status();
      std::vector<std::string> frames;
      for (; (*it)->Valid() && (*it)->seq() <= until; (*it)->Next()) {
        auto record = DecodeChangeRecord((*it)->bytes());
        if (!record.ok()) return record.status();
        frames.push_back(EncodeFrame(
            protocol::UpdateFrame{self->name_, std::move(record->doc), epoch,
                                  (*it)->seq(), std::move(record->update)}));
      }
      if (!(*it)->status().ok()) return (*it)->status();
      return frames;
    };
    auto done = [self, session_id,
                 join](absl::StatusOr<std::vector<std::string>> r) mutable {
      asio::post(self->strand_,
                 [self, session_id, join = std::move(join),
                  r = std::make_shared<decltype(r)>(std::move(r))]() mutable {
                   self->FinishTail(session_id, std::move(join), std::move(*r));
                 });
    };
    absl::Status submitted = context_.executor.Run(std::move(work), done);
    if (submitted.ok()) return;
    m.catching_up = false;  // fall through to version vectors
  }

  // Version vectors for the documents the client holds, snapshots for the
  // rest.
  absl::flat_hash_map<std::string, const std::string*> versions;
  for (const auto& v : join.versions) versions[v.doc] = &v.version_vector;
  bool any_update = false;
  bool any_snapshot = false;
  for (const auto& [name, doc] : docs_) {
    auto it = versions.find(name);
    crdt::VersionVector have;
    if (it != versions.end()) {
      auto decoded = crdt::VersionVector::Decode(*it->second);
      if (!decoded.ok()) {
        members_.erase(session_id);
        stats_.SetMembers(members_.size());
        return refuse("bad_frame", absl::StrCat("version of doc ", name, ": ",
                                                decoded.status().message()));
      }
      have = *std::move(decoded);
    }
    if (it != versions.end()) {
      if (have == doc->version() || doc->version().Total() == 0) continue;
      any_update = true;
      SendTo(m, Shared(EncodeFrame(protocol::UpdateFrame{
                    name_, name, epoch_, 0, doc->ChangesSince(have)})));
    } else {
      any_snapshot = true;
      SendTo(m, Shared(EncodeFrame(protocol::SnapshotFrame{
                    name_, name, doc->EncodeSnapshot()})));
    }
  }
  // docs/protocol.md, "Join paths": a client that listed versions takes the
  // version path (documents it lacks come as snapshots within it).
  SyncPath path = SyncPath::kNone;
  if (!join.versions.empty()) {
    if (any_update || any_snapshot) path = SyncPath::kVersion;
  } else if (any_snapshot) {
    path = SyncPath::kSnapshot;
  }
  SendJoined(m, join.ref, path);
}

void Room::SendJoined(MemberState& m, uint64_t ref, SyncPath path) {
  protocol::JoinedFrame joined;
  joined.ref = ref;
  joined.room = name_;
  joined.path = path;
  joined.epoch = epoch_;
  joined.seq = last_seq_;
  joined.access = m.member.access;
  for (const auto& [name, doc] : docs_) {
    joined.versions.push_back({name, doc->version().Encode()});
  }
  context_.stats.joins_by_path[static_cast<size_t>(path)].fetch_add(
      1, std::memory_order_relaxed);
  stats_.AddJoin(static_cast<size_t>(path));
  stats_.SetMembers(members_.size());
  m.member.conn->Send(Shared(EncodeFrame(joined)));
  JoinPresence(m);
}

void Room::FinishTail(uint64_t session_id, protocol::JoinFrame join,
                      absl::StatusOr<std::vector<std::string>> frames) {
  auto it = members_.find(session_id);
  if (it == members_.end() || !it->second.catching_up) return;  // left
  MemberState& m = it->second;
  if (!frames.ok()) {
    // Trimmed meanwhile, or a new epoch: resync by version vectors instead.
    LATTICE_LOG(kInfo) << "room " << name_ << ": tail for session "
                       << session_id << ": " << frames.status();
    Member member = std::move(m.member);
    members_.erase(it);
    join.epoch = 0;  // not the tail again
    return DoJoin(std::move(member), std::move(join));
  }
  for (std::string& f : *frames) m.member.conn->Send(Shared(std::move(f)));
  m.catching_up = false;
  // Broadcasts that arrived meanwhile hold seqs above the tail's end, so the
  // joined frame (seq = last_seq_ now) covers them; send them first.
  for (auto& f : m.buffered) m.member.conn->Send(std::move(f));
  m.buffered.clear();
  m.buffered_bytes = 0;
  SendJoined(m, join.ref, SyncPath::kTail);
}

void Room::DoLeave(uint64_t session_id, bool reply) {
  auto it = members_.find(session_id);
  if (it == members_.end()) return;
  if (reply) {
    it->second.member.conn->Send(
        Shared(EncodeFrame(protocol::LeftFrame{name_})));
  }
  members_.erase(it);
  stats_.SetMembers(members_.size());
  LeavePresence(session_id);
  if (members_.empty()) ScheduleIdleCheck();
}

// ---- Changes ---------------------------------------------------------------

crdt::Doc* Room::GetOrCreateDoc(const std::string& name, absl::Status* error) {
  auto it = docs_.find(name);
  if (it != docs_.end()) return it->second.get();
  if (docs_.size() >= context_.options.max_docs_per_room) {
    *error = absl::ResourceExhaustedError(
        absl::StrCat("room has ", docs_.size(), " documents (limit ",
                     context_.options.max_docs_per_room, ")"));
    return nullptr;
  }
  auto& doc = docs_[name];
  doc = std::make_unique<crdt::Doc>(context_.options.server_replica);
  return doc.get();
}

void Room::DoChange(uint64_t session_id, protocol::ChangeFrame change,
                    std::chrono::steady_clock::time_point received) {
  auto it = members_.find(session_id);
  if (it == members_.end()) return;  // left meanwhile; the session said so
  MemberState& m = it->second;
  const auto& conn = m.member.conn;
  if (state_ == State::kClosed) {
    return SendError(conn, "unavailable", "room is unloading; join again",
                     FrameType::kChange, change.client_seq);
  }
  if (m.member.access != protocol::RoomAccess::kWrite) {
    return SendError(conn, "read_only", "this session may only read the room",
                     FrameType::kChange, change.client_seq);
  }
  // A change to a document ends its author's typing in it.
  if (m.has_presence) {
    const uint64_t before = presence_.generation();
    presence_.StopTypingIn(SessionKey(session_id), change.doc, absl::Now())
        .IgnoreError();  // NotFound: the entry expired; nothing to stop
    if (presence_.generation() != before) SchedulePresenceFlush();
  }
  absl::Status error;
  crdt::Doc* doc = GetOrCreateDoc(change.doc, &error);
  if (doc == nullptr) {
    return SendError(conn, "too_large", error.message(), FrameType::kChange,
                     change.client_seq);
  }
  // Doc::MemoryUsage walks the whole document: measure it every
  // kMeasureEvery changes and add update sizes in between.
  static constexpr uint32_t kMeasureEvery = 64;
  DocSize& size = doc_sizes_[change.doc];
  if (size.changes_since_measured % kMeasureEvery == 0) {
    size.bytes = doc->MemoryUsage();
    size.changes_since_measured = 0;
  }
  ++size.changes_since_measured;
  size.bytes += change.update.size();
  if (size.bytes > context_.options.max_doc_bytes) {
    size.changes_since_measured = 0;  // measure again next time
    return SendError(
        conn, "too_large",
        absl::StrCat("document ", change.doc, " holds about ", size.bytes,
                     " bytes (limit ", context_.options.max_doc_bytes, ")"),
        FrameType::kChange, change.client_seq);
  }
  const crdt::VersionVector before = doc->version();
  const uint64_t pending_before = doc->pending_ops();
  auto applied = doc->ApplyUpdate(change.update);
  const bool changed =
      doc->version() != before || doc->pending_ops() != pending_before;
  if (!applied.ok()) {
    // Ops before the refused one stay applied (crdt::Doc::ApplyUpdate); the
    // update is still persisted and broadcast below so that the log and
    // every member reproduce the same state.
    SendError(conn,
              absl::IsResourceExhausted(applied.status()) ? "too_large"
                                                          : "bad_update",
              applied.status().message(), FrameType::kChange,
              change.client_seq);
    if (!changed) return;
  }
  PendingWrite w;
  w.session_id = session_id;
  w.client_seq = applied.ok() ? change.client_seq : 0;
  w.doc = std::move(change.doc);
  w.update = std::move(change.update);
  w.persist = changed;
  w.received = received;
  if (changed) {
    context_.stats.changes_applied.fetch_add(1, std::memory_order_relaxed);
    stats_.AddChange();
  } else {
    context_.stats.changes_duplicate.fetch_add(1, std::memory_order_relaxed);
  }
  queued_writes_.push_back(std::move(w));
  FlushWrites();
}

void Room::DoServerEdit(
    std::string doc_name, const std::function<absl::Status(crdt::Doc&)>& edit,
    std::function<void(absl::StatusOr<ServerEditResult>)> done) {
  if (state_ == State::kClosed) {
    return done(absl::UnavailableError("room is unloading; try again"));
  }
  const bool existed = docs_.contains(doc_name);
  absl::Status error;
  crdt::Doc* doc = GetOrCreateDoc(doc_name, &error);
  if (doc == nullptr) return done(error);
  // The size rule of DoChange: measure now and then, add update sizes.
  static constexpr uint32_t kMeasureEvery = 64;
  DocSize& size = doc_sizes_[doc_name];
  if (size.changes_since_measured % kMeasureEvery == 0) {
    size.bytes = doc->MemoryUsage();
    size.changes_since_measured = 0;
  }
  ++size.changes_since_measured;
  if (size.bytes > context_.options.max_doc_bytes) {
    size.changes_since_measured = 0;
    return done(absl::ResourceExhaustedError(
        absl::StrCat("document ", doc_name, " holds about ", size.bytes,
                     " bytes (limit ", context_.options.max_doc_bytes, ")")));
  }
  absl::Status edit_status = edit(*doc);
  std::string update = doc->Commit();
  if (update.empty() && !edit_status.ok()) {
    if (!existed) {  // a refused first edit leaves no empty document behind
      docs_.erase(doc_name);
      doc_sizes_.erase(doc_name);
    }
    return done(edit_status);
  }
  size.bytes += update.size();
  PendingWrite w;
  w.doc = std::move(doc_name);
  w.update = std::move(update);
  w.persist = !w.update.empty();
  w.received = std::chrono::steady_clock::now();
  w.done = std::move(done);
  w.edit_status = std::move(edit_status);
  if (w.persist) {
    context_.stats.changes_applied.fetch_add(1, std::memory_order_relaxed);
    context_.stats.server_edits.fetch_add(1, std::memory_order_relaxed);
    stats_.AddChange();
  }
  queued_writes_.push_back(std::move(w));
  FlushWrites();
}

void Room::FlushWrites() {
  if (write_in_flight_ || queued_writes_.empty()) return;
  std::vector<PendingWrite> batch(
      std::make_move_iterator(queued_writes_.begin()),
      std::make_move_iterator(queued_writes_.end()));
  queued_writes_.clear();
  std::vector<std::string> records;
  for (const PendingWrite& w : batch) {
    if (w.persist) records.push_back(EncodeChangeRecord(w.doc, w.update));
  }
  if (records.empty()) {  // only duplicates: everything before is durable
    FinishWrites(std::move(batch),
                 storage::AppendResult{epoch_, last_seq_ + 1, last_seq_});
    return;
  }
  write_in_flight_ = true;
  auto self = shared_from_this();
  auto work = [self, records = std::move(records)] {
    std::vector<absl::string_view> views(records.begin(), records.end());
    return self->context_.store.Append(self->name_, views);
  };
  auto batch_ptr =
      std::make_shared<std::vector<PendingWrite>>(std::move(batch));
  auto done = [self, batch_ptr](absl::StatusOr<storage::AppendResult> r) {
    asio::post(self->strand_, [self, batch_ptr, r = std::move(r)]() mutable {
      self->write_in_flight_ = false;
      self->FinishWrites(std::move(*batch_ptr), std::move(r));
      self->FlushWrites();
    });
  };
  absl::Status submitted = context_.executor.Run(std::move(work), done);
  if (!submitted.ok()) {
    write_in_flight_ = false;
    FinishWrites(std::move(*batch_ptr), submitted);
  }
}

void Room::FinishWrites(std::vector<PendingWrite> batch,
                        absl::StatusOr<storage::AppendResult> result) {
  if (!result.ok()) {
    LATTICE_LOG(kError) << "room " << name_
                        << ": append failed: " << result.status();
    for (PendingWrite& w : batch) {
      if (w.done) w.done(absl::UnavailableError(result.status().message()));
    }
    // The documents hold changes that are not durable: drop the room so it
    // reloads from the log; clients resync and resend what they hold.
    Fail(result.status());
    return;
  }
  epoch_ = result->epoch;
  storage::Seq seq = result->first_seq;
  for (PendingWrite& w : batch) {
    const storage::Seq assigned = w.persist ? seq++ : result->last_seq;
    if (w.persist) {
      last_seq_ = assigned;
      auto frame = Shared(EncodeFrame(protocol::UpdateFrame{
          name_, w.doc, epoch_, assigned, std::move(w.update)}));
      if (context_.cluster != nullptr && !w.from_cluster) {
        context_.cluster->PublishToRoom(name_, *frame);
      }
      Broadcast(std::move(frame), w.session_id);
    }
    if (w.done) {
      w.done(ServerEditResult{epoch_, assigned, std::move(w.edit_status)});
      continue;
    }
    auto it = members_.find(w.session_id);
    if (it == members_.end() || w.client_seq == 0) continue;
    it->second.member.conn->Send(Shared(EncodeFrame(
        protocol::AckFrame{name_, w.client_seq, epoch_, assigned})));
    context_.stats.RecordAck(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - w.received)
            .count()));
  }
  MaybeSnapshot();
}

void Room::Broadcast(std::shared_ptr<const std::string> frame,
                     uint64_t except_session) {
  // Counted before sending, so a member that saw the frame sees it counted.
  const uint64_t recipients =
      members_.size() - (members_.contains(except_session) ? 1 : 0);
  context_.stats.broadcast_frames.fetch_add(1, std::memory_order_relaxed);
  stats_.AddDeliveries(recipients, frame->size(),
                       std::chrono::steady_clock::now());
  for (auto& [id, m] : members_) {
    if (id != except_session) SendTo(m, frame);
  }
}

RoomStatsSample Room::SampleStats(
    std::chrono::steady_clock::time_point now) const {
  return stats_.Sample(now);
}

void Room::SendTo(MemberState& m, std::shared_ptr<const std::string> frame) {
  if (!m.catching_up) {
    m.member.conn->Send(std::move(frame));
    return;
  }
  m.buffered_bytes += frame->size();
  m.buffered.push_back(std::move(frame));
  if (m.buffered_bytes > context_.options.max_catch_up_buffer_bytes) {
    m.member.conn->Close(protocol::kCloseResyncRequired,
                         "fell behind while catching up");
    m.buffered.clear();
    m.buffered_bytes = 0;
  }
}

void Room::SendError(const std::shared_ptr<net::WsConnection>& conn,
                     absl::string_view code, absl::string_view message,
                     FrameType ref_type, uint64_t ref) {
  context_.stats.errors.fetch_add(1, std::memory_order_relaxed);
  protocol::ErrorFrame e;
  e.code = std::string(code);
  e.message = std::string(message);
  e.ref_type = static_cast<uint8_t>(ref_type);
  e.ref = ref;
  e.room = name_;
  conn->Send(Shared(EncodeFrame(e)));
}

// ---- Snapshots and unloading -----------------------------------------------

void Room::MaybeSnapshot() {
  if (snapshot_in_flight_ || epoch_ == 0 || last_seq_ <= snapshot_seq_) return;
  const bool idle = members_.empty();
  if (!idle &&
      last_seq_ - snapshot_seq_ < context_.options.snapshot_every_changes) {
    return;
  }
  snapshot_in_flight_ = true;
  auto self = shared_from_this();
  const storage::Epoch epoch = epoch_;
  const storage::Seq seq = last_seq_;
  auto work = [self, epoch, seq, bytes = EncodeDocs(docs_)] {
    return self->context_.store.WriteSnapshot(self->name_, epoch, seq, bytes);
  };
  auto done = [self, seq](absl::StatusOr<storage::SnapshotResult> r) {
    asio::post(self->strand_, [self, seq, ok = r.ok(), status = r.status()] {
      self->snapshot_in_flight_ = false;
      if (!ok) {
        LATTICE_LOG(kWarning)
            << "room " << self->name_ << ": snapshot failed: " << status;
        return;
      }
      self->snapshot_seq_ = std::max(self->snapshot_seq_, seq);
      self->context_.stats.snapshots_written.fetch_add(
          1, std::memory_order_relaxed);
      if (self->members_.empty()) self->IdleCheck();
    });
  };
  if (!context_.executor.Run(std::move(work), done).ok()) {
    snapshot_in_flight_ = false;
  }
}

void Room::ScheduleIdleCheck() {
  idle_timer_.expires_after(std::chrono::microseconds(
      absl::ToInt64Microseconds(context_.options.room_idle_unload)));
  idle_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->IdleCheck();
      });
}

void Room::IdleCheck() {
  if (state_ != State::kReady || !members_.empty()) return;
  if (write_in_flight_ || !queued_writes_.empty() || snapshot_in_flight_) {
    return ScheduleIdleCheck();
  }
  if (last_seq_ > snapshot_seq_) {
    MaybeSnapshot();  // calls IdleCheck again when written
    if (snapshot_in_flight_) return;
  }
  Unload();
}

void Room::Unload() {
  state_ = State::kClosed;
  idle_timer_.cancel();
  cluster_timer_.cancel();
  docs_.clear();
  doc_sizes_.clear();
  context_.stats.rooms_loaded.fetch_sub(1, std::memory_order_relaxed);
  if (context_.on_unloaded) context_.on_unloaded(this);
}

void Room::Fail(const absl::Status& status) {
  const bool was_ready = state_ == State::kReady;
  state_ = State::kClosed;
  idle_timer_.cancel();
  cluster_timer_.cancel();
  for (auto& [id, m] : members_) {
    SendError(m.member.conn, "unavailable",
              absl::StrCat("room failed: ", status.message()), FrameType::kJoin,
              0);
    if (m.member.on_dropped) m.member.on_dropped();
  }
  members_.clear();
  stats_.SetMembers(0);
  for (PendingWrite& w : queued_writes_) {
    if (w.done) {
      w.done(absl::UnavailableError(
          absl::StrCat("room failed: ", status.message())));
    }
  }
  queued_writes_.clear();
  docs_.clear();
  std::vector<std::function<void()>> waiting;
  waiting.swap(waiting_);
  for (auto& fn : waiting) fn();  // refused: the room is closed
  if (was_ready) {
    context_.stats.rooms_loaded.fetch_sub(1, std::memory_order_relaxed);
  }
  if (context_.on_unloaded) context_.on_unloaded(this);
}

}  // namespace lattice::engine
