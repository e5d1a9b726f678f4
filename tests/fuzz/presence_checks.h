// What presence_decode_fuzzer and tests/crdt/presence_test.cc check on
// arbitrary bytes fed to the presence decoders (crdt/presence.h), and the
// valid encodings that seed them.
//
//   std::string broken = CheckPresenceBytes(bytes);   // "" when all is well
//
// Properties (the presence.h contract): ApplyDelta into an empty and into a
// populated Presence, and LoadState into an empty one, return OK,
// InvalidArgument or ResourceExhausted and never throw or crash; afterwards
// the invariants hold (CheckInvariants aborts otherwise), nothing changed
// when the call failed, and the state is stable: LoadState(EncodeState())
// gives the same state bytes and JSON.
//
// Header-only like frame_checks.h: force-included into the shared replay
// source (tests/fuzz/CMakeLists.txt), so lattice_fuzz_checks stays as is.
//
// Thread safety: plain functions.
#ifndef LATTICE_TESTS_FUZZ_PRESENCE_CHECKS_H_
#define LATTICE_TESTS_FUZZ_PRESENCE_CHECKS_H_

#include <exception>
#include <string>
#include <vector>

#include "crdt/presence.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::fuzz {
namespace presence_checks_internal {

inline const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

// A presence with every kind of field, a tombstone and two writers' stamps.
// Deterministic. Also returns the deltas it went through.
inline void Populate(crdt::Presence& p, std::vector<std::string>* deltas) {
  using crdt::Identity;
  using crdt::Point;
  using crdt::Selection;
  using crdt::TextAnchor;
  using crdt::Value;
  uint64_t seen = p.generation();
  auto emit = [&] {
    if (deltas != nullptr) deltas->push_back(p.EncodeDelta(seen));
    seen = p.generation();
  };
  (void)p.Join("ada-1", Identity{"ada", {{"name", "Ada"}, {"color", "#f80"}}},
               kNow);
  (void)p.Join("bob-1", Identity{"bob", {{"name", "Bób 𝄞"}}}, kNow);
  emit();
  (void)p.SetCursor("ada-1", Point{12.5, -3}, kNow);
  emit();
  TextAnchor anchor{"notes", crdt::ContainerId{7, 3}, crdt::OpId{9, 41}, 17};
  TextAnchor head{"notes", crdt::ContainerId{7, 3}, std::nullopt, 20};
  (void)p.SetCursor("bob-1", head, kNow);
  (void)p.SetSelection("bob-1", Selection{anchor, head}, kNow);
  (void)p.StartTyping("bob-1", "notes", kNow);
  (void)p.SetStatus("bob-1", crdt::PresenceStatus::kBusy, kNow);
  emit();
  (void)p.SetAppField("ada-1", "tool", Value::String("pen"), kNow);
  (void)p.SetAppField("ada-1", "zoom", Value::Double(1.25), kNow);
  (void)p.SetAppField("ada-1", "raw", Value::Bytes(std::string("\0\xff", 2)),
                      kNow);
  (void)p.SetAppField("ada-1", "n", Value::Int(-42), kNow);
  (void)p.SetAppField("ada-1", "on", Value::Bool(true), kNow);
  (void)p.SetAppField("ada-1", "nil", Value::Null(), kNow);
  (void)p.DeleteAppField("ada-1", "nil", kNow);
  emit();
  (void)p.Join("cy-1", Identity{"cy", {}}, kNow);
  emit();
  (void)p.Leave("cy-1", kNow);
  (void)p.ClearCursor("ada-1", kNow);
  emit();
}

inline bool Documented(const absl::Status& s) {
  return s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kResourceExhausted;
}

// "" when `p` keeps its invariants and its state reloads to itself.
inline std::string CheckStable(const crdt::Presence& p) {
  p.CheckInvariants();
  const std::string state = p.EncodeState();
  crdt::Presence again(77, p.limits());
  absl::Status s = again.LoadState(state, kNow);
  if (!s.ok()) return "its own state does not load: " + s.ToString();
  again.CheckInvariants();
  if (again.EncodeState() != state) return "load(encode(p)) differs";
  if (again.ToJson() != p.ToJson()) return "JSON changed over a state";
  return "";
}

inline std::string CheckOrThrow(absl::string_view bytes) {
  {
    crdt::Presence p(5);
    const absl::Status s = p.ApplyDelta(bytes, kNow);
    if (!Documented(s)) return "fresh: undocumented error " + s.ToString();
    if (!s.ok() && p.generation() != 0) return "fresh: failed but changed";
    std::string broken = CheckStable(p);
    if (!broken.empty()) return "fresh: " + broken;
  }
  {
    crdt::Presence p(6);
    Populate(p, nullptr);
    const std::string before = p.EncodeState();
    const absl::Status s = p.ApplyDelta(bytes, kNow + absl::Seconds(1));
    if (!Documented(s)) return "populated: undocumented error " + s.ToString();
    if (!s.ok() && p.EncodeState() != before) {
      return "populated: failed but changed";
    }
    std::string broken = CheckStable(p);
    if (!broken.empty()) return "populated: " + broken;
  }
  crdt::Presence p(7);
  const absl::Status s = p.LoadState(bytes, kNow);
  if (!Documented(s)) return "load: undocumented error " + s.ToString();
  std::string broken = CheckStable(p);
  if (!broken.empty()) return "load: " + broken;
  return "";
}

}  // namespace presence_checks_internal

inline std::string CheckPresenceBytes(absl::string_view bytes) {
  try {
    return presence_checks_internal::CheckOrThrow(bytes);
  } catch (const std::exception& e) {
    return absl::StrCat("exception escaped the crdt API: ", e.what());
  }
}

// Valid deltas and states from presence_checks_internal::Populate.
inline std::vector<std::string> SeedPresenceEncodings() {
  std::vector<std::string> seeds;
  crdt::Presence p(0xABCDEF);
  presence_checks_internal::Populate(p, &seeds);
  seeds.push_back(p.EncodeState());
  seeds.push_back(crdt::Presence(1).EncodeState());
  return seeds;
}

}  // namespace lattice::fuzz

#endif  // LATTICE_TESTS_FUZZ_PRESENCE_CHECKS_H_
