// lattice: the admin command line.
//
//   lattice token   --secret_file=F --sub=ada --rooms=lobby,team/*
//                   [--read_rooms=news] [--ttl=3600] [--kid=dev] [--name=Ada]
//   lattice inspect --data_dir=./data            rooms, epochs, seqs, snapshots
//   lattice dump    --data_dir=./data --room=R [--doc=D]   documents as JSON
//   lattice compact --data_dir=./data [--room=R] snapshot + trim, then flush
//
// dump, inspect and compact open the data directory themselves, so the
// server must not be running on it (RocksDB allows one process).
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/auth/jwt_minter.h"
#include "engine/room/room_loader.h"
#include "storage/room_store.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

ABSL_FLAG(std::string, data_dir, "./data", "the server's data directory");
ABSL_FLAG(std::string, room, "", "room id");
ABSL_FLAG(std::string, doc, "", "document name (dump: all when empty)");
ABSL_FLAG(std::string, secret_file, "", "file holding the HS256 secret");
ABSL_FLAG(std::string, sub, "", "token subject (user id)");
ABSL_FLAG(std::string, name, "", "display name in the token");
ABSL_FLAG(std::string, kid, "", "key id in the token header");
ABSL_FLAG(std::string, rooms, "",
          "rooms granted read-write: names, or prefixes ending in *");
ABSL_FLAG(std::string, read_rooms, "",
          "rooms granted read-only: names, or prefixes ending in *");
ABSL_FLAG(int64_t, ttl, 3600, "token lifetime in seconds");

namespace lattice::engine {
namespace {

constexpr uint64_t kCliReplica = 1;

int Fail(const absl::Status& status) {
  std::cerr << "lattice: " << status << "\n";
  return 1;
}

absl::StatusOr<std::unique_ptr<storage::RoomStore>> OpenStore() {
  storage::RoomStoreOptions options;
  options.create_if_missing = false;
  return storage::RoomStore::Open(absl::GetFlag(FLAGS_data_dir), options);
}

int Token() {
  std::ifstream in(absl::GetFlag(FLAGS_secret_file), std::ios::binary);
  if (!in) {
    return Fail(absl::NotFoundError("--secret_file: cannot read " +
                                    absl::GetFlag(FLAGS_secret_file)));
  }
  std::stringstream secret;
  secret << in.rdbuf();
  std::string key = secret.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
    key.pop_back();
  }
  if (absl::GetFlag(FLAGS_sub).empty()) {
    return Fail(absl::InvalidArgumentError("--sub is required"));
  }
  nlohmann::json rooms = nlohmann::json::array();
  for (absl::string_view r :
       absl::StrSplit(absl::GetFlag(FLAGS_rooms), ',', absl::SkipEmpty())) {
    rooms.push_back(std::string(r));
  }
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_read_rooms),
                                            ',', absl::SkipEmpty())) {
    nlohmann::json grant = {{"write", false}};
    if (absl::EndsWith(r, "*")) {
      grant["prefix"] = std::string(r.substr(0, r.size() - 1));
    } else {
      grant["room"] = std::string(r);
    }
    rooms.push_back(grant);
  }
  nlohmann::json claims = {
      {"sub", absl::GetFlag(FLAGS_sub)},
      {"exp", absl::ToUnixSeconds(absl::Now()) + absl::GetFlag(FLAGS_ttl)},
      {"iat", absl::ToUnixSeconds(absl::Now())},
      {"rooms", rooms}};
  if (!absl::GetFlag(FLAGS_name).empty()) {
    claims["name"] = absl::GetFlag(FLAGS_name);
  }
  std::optional<std::string> kid;
  if (!absl::GetFlag(FLAGS_kid).empty()) kid = absl::GetFlag(FLAGS_kid);
  auto token = MintHs256(key, claims, kid);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

