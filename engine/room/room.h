// A Room: the named documents of one room, its members and its durable log,
// all owned by the room's strand. Sessions hand it joins, changes and leaves
// from their connection strands; it answers members directly through their
// connections (net::WsConnection::Send is thread-safe).
//
// Lifecycle: created empty by the RoomRegistry on first use, it loads itself
// from the RoomStore (latest snapshot + log tail) on the store executor and
// queues whatever arrives meanwhile. With no members for
// EngineOptions::room_idle_unload it writes a snapshot when the log has grown
// since the last one, and asks the registry to drop it.
//
// The change path (docs/architecture.md, "The path of a change"): decode and
// apply to the document on the strand; append to the log (one Append in
// flight per room; changes arriving meanwhile form the next batch, one WAL
// record and, in kSync mode, one shared fsync); when durable, ack the sender
// and broadcast one encoded update frame to every other member. A change
// that brings nothing new is acked once everything before it is durable,
// without being persisted again.
//
// The backend edits documents through ApplyServerEdit, as the server's
// replica (EngineOptions::server_replica): the edit runs on the strand
// against the room's Doc, whose Commit() gives the update that takes the
// same path (one batch with member changes, then a broadcast to every
// member). Events (Emit, EmitFromServer) are never persisted: they go to the
// members at once.
//
// Thread safety: the public methods may be called from any thread; each posts
// its work to strand(). Every member below is confined to the strand.
#ifndef LATTICE_ENGINE_ROOM_ROOM_H_
#define LATTICE_ENGINE_ROOM_ROOM_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "crdt/doc.h"
#include "crdt/presence.h"
#include "engine/cluster/cluster.h"
#include "engine/engine_options.h"
#include "engine/engine_stats.h"
#include "engine/protocol/frames.h"
#include "engine/room/room_loader.h"
#include "engine/room/room_stats.h"
#include "net/websocket.h"
#include "storage/room_store.h"
#include "storage/store_executor.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace lattice::engine {

class Room;

// What every room shares. Owned by the SyncServer, which outlives its rooms'
// work (it drains the executor before destruction).
struct RoomContext {
  // The io_context of a room's strand (SyncServerOptions::room_context).
  std::function<boost::asio::io_context&(absl::string_view room)> io_for;
  storage::RoomStore& store;
  storage::StoreExecutor& executor;
  const EngineOptions& options;
  EngineStats& stats;
  // Called on the room's strand when an idle room has unloaded itself; the
  // registry forgets it (if it still maps its name to this room).
  std::function<void(Room*)> on_unloaded;
  // The other nodes (engine/cluster/cluster.h); null on a single node.
  Cluster* cluster = nullptr;
  // How often a loaded room exchanges hellos with the other nodes.
  absl::Duration cluster_sync_interval = absl::Seconds(30);
};

// What a server edit became (Room::ApplyServerEdit).
struct ServerEditResult {
  uint64_t epoch = 0;
  // The room seq that persisted the edit; the room's current seq when the
  // edit changed nothing.
  uint64_t seq = 0;
  // The edit function's error. What it did before failing is applied,
  // durable (at `seq`) and broadcast all the same: ops a Doc has made
  // cannot be withdrawn, and the log must reproduce the Doc.
  absl::Status edit_status;
};

// A joined connection, as the room sees it.
struct Member {
  uint64_t session_id = 0;
  std::shared_ptr<net::WsConnection> conn;
  protocol::RoomAccess access = protocol::RoomAccess::kRead;
  // Who the member is in the room's presence: from the token, never from
  // the client.
  crdt::Identity identity;
  // Called on the room's strand when the room refuses or drops the member
  // (full, load failure, unloading): the session forgets the room.
  std::function<void()> on_dropped;
};

class Room : public std::enable_shared_from_this<Room> {
 public:
  Room(std::string name, RoomContext& context);
  ~Room();
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  const std::string& name() const { return name_; }

  // Adds `member` and brings it up to date from `join`'s resume point
  // (catch-up frames, then a joined frame).
  void Join(Member member, protocol::JoinFrame join);
  // Applies, persists, acks and broadcasts a change from a member.
  void Change(uint64_t session_id, protocol::ChangeFrame change);
  // Removes a member; answers with a left frame when `reply`.
  void Leave(uint64_t session_id, bool reply);
  // Sets a member's presence fields (an empty frame is a heartbeat);
  // room_presence.cc.
  void SetPresence(uint64_t session_id, protocol::PresenceFrame presence);

  // Sends a member's event to every other member (never persisted), then
  // answers the sender with event_ack when `emit.ref` != 0, or with an
  // error frame (not_joined) when it is no longer a member. `from` is the
  // sender's user id. The session has checked write access and rate.
  void Emit(uint64_t session_id, std::string from, protocol::EmitFrame emit);
  // Sends a backend event (from "server") to every member; `done` gets the
  // number of connections it was handed to (0 when the room is unloading).
  // `done` runs on the room's strand and must not block.
  void EmitFromServer(std::string name, std::string payload,
                      std::function<void(uint64_t delivered)> done);

