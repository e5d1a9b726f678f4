// Helpers for the end-to-end engine tests: a Node on 127.0.0.1 port 0 over a
// temporary data directory, tokens for it, and RawClient, a synchronous
// protocol client that keeps its CRDT replicas across connections (so a test
// can go offline, edit, and come back) and records every frame it receives.
#ifndef LATTICE_TESTS_ENGINE_SYNC_TEST_UTIL_H_
#define LATTICE_TESTS_ENGINE_SYNC_TEST_UTIL_H_

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/doc.h"
#include "crdt/presence.h"
#include "engine/auth/jwt_minter.h"
#include "engine/node.h"
#include "engine/protocol/frames.h"
#include "tests/testing/ws_test_client.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {

namespace protocol = ::lattice::engine::protocol;

inline constexpr char kSecret[] = "lattice-test-secret-0123456789-abcdefghij";

// A data directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            absl::StrCat("lattice-engine-test-", getpid(), "-", counter++);
    std::filesystem::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline NodeOptions TestNodeOptions(const std::string& data_dir) {
  NodeOptions o;
  o.port = 0;
  o.data_dir = data_dir;
  o.threads = 2;
  o.store.durability = storage::Durability::kProcess;  // tests need no fsync
  o.sync.jwt.keys.push_back({std::nullopt, JwtAlgorithm::kHs256, kSecret});
  o.sync.executor.threads = 2;
  o.shutdown_grace = std::chrono::milliseconds(2000);
  return o;
}

// rooms: grant strings ("lobby", "team/*") read-write; read_rooms read-only.
inline std::string Token(const std::string& sub,
                         const std::vector<std::string>& rooms,
                         const std::vector<std::string>& read_rooms = {},
                         absl::Duration ttl = absl::Hours(1)) {
  nlohmann::json grants = nlohmann::json::array();
  for (const auto& r : rooms) grants.push_back(r);
  for (const auto& r : read_rooms) {
    grants.push_back({{"room", r}, {"write", false}});
  }
  nlohmann::json claims = {{"sub", sub},
                           {"exp", absl::ToUnixSeconds(absl::Now() + ttl)},
                           {"rooms", grants}};
  auto token = MintHs256(kSecret, claims);
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? *token : "";
}

class RawClient;

// Reads frames of `c` until one of type T arrives; `seen` collects every
// frame read.
template <typename T>
absl::StatusOr<T> NextOf(RawClient& c,
                         std::vector<protocol::Frame>* seen = nullptr);

// Synchronous protocol client for tests. Not thread-safe.
class RawClient {
 public:
  explicit RawClient(uint64_t replica) : replica_(replica) {}

  uint64_t replica() const { return replica_; }

  // Connects and says hello; returns the welcome or the refusal.
  absl::Status Connect(uint16_t port, const std::string& token) {
    ws_ = std::make_unique<::lattice::testing::WsTestClient>();
    unread_.clear();
    // Changes sent on an earlier connection are resent after the next join
    // as the difference to the server's versions, under new client seqs.
    unacked_.clear();
    absl::Status s = ws_->Connect("127.0.0.1", port);
    if (!s.ok()) return s;
    protocol::HelloFrame hello;
    hello.token = token;
    hello.replica = replica_;
    hello.client_name = "raw-test";
    s = SendFrame(hello);
    if (!s.ok()) return s;
    auto f = Next(absl::Seconds(10));
    if (!f.ok()) return f.status();
    if (auto* e = std::get_if<protocol::ErrorFrame>(&*f)) {
      return absl::UnauthenticatedError(e->code + ": " + e->message);
    }
    if (!std::holds_alternative<protocol::WelcomeFrame>(*f)) {
      return absl::InternalError("expected welcome");
    }
    return absl::OkStatus();
  }
  void Disconnect() {
    ws_.reset();
    unread_.clear();
  }
  ::lattice::testing::WsTestClient& ws() { return *ws_; }

  absl::Status SendFrame(const protocol::Frame& frame) {
    return ws_->Send(protocol::EncodeFrame(frame));
  }

  // The next frame, applying updates and snapshots to the local replicas
  // and advancing the resume point.
  absl::StatusOr<protocol::Frame> Next(absl::Duration timeout) {
    if (unread_.empty()) {
      auto bytes = ws_->Receive(timeout);
      if (!bytes.ok()) return bytes.status();
      // One message may be a batch of frames (protocol 2).
      for (auto& f : protocol::DecodeFrames(*bytes)) {
        unread_.push_back(std::move(f));
      }
    }
    absl::StatusOr<protocol::Frame> frame = std::move(unread_.front());
    unread_.pop_front();
    if (!frame.ok()) return frame.status();
    Absorb(*frame);
    received_.push_back(*frame);
    return frame;
  }

