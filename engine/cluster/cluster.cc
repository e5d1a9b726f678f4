#include "engine/cluster/cluster.h"

#include <utility>

#include "base/logging.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace lattice::engine {
namespace {

constexpr size_t kOriginBytes = 8;

protocol::DecodeLimits ClusterLimits() {
  protocol::DecodeLimits limits;
  // A hello's answer carries ChangesSince of a whole document, which may
  // reach EngineOptions::max_doc_bytes (64 MiB by default).
  limits.max_payload_bytes = uint64_t{256} << 20;
  return limits;
}

uint64_t NewNodeId() {
  absl::BitGen gen;
  uint64_t id = 0;
  while (id == 0) id = absl::Uniform<uint64_t>(gen);
  return id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(
    const ClusterOptions& options, ClusterHandlers handlers) {
  std::unique_ptr<Cluster> cluster(new Cluster(options, std::move(handlers)));
  net::RedisBusOptions bus;
  bus.address = options.redis_address;
  bus.pattern = absl::StrCat(options.channel_prefix, ":*");
  Cluster* c = cluster.get();
  auto started = net::RedisBus::Start(
      std::move(bus),
      [c](absl::string_view channel, absl::string_view payload) {
        c->OnMessage(channel, payload);
      },
      [c] {
        if (c->handlers_.on_subscribed) c->handlers_.on_subscribed();
      });
  if (!started.ok()) return started.status();
  cluster->bus_ = *std::move(started);
  LATTICE_LOG(kInfo) << "cluster: node " << c->node_id_ << " on redis "
                     << options.redis_address;
  return cluster;
}

Cluster::Cluster(const ClusterOptions& options, ClusterHandlers handlers)
    : room_prefix_(absl::StrCat(options.channel_prefix, ":r:")),
      user_prefix_(absl::StrCat(options.channel_prefix, ":u:")),
      node_id_(NewNodeId()),
      handlers_(std::move(handlers)),
      limits_(ClusterLimits()) {}

Cluster::~Cluster() { Stop(); }

void Cluster::Stop() {
  if (bus_ != nullptr) bus_->Stop();
}

std::string Cluster::Envelope(absl::string_view frame) const {
  std::string out;
  out.reserve(kOriginBytes + frame.size());
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((node_id_ >> shift) & 0xff));
  }
  out.append(frame.data(), frame.size());
  return out;
}

void Cluster::PublishToRoom(absl::string_view room, absl::string_view frame) {
  bus_->Publish(absl::StrCat(room_prefix_, room), Envelope(frame));
}

void Cluster::PublishToUser(absl::string_view user, absl::string_view frame) {
  bus_->Publish(absl::StrCat(user_prefix_, user), Envelope(frame));
}

void Cluster::OnMessage(absl::string_view channel, absl::string_view payload) {
  if (payload.size() < kOriginBytes) {
    LATTICE_LOG(kWarning) << "cluster: " << channel << ": message of "
                          << payload.size() << " bytes has no origin";
    return;
  }
  uint64_t origin = 0;
  for (size_t i = 0; i < kOriginBytes; ++i) {
    origin = (origin << 8) | static_cast<uint8_t>(payload[i]);
  }
  if (origin == node_id_) return;  // our own, back from Redis
  absl::StatusOr<protocol::Frame> frame =
      protocol::DecodeFrame(payload.substr(kOriginBytes), limits_);
  if (!frame.ok()) {
    LATTICE_LOG(kWarning) << "cluster: " << channel << " from node " << origin
                          << ": " << frame.status();
    return;
  }
  absl::string_view name = channel;
  if (absl::ConsumePrefix(&name, room_prefix_)) {
    if (handlers_.on_room) handlers_.on_room(name, *std::move(frame));
  } else if (absl::ConsumePrefix(&name, user_prefix_)) {
    if (handlers_.on_user) handlers_.on_user(name, *std::move(frame));
  }
}

}  // namespace lattice::engine