  // Runs `edit` on document `doc` (created when absent) as the server's
  // replica, then persists, broadcasts to every member and calls `done`
  // once the update is durable. `done` runs on the room's strand and must
  // not block; `edit` too, and it must not keep the Doc reference.
  // Errors given to `done`: ResourceExhausted when the room has
  // max_docs_per_room documents or the document exceeds max_doc_bytes
  // (nothing applied); Unavailable when the room is unloading or storage
  // failed; an `edit` error that changed nothing is passed through as is.
  void ApplyServerEdit(
      std::string doc, std::function<absl::Status(crdt::Doc&)> edit,
      std::function<void(absl::StatusOr<ServerEditResult>)> done);
  // Gives `done` document `doc` as JSON (crdt::Doc::ToJson). Errors:
  // NotFound when the room has no such document, Unavailable when the room
  // is unloading. `done` runs on the room's strand and must not block.
  void ReadDocJson(std::string doc,
                   std::function<void(absl::StatusOr<std::string>)> done);

  // Calls `done` on the room's strand with the room's presence as JSON
  // (crdt::Presence::ToJson); Unavailable when the room is unloading.
  void ReadPresenceJson(std::function<void(absl::StatusOr<std::string>)> done);

  // For a graceful stop, before the connections close: checkpoints the
  // presence as it is now (after a checkpoint already in flight) and none
  // after it, so the restarted server starts from the sessions that were
  // connected, not from after they left. `done` runs once, on the room's
  // strand, when the write ended (a failure is logged) or was not needed;
  // it must not block.
  void CheckpointPresenceForStop(std::function<void()> done);

  // ---- Several nodes (room_cluster.cc) ----
  // Takes a frame another node published to this room's channel (an
  // update, a hello or an event; cluster.h).
  void OnClusterFrame(protocol::Frame frame);
  // After the bus resubscribed, when updates may have been lost: sends a
  // hello asking the other nodes for what this node lacks, and reasserts
  // this node's presence entries (they may have expired elsewhere).
  void ClusterResync();

  // The room's figures for /metrics. Any thread.
  RoomStatsSample SampleStats(std::chrono::steady_clock::time_point now) const;

 private:
  enum class State { kNew, kLoading, kReady, kClosed };
  struct MemberState {
    Member member;
    bool catching_up = false;  // tail replay in flight: buffer broadcasts
    std::vector<std::shared_ptr<const std::string>> buffered;
    uint64_t buffered_bytes = 0;
    // Presence: whether it has the room's presence (sent after joined), and
    // the presence generation its last presence frame brought it to.
    bool has_presence = false;
    uint64_t presence_seen = 0;
  };
  // A change waiting for, or in, the room's Append.
  struct PendingWrite {
    uint64_t session_id = 0;
    uint64_t client_seq = 0;
    std::string doc;
    std::string update;
    bool persist = true;  // false: brings nothing new, only needs its ack
    std::chrono::steady_clock::time_point received;  // for the ack latency
    // Set for a server edit (session_id 0): called when durable, with
    // `edit_status` its edit's error.
    std::function<void(absl::StatusOr<ServerEditResult>)> done;
    absl::Status edit_status;
    bool from_cluster = false;  // another node's: not published again
  };

  // Runs `fn` on the strand once the room is loaded.
  void WhenReady(std::function<void()> fn);
  void StartLoad();
  void FinishLoad(absl::StatusOr<LoadedDocs> loaded);

  void DoJoin(Member member, protocol::JoinFrame join);
  void DoChange(uint64_t session_id, protocol::ChangeFrame change,
                std::chrono::steady_clock::time_point received);
  void DoLeave(uint64_t session_id, bool reply);
  void DoServerEdit(std::string doc_name,
                    const std::function<absl::Status(crdt::Doc&)>& edit,
                    std::function<void(absl::StatusOr<ServerEditResult>)> done);
  // Sends an event frame to every member but `except_session`, and to the
  // other nodes when `publish`; returns how many members here it was
  // handed to.
  uint64_t SendEvent(const protocol::EventFrame& event, uint64_t except_session,
                     bool publish);

  void SendJoined(MemberState& m, uint64_t ref, protocol::SyncPath path);
  // `join` is the original request: a failed tail falls back to it.
  void FinishTail(uint64_t session_id, protocol::JoinFrame join,
                  absl::StatusOr<std::vector<std::string>> frames);
  void FlushWrites();
  void FinishWrites(std::vector<PendingWrite> batch,
                    absl::StatusOr<storage::AppendResult> result);
  void MaybeSnapshot();
  void ScheduleIdleCheck();
  void IdleCheck();
  void Unload();
  // Drops every member and queued work after a storage failure, so the
  // room reloads from what is durable.
  void Fail(const absl::Status& status);