  // Joins with the stored resume point and replica versions; collects the
  // catch-up frames until joined (or an error), then sends the local ops
  // the server lacks. Returns the joined frame.
  absl::StatusOr<protocol::JoinedFrame> Join(const std::string& room,
                                             bool send_versions = true) {
    protocol::JoinFrame join;
    join.ref = ++next_ref_;
    join.room = room;
    join.epoch = resume_[room].epoch;
    join.seq = resume_[room].seq;
    if (send_versions) {
      for (const auto& [key, doc] : docs_) {
        if (key.first == room) {
          join.versions.push_back({key.second, doc->version().Encode()});
        }
      }
    }
    absl::Status s = SendFrame(join);
    if (!s.ok()) return s;
    catch_up_updates_ = 0;
    for (int i = 0; i < 100000; ++i) {
      auto f = Next(absl::Seconds(10));
      if (!f.ok()) return f.status();
      if (auto* e = std::get_if<protocol::ErrorFrame>(&*f)) {
        return absl::PermissionDeniedError(e->code + ": " + e->message);
      }
      if (std::holds_alternative<protocol::UpdateFrame>(*f)) {
        ++catch_up_updates_;
        catch_up_seqs_.push_back(std::get<protocol::UpdateFrame>(*f).seq);
      }
      if (auto* j = std::get_if<protocol::JoinedFrame>(&*f)) {
        protocol::JoinedFrame joined = *j;
        for (const auto& v : joined.versions) {
          auto server = crdt::VersionVector::Decode(v.version_vector);
          if (!server.ok()) return server.status();
          crdt::Doc& doc = Doc(room, v.doc);
          std::string missing = doc.ChangesSince(*server);
          if (doc.version() == *server) continue;
          s = SendChange(room, v.doc, std::move(missing));
          if (!s.ok()) return s;
        }
        for (const auto& [key, doc] : docs_) {
          if (key.first != room) continue;
          bool known = false;
          for (const auto& v : joined.versions) known |= v.doc == key.second;
          if (!known && doc->version().Total() > 0) {
            s = SendChange(room, key.second,
                           doc->ChangesSince(crdt::VersionVector()));
            if (!s.ok()) return s;
          }
        }
        return joined;
      }
    }
    return absl::DeadlineExceededError("no joined frame");
  }

  crdt::Doc& Doc(const std::string& room, const std::string& doc) {
    auto& d = docs_[{room, doc}];
    if (!d) d = std::make_unique<crdt::Doc>(replica_);
    return *d;
  }

  // Applies `edit` to the local replica; sends the update when connected.
  template <typename Fn>
  absl::StatusOr<uint64_t> Edit(const std::string& room, const std::string& doc,
                                Fn edit, bool send = true) {
    crdt::Doc& d = Doc(room, doc);
    absl::Status s = edit(d);
    if (!s.ok()) return s;
    std::string update = d.Commit();
    if (!send) return 0;
    const uint64_t seq = next_client_seq_ + 1;
    s = SendChange(room, doc, std::move(update));
    if (!s.ok()) return s;
    return seq;
  }

  absl::Status SendChange(const std::string& room, const std::string& doc,
                          std::string update) {
    protocol::ChangeFrame c;
    c.room = room;
    c.doc = doc;
    c.client_seq = ++next_client_seq_;
    c.update = std::move(update);
    unacked_.insert(c.client_seq);
    return SendFrame(c);
  }

