// Cluster: this node's share of the fan-out between Lattice nodes, over Redis
// pub/sub (net::RedisBus). Every node keeps its own RocksDB and is a full
// replica of the rooms it hosts; what one node accepts reaches the others as
// protocol frames (engine/protocol/frames.h), so the decoder that guards the
// client path guards this one too. docs/architecture.md ("Several nodes")
// is the design; the channels and frames are:
//
//   <prefix>:r:<room>   UpdateFrame   a change this node persisted
//                       JoinedFrame   "hello": the sender's version vectors;
//                                     ref is a HelloRef
//                       PresenceUpdateFrame  the sender's own sessions'
//                                     presence entries (Room, "Several
//                                     nodes": deltas and heartbeats)
//                       EventFrame    a room event
//   <prefix>:u:<user>   EventFrame    a user event (room empty)
//                       ErrorFrame    code "revoked": close that user's
//                                     sessions with 4001
//
// Each message is the sending node's id (8 bytes, big-endian) and one
// encoded frame; a node drops its own messages. Redis pub/sub loses what is
// published while a node is away, so rooms exchange hellos when they load,
// when the bus resubscribes and every sync_interval; a hello answers with
// ChangesSince(the sender's version vectors), and CRDT updates are
// idempotent, so nodes converge whatever was lost.
//
// Thread safety: Publish* and node_id may be called from any thread. The
// handlers run on the bus's subscriber thread, one at a time, and must not
// block.
#ifndef LATTICE_ENGINE_CLUSTER_CLUSTER_H_
#define LATTICE_ENGINE_CLUSTER_CLUSTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/protocol/frames.h"
#include "net/redis_bus.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::engine {

// What a hello (a JoinedFrame on a room's channel, its `ref`) asks of the
// nodes that receive it. Every node that has the room in memory answers
// with the updates the sender lacks.
enum HelloRef : uint64_t {
  kHelloReply = 0,   // nothing more
  kHelloAsk = 1,     // and a hello back, if the sender holds what it lacks
  kHelloLoaded = 2,  // the sender just loaded the room: as kHelloAsk, and a
                     // node that stores the room without having it in
                     // memory loads it to answer
};

// The ErrorFrame code that revokes a user's sessions on every node.
inline constexpr absl::string_view kRevokedCode = "revoked";

struct ClusterOptions {
  // The Redis server: "host:port" or "unix:/path". Empty: one node, no
  // cluster. Default: empty
  std::string redis_address;
  // Channel prefix, so several clusters can share one Redis.
  // Default: "lattice"
  std::string channel_prefix = "lattice";
  // How often a loaded room exchanges hellos with the other nodes, to
  // repair updates Redis lost. Default: 30 s
  absl::Duration sync_interval = absl::Seconds(30);
};

struct ClusterHandlers {
  // A frame another node published to a room's channel.
  std::function<void(absl::string_view room, protocol::Frame frame)> on_room;
  // A frame another node published to a user's channel.
  std::function<void(absl::string_view user, protocol::Frame frame)> on_user;
  // After every (re)subscription: updates may have been lost meanwhile.
  std::function<void()> on_subscribed;
};

class Cluster {
 public:
  // Errors: InvalidArgument for an unusable address.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Cluster>> Start(
      const ClusterOptions& options, ClusterHandlers handlers);
  ~Cluster();

  // Publishes one encoded frame (EncodeFrame) to a room's or user's channel.
  void PublishToRoom(absl::string_view room, absl::string_view frame);
  void PublishToUser(absl::string_view user, absl::string_view frame);

  net::RedisBusStats stats() const { return bus_->stats(); }
  bool subscribed() const { return bus_->subscribed(); }

  // Stops the bus; no handler runs after it returns. Idempotent.
  void Stop();

 private:
  Cluster(const ClusterOptions& options, ClusterHandlers handlers);
  void OnMessage(absl::string_view channel, absl::string_view payload);
  std::string Envelope(absl::string_view frame) const;

  const std::string room_prefix_;  // "<prefix>:r:"
  const std::string user_prefix_;  // "<prefix>:u:"
  // A random id, new at every start, that tells this node's messages apart.
  const uint64_t node_id_;
  const ClusterHandlers handlers_;
  const protocol::DecodeLimits limits_;
  std::unique_ptr<net::RedisBus> bus_;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_CLUSTER_CLUSTER_H_