  // ---- Presence (room_presence.cc) ----
  // A member's id in the room's presence.
  std::string SessionKey(uint64_t session_id) const;
  // Adds the member's entry and sends it the whole presence.
  void JoinPresence(MemberState& m);
  void LeavePresence(uint64_t session_id);
  void DoSetPresence(uint64_t session_id, protocol::PresenceFrame presence);
  // Sends what changed to every member as soon as the strand is free when
  // the last flush is a tick old, else at the next tick.
  void SchedulePresenceFlush();
  void ArmPresenceFlush(std::chrono::steady_clock::time_point due);
  void FlushPresence();
  // Every second while anything is present: TTL expiry, typing auto-stop,
  // checkpoints.
  void SchedulePresenceHousekeeping();
  void PresenceHousekeeping();
  void MaybeCheckpointPresence(absl::Time now);
  // Writes presence_.EncodeState(); `then` (may be empty) runs on the
  // strand when the write ended.
  void WritePresenceCheckpoint(std::function<void()> then);
  // The stop checkpoint, once nothing is in flight.
  void WriteFinalPresenceCheckpoint(std::function<void()> done);
  // One node only: removes the entries restored from the checkpoint that
  // belong to `user_id`, who is back with a new session.
  void RetireRestoredEntries(const std::string& user_id);

  // ---- Several nodes (room_cluster.cc) ----
  // Applies another node's update as a change from nobody: persisted here
  // and broadcast to every member.
  void DoRemoteUpdate(protocol::UpdateFrame update);
  // Publishes this room's version vectors (cluster.h, HelloRef).
  void SendClusterHello(HelloRef ref);
  void AnswerClusterHello(const protocol::JoinedFrame& hello);
  // Publishes what changed after `since` in the entries of this node's
  // sessions (crdt::Presence::EncodeSessions); 0: all of them, which is
  // also their heartbeat on the other nodes.
  void PublishOwnPresence(uint64_t since);
  // Publishes what changed in this node's sessions as soon as the strand is
  // free (SchedulePresenceFlush calls it).
  void ScheduleClusterPresence();
  void ApplyRemotePresence(const protocol::PresenceUpdateFrame& update);
  void ScheduleClusterSync();

  crdt::Doc* GetOrCreateDoc(const std::string& doc, absl::Status* error);
  void Broadcast(std::shared_ptr<const std::string> frame,
                 uint64_t except_session);
  void SendTo(MemberState& m, std::shared_ptr<const std::string> frame);
  void SendError(const std::shared_ptr<net::WsConnection>& conn,
                 absl::string_view code, absl::string_view message,
                 protocol::FrameType ref_type, uint64_t ref);

  // Immutable after construction.
  const std::string name_;
  RoomContext& context_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  RoomStats stats_;  // written on strand_, read by any thread

  // Confined to strand_.
  State state_ = State::kNew;
  std::vector<std::function<void()>> waiting_;  // work queued while loading
  std::map<std::string, std::unique_ptr<crdt::Doc>> docs_;  // name order
  // Approximate size of each document, for max_doc_bytes.
  struct DocSize {
    uint64_t bytes = 0;
    uint32_t changes_since_measured = 0;
  };
  absl::flat_hash_map<std::string, DocSize> doc_sizes_;
  absl::flat_hash_map<uint64_t, MemberState> members_;
  storage::Epoch epoch_ = 0;  // 0 until the first append creates the room
  storage::Seq last_seq_ = 0;
  storage::Seq snapshot_seq_ = 0;
  bool snapshot_in_flight_ = false;
  std::deque<PendingWrite> queued_writes_;
  bool write_in_flight_ = false;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer cluster_timer_;

  crdt::Presence presence_;
  boost::asio::steady_timer presence_timer_;
  bool presence_flush_scheduled_ = false;
  std::chrono::steady_clock::time_point last_presence_flush_{};
  boost::asio::steady_timer housekeeping_timer_;
  bool housekeeping_scheduled_ = false;
  uint64_t checkpointed_generation_ = 0;
  absl::Time last_checkpoint_ = absl::InfinitePast();
  bool checkpoint_in_flight_ = false;
  // Set by CheckpointPresenceForStop: no checkpoint follows the final one,
  // which waits in final_checkpoint_done_ while an earlier one is written.
  bool presence_final_ = false;
  std::function<void()> final_checkpoint_done_;
  // One node only: session -> user id of the entries LoadState restored.
  // Their connections ended with the previous run, so nothing renews them:
  // each leaves when its user joins again, or at its TTL.
  absl::flat_hash_map<std::string, std::string> restored_sessions_;
  // Several nodes: the presence generation last published, and when this
  // node last vouched for its sessions.
  uint64_t cluster_presence_seen_ = 0;
  bool cluster_presence_scheduled_ = false;
  absl::Time last_presence_heartbeat_ = absl::InfinitePast();
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ROOM_ROOM_H_