int Inspect() {
  auto store = OpenStore();
  if (!store.ok()) return Fail(store.status());
  std::string after;
  for (;;) {
    auto rooms = (*store)->ListRooms(after, 1000);
    if (!rooms.ok()) return Fail(rooms.status());
    for (const std::string& room : *rooms) {
      auto info = (*store)->GetRoomInfo(room);
      if (!info.ok()) return Fail(info.status());
      nlohmann::json line = {{"room", room},
                             {"epoch", info->epoch},
                             {"first_seq", info->first_seq},
                             {"last_seq", info->last_seq}};
      if (info->snapshot_seq) line["snapshot_seq"] = *info->snapshot_seq;
      std::cout << line.dump() << "\n";
    }
    if (rooms->size() < 1000) return 0;
    after = rooms->back();
  }
}

int Dump() {
  const std::string room = absl::GetFlag(FLAGS_room);
  if (room.empty())
    return Fail(absl::InvalidArgumentError("--room is required"));
  auto store = OpenStore();
  if (!store.ok()) return Fail(store.status());
  auto loaded = LoadRoomDocs(**store, room, kCliReplica);
  if (!loaded.ok()) return Fail(loaded.status());
  if (loaded->epoch == 0) {
    return Fail(absl::NotFoundError(absl::StrCat("no room ", room)));
  }
  const std::string only = absl::GetFlag(FLAGS_doc);
  std::string out = only.empty() ? "{" : "";
  for (const auto& [name, doc] : loaded->docs) {
    if (!only.empty() && name != only) continue;
    auto json = doc->ToJson();
    if (!json.ok()) return Fail(json.status());
    if (only.empty()) {
      if (out.size() > 1) out += ",";
      out += nlohmann::json(name).dump() + ":" + *json;
    } else {
      out = *json;
    }
  }
  if (only.empty()) {
    out += "}";
  } else if (out.empty()) {
    return Fail(absl::NotFoundError(absl::StrCat("no document ", only)));
  }
  std::cout << out << "\n";
  return 0;
}

int Compact() {
  auto store = OpenStore();
  if (!store.ok()) return Fail(store.status());
  std::vector<std::string> rooms;
  if (!absl::GetFlag(FLAGS_room).empty()) {
    rooms.push_back(absl::GetFlag(FLAGS_room));
  } else {
    std::string after;
    for (;;) {
      auto page = (*store)->ListRooms(after, 1000);
      if (!page.ok()) return Fail(page.status());
      rooms.insert(rooms.end(), page->begin(), page->end());
      if (page->size() < 1000) break;
      after = page->back();
    }
  }
  for (const std::string& room : rooms) {
    auto loaded = LoadRoomDocs(**store, room, kCliReplica);
    if (!loaded.ok()) return Fail(loaded.status());
    if (loaded->epoch == 0 || loaded->last_seq <= loaded->snapshot_seq) {
      std::cout << room << ": up to date\n";
      continue;
    }
    auto result = (*store)->WriteSnapshot(room, loaded->epoch, loaded->last_seq,
                                          EncodeDocs(loaded->docs));
    if (!result.ok()) return Fail(result.status());
    std::cout << room << ": snapshot at seq " << loaded->last_seq
              << ", log trimmed through " << result->trimmed_through << "\n";
  }
  absl::Status flushed = (*store)->Flush();
  if (!flushed.ok()) return Fail(flushed);
  return 0;
}

}  // namespace
}  // namespace lattice::engine

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "lattice token|inspect|dump|compact [--flags]; see --help");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string cmd = args.size() > 1 ? args[1] : "";
  if (cmd == "token") return lattice::engine::Token();
  if (cmd == "inspect") return lattice::engine::Inspect();
  if (cmd == "dump") return lattice::engine::Dump();
  if (cmd == "compact") return lattice::engine::Compact();
  std::cerr << "usage: lattice token|inspect|dump|compact [--flags]\n"
               "  token   --secret_file=F --sub=U [--rooms=a,b/*] "
               "[--read_rooms=c] [--ttl=S] [--kid=K] [--name=N]\n"
               "  inspect --data_dir=D\n"
               "  dump    --data_dir=D --room=R [--doc=N]\n"
               "  compact --data_dir=D [--room=R]\n";
  return 2;
}