  // Reads frames until every sent change is acked (or refused).
  absl::Status WaitAcked(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!unacked_.empty()) {
      auto f = Next(deadline - absl::Now());
      if (!f.ok()) return f.status();
    }
    return absl::OkStatus();
  }

  // Reads frames until `pred` holds.
  template <typename Pred>
  absl::Status WaitFor(Pred pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!pred()) {
      auto f = Next(deadline - absl::Now());
      if (!f.ok()) return f.status();
    }
    return absl::OkStatus();
  }

  std::string Json(const std::string& room, const std::string& doc) {
    auto j = Doc(room, doc).ToJson();
    return j.ok() ? *j : j.status().ToString();
  }

  // Sends a presence frame for `room` (fields set by `fill`).
  template <typename Fn>
  absl::Status SendPresence(const std::string& room, Fn fill) {
    protocol::PresenceFrame p;
    p.room = room;
    fill(p);
    return SendFrame(p);
  }

  // This client's replica of the room's presence (empty before any
  // presence frame).
  crdt::Presence& Presence(const std::string& room) {
    auto& p = presence_[room];
    if (!p) p = std::make_unique<crdt::Presence>(replica_);
    return *p;
  }
  size_t PresenceFramesReceived() const {
    size_t n = 0;
    for (const auto& f : received_) {
      n += std::holds_alternative<protocol::PresenceUpdateFrame>(f);
    }
    return n;
  }

  // The errors received so far.
  std::vector<protocol::ErrorFrame> Errors() const {
    std::vector<protocol::ErrorFrame> out;
    for (const auto& f : received_) {
      if (auto* e = std::get_if<protocol::ErrorFrame>(&f)) out.push_back(*e);
    }
    return out;
  }
  size_t UpdatesReceived() const {
    size_t n = 0;
    for (const auto& f : received_) {
      n += std::holds_alternative<protocol::UpdateFrame>(f);
    }
    return n;
  }
  int catch_up_updates() const { return catch_up_updates_; }
  const std::vector<uint64_t>& catch_up_seqs() const { return catch_up_seqs_; }
  void ClearReceived() {
    received_.clear();
    catch_up_seqs_.clear();
  }
  struct Resume {
    uint64_t epoch = 0;
    uint64_t seq = 0;
  };
  Resume resume(const std::string& room) { return resume_[room]; }

 private:
  void Absorb(const protocol::Frame& f) {
    if (auto* u = std::get_if<protocol::UpdateFrame>(&f)) {
      auto r = Doc(u->room, u->doc).ApplyUpdate(u->update);
      EXPECT_TRUE(r.ok()) << r.status();
      if (u->seq != 0) Advance(u->room, u->epoch, u->seq);
    } else if (auto* s = std::get_if<protocol::SnapshotFrame>(&f)) {
      auto loaded = crdt::Doc::LoadSnapshot(replica_, s->snapshot);
      EXPECT_TRUE(loaded.ok()) << loaded.status();
      if (!loaded.ok()) return;
      auto& d = docs_[{s->room, s->doc}];
      if (d) {  // keep local ops the snapshot lacks
        auto r = (*loaded)->ApplyUpdate(d->ChangesSince((*loaded)->version()));
        EXPECT_TRUE(r.ok()) << r.status();
      }
      d = *std::move(loaded);
    } else if (auto* p = std::get_if<protocol::PresenceUpdateFrame>(&f)) {
      auto r = Presence(p->room).ApplyDelta(p->presence, absl::Now());
      EXPECT_TRUE(r.ok()) << r;
    } else if (auto* j = std::get_if<protocol::JoinedFrame>(&f)) {
      resume_[j->room] = {j->epoch, j->seq};
    } else if (auto* a = std::get_if<protocol::AckFrame>(&f)) {
      unacked_.erase(a->client_seq);
      Advance(a->room, a->epoch, a->seq);
    } else if (auto* e = std::get_if<protocol::ErrorFrame>(&f)) {
      if (e->ref_type == static_cast<uint8_t>(protocol::FrameType::kChange)) {
        unacked_.erase(e->ref);
      }
    }
  }
  void Advance(const std::string& room, uint64_t epoch, uint64_t seq) {
    Resume& r = resume_[room];
    if (r.epoch != epoch) {
      r = {epoch, seq};
    } else if (seq > r.seq) {
      r.seq = seq;
    }
  }

  const uint64_t replica_;
  std::unique_ptr<::lattice::testing::WsTestClient> ws_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<crdt::Doc>>
      docs_;
  std::map<std::string, Resume> resume_;
  std::map<std::string, std::unique_ptr<crdt::Presence>> presence_;
  std::set<uint64_t> unacked_;
  std::vector<protocol::Frame> received_;
  std::deque<absl::StatusOr<protocol::Frame>> unread_;  // rest of a batch
  std::vector<uint64_t> catch_up_seqs_;
  int catch_up_updates_ = 0;
  uint64_t next_ref_ = 0;
  uint64_t next_client_seq_ = 0;
};

template <typename T>
absl::StatusOr<T> NextOf(RawClient& c, std::vector<protocol::Frame>* seen) {
  for (int i = 0; i < 1000; ++i) {
    auto f = c.Next(absl::Seconds(10));
    if (!f.ok()) return f.status();
    if (seen != nullptr) seen->push_back(*f);
    if (auto* t = std::get_if<T>(&*f)) return *t;
  }
  return absl::DeadlineExceededError("no such frame");
}

}  // namespace lattice::engine::testing

#endif  // LATTICE_TESTS_ENGINE_SYNC_TEST_UTIL_H_
