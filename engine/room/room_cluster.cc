// The several-nodes half of Room (room.h): updates, hellos and events from
// the other nodes (engine/cluster/cluster.h). Everything here runs on the
// room's strand; nothing runs on a single node (context_.cluster is null).
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>

#include "base/logging.h"
#include "crdt/version_vector.h"
#include "engine/room/room.h"

namespace lattice::engine {

namespace asio = boost::asio;
using protocol::EncodeFrame;

void Room::OnClusterFrame(protocol::Frame frame) {
  asio::post(
      strand_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
        self->WhenReady([self, frame = std::move(frame)]() mutable {
          if (self->state_ != State::kReady) return;  // unloaded meanwhile
          if (auto* update = std::get_if<protocol::UpdateFrame>(&frame)) {
            self->DoRemoteUpdate(std::move(*update));
          } else if (auto* hello = std::get_if<protocol::JoinedFrame>(&frame)) {
            self->AnswerClusterHello(*hello);
          } else if (auto* presence =
                         std::get_if<protocol::PresenceUpdateFrame>(&frame)) {
            self->ApplyRemotePresence(*presence);
          } else if (auto* event = std::get_if<protocol::EventFrame>(&frame)) {
            event->room = self->name_;
            self->SendEvent(*event, /*except_session=*/0, /*publish=*/false);
          } else {
            LATTICE_LOG(kWarning)
                << "room " << self->name_ << ": cluster frame of type "
                << static_cast<int>(protocol::TypeOf(frame)) << " ignored";
          }
        });
      });
}

void Room::ClusterResync() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->state_ != State::kReady) return;
    self->SendClusterHello(kHelloAsk);
    // The other nodes may have expired our sessions while the bus was away;
    // restamped, they come back with the next flush.
    if (self->presence_.Reassert(self->context_.options.session_id_prefix) >
        0) {
      self->SchedulePresenceFlush();
    }
  });
}

void Room::DoRemoteUpdate(protocol::UpdateFrame update) {
  absl::Status error;
  crdt::Doc* doc = GetOrCreateDoc(update.doc, &error);
  if (doc == nullptr) {
    LATTICE_LOG(kWarning) << "room " << name_ << ": update of " << update.doc
                          << " from another node: " << error;
    return;
  }
  const crdt::VersionVector before = doc->version();
  const uint64_t pending_before = doc->pending_ops();
  auto applied = doc->ApplyUpdate(update.update);
  if (!applied.ok()) {
    // As in DoChange: the ops before the refused one stay applied, and are
    // persisted below so that the log reproduces the document.
    LATTICE_LOG(kWarning) << "room " << name_ << ": update of " << update.doc
                          << " from another node: " << applied.status();
  }
  if (doc->version() == before && doc->pending_ops() == pending_before) {
    return;  // nothing new (a hello's answer often repeats what we have)
  }
  doc_sizes_[update.doc].bytes += update.update.size();
  PendingWrite w;
  w.doc = std::move(update.doc);
  w.update = std::move(update.update);
  w.received = std::chrono::steady_clock::now();
  w.from_cluster = true;
  context_.stats.changes_applied.fetch_add(1, std::memory_order_relaxed);
  stats_.AddChange();
  queued_writes_.push_back(std::move(w));
  FlushWrites();
}

void Room::SendClusterHello(HelloRef ref) {
  protocol::JoinedFrame hello;
  hello.ref = ref;
  hello.room = name_;
  hello.epoch = epoch_;
  hello.seq = last_seq_;
  for (const auto& [name, doc] : docs_) {
    hello.versions.push_back({name, doc->version().Encode()});
  }
  context_.cluster->PublishToRoom(name_, EncodeFrame(hello));
}

void Room::AnswerClusterHello(const protocol::JoinedFrame& hello) {
  std::map<std::string, crdt::VersionVector> theirs;
  bool they_have_more = false;
  for (const protocol::DocVersion& v : hello.versions) {
    auto vv = crdt::VersionVector::Decode(v.version_vector);
    if (!vv.ok()) {
      LATTICE_LOG(kWarning)
          << "room " << name_ << ": hello with a bad "
          << "version vector for " << v.doc << ": " << vv.status();
      continue;
    }
    auto mine = docs_.find(v.doc);
    if (mine == docs_.end() ? !vv->empty()
                            : !mine->second->version().Includes(*vv)) {
      they_have_more = true;
    }
    theirs[v.doc] = *std::move(vv);
  }
  for (const auto& [name, doc] : docs_) {
    auto it = theirs.find(name);
    const crdt::VersionVector since =
        it == theirs.end() ? crdt::VersionVector() : it->second;
    if (since.Includes(doc->version())) continue;
    context_.cluster->PublishToRoom(
        name_, EncodeFrame(protocol::UpdateFrame{name_, name, epoch_, 0,
                                                 doc->ChangesSince(since)}));
  }
  if (hello.ref != kHelloReply) {
    if (they_have_more) SendClusterHello(kHelloReply);
    PublishOwnPresence(0);  // a node that just loaded has none of it
  }
}

void Room::ScheduleClusterPresence() {
  if (cluster_presence_scheduled_ || state_ == State::kClosed) return;
  cluster_presence_scheduled_ = true;
  // Not on the member tick: the other nodes send it on at their own, and
  // waiting for both would make a cursor wait up to two ticks. Posted, so
  // the presence frames already queued on the strand leave in one message.
  asio::post(strand_, [self = shared_from_this()] {
    self->cluster_presence_scheduled_ = false;
    const uint64_t generation = self->presence_.generation();
    self->PublishOwnPresence(self->cluster_presence_seen_);
    self->cluster_presence_seen_ = generation;
  });
}

void Room::PublishOwnPresence(uint64_t since) {
  std::string delta =
      presence_.EncodeSessions(since, context_.options.session_id_prefix);
  if (delta.empty()) return;
  context_.cluster->PublishToRoom(
      name_,
      EncodeFrame(protocol::PresenceUpdateFrame{name_, std::move(delta)}));
}

void Room::ApplyRemotePresence(const protocol::PresenceUpdateFrame& update) {
  const uint64_t before = presence_.generation();
  absl::Status s = presence_.ApplyDelta(update.presence, absl::Now());
  if (!s.ok()) {
    LATTICE_LOG(kWarning) << "room " << name_
                          << ": presence from another node: " << s;
    return;
  }
  if (presence_.generation() != before) SchedulePresenceFlush();
  SchedulePresenceHousekeeping();  // expires them if their node goes quiet
}

void Room::ScheduleClusterSync() {
  cluster_timer_.expires_after(std::chrono::microseconds(
      absl::ToInt64Microseconds(context_.cluster_sync_interval)));
  cluster_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->state_ != State::kReady) return;
        self->SendClusterHello(kHelloAsk);
        self->ScheduleClusterSync();
      });
}

}  // namespace lattice::engine
