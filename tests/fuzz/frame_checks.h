// What frame_decode_fuzzer and tests/engine/frames_test.cc check on arbitrary
// bytes fed to the wire codec (engine/protocol/frames.h).
//
//   std::string broken = CheckFrameBytes(bytes);   // "" when all is well
//
// Properties (the frames.h contract): DecodeFrame returns OK,
// InvalidArgument or Unimplemented and never throws or crashes; a decoded
// frame f re-encodes to bytes e that decode to a frame equal to f field by
// field, e re-encodes to itself (the encoding is canonical), and PeekType(e)
// names f's type. SplitFrames returns OK or InvalidArgument; its pieces
// are non-empty and concatenate to the input.
//
// Header-only so that corpus_replay_test.cc can see CheckFrameBytes (it is
// force-included there, see tests/fuzz/CMakeLists.txt) without linking the
// engine into lattice_fuzz_checks.
//
// Thread safety: plain functions.
#ifndef LATTICE_TESTS_FUZZ_FRAME_CHECKS_H_
#define LATTICE_TESTS_FUZZ_FRAME_CHECKS_H_

#include <exception>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "engine/protocol/frames.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace lattice::fuzz {
namespace frame_checks_internal {

namespace protocol = ::lattice::engine::protocol;

using Pairs = std::vector<std::pair<std::string, std::string>>;

inline Pairs AsPairs(const std::vector<protocol::DocVersion>& versions) {
  Pairs pairs;
  for (const protocol::DocVersion& v : versions) {
    pairs.emplace_back(v.doc, v.version_vector);
  }
  return pairs;
}

// Every field of each frame, in wire order (frames.h declares no operator==).
inline auto Fields(const protocol::HelloFrame& f) {
  return std::make_tuple(f.protocol_version, f.token, f.replica, f.client_name);
}
inline auto Fields(const protocol::JoinFrame& f) {
  return std::make_tuple(f.ref, f.room, f.epoch, f.seq, AsPairs(f.versions));
}
inline auto Fields(const protocol::ChangeFrame& f) {
  return std::make_tuple(f.room, f.doc, f.client_seq, f.update);
}
inline auto Fields(const protocol::LeaveFrame& f) {
  return std::make_tuple(f.room);
}
inline auto Fields(const protocol::AuthFrame& f) {
  return std::make_tuple(f.token);
}
inline auto Fields(const protocol::EmitFrame& f) {
  return std::make_tuple(f.ref, f.target_kind, f.target, f.name, f.payload);
}
inline auto Fields(const protocol::EventFrame& f) {
  return std::make_tuple(f.room, f.from, f.name, f.payload);
}
inline auto Fields(const protocol::EventAckFrame& f) {
  return std::make_tuple(f.ref, f.delivered);
}
inline auto Fields(const protocol::WelcomeFrame& f) {
  return std::make_tuple(f.session_id, f.protocol_version, f.max_message_bytes,
                         f.max_rooms);
}
inline auto Fields(const protocol::JoinedFrame& f) {
  return std::make_tuple(f.ref, f.room, f.path, f.epoch, f.seq, f.access,
                         AsPairs(f.versions));
}
inline auto Fields(const protocol::UpdateFrame& f) {
  return std::make_tuple(f.room, f.doc, f.epoch, f.seq, f.update);
}
inline auto Fields(const protocol::SnapshotFrame& f) {
  return std::make_tuple(f.room, f.doc, f.snapshot);
}
inline auto Fields(const protocol::AckFrame& f) {
  return std::make_tuple(f.room, f.client_seq, f.epoch, f.seq);
}
inline auto Fields(const protocol::LeftFrame& f) {
  return std::make_tuple(f.room);
}
inline auto Fields(const protocol::PresenceFrame& f) {
  return std::make_tuple(f.room, f.status, f.set_cursor, f.cursor,
                         f.set_selection, f.selection, f.set_typing, f.typing,
                         f.app);
}
inline auto Fields(const protocol::PresenceUpdateFrame& f) {
  return std::make_tuple(f.room, f.presence);
}
inline auto Fields(const protocol::ErrorFrame& f) {
  return std::make_tuple(f.code, f.message, f.ref_type, f.ref, f.room);
}

}  // namespace frame_checks_internal

// True when `a` and `b` are the same frame type with equal fields.
inline bool FramesEqual(const engine::protocol::Frame& a,
                        const engine::protocol::Frame& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&b](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return frame_checks_internal::Fields(x) ==
               frame_checks_internal::Fields(std::get<T>(b));
      },
      a);
}

// Checks the properties above on `bytes` with `limits`. Returns "" or a
// description of the broken property.
inline std::string CheckFrameBytes(
    absl::string_view bytes, const engine::protocol::DecodeLimits& limits) {
  namespace protocol = ::lattice::engine::protocol;
  try {
    absl::StatusOr<std::vector<absl::string_view>> pieces =
        protocol::SplitFrames(bytes, limits);
    if (pieces.ok()) {
      std::string joined;
      for (absl::string_view piece : *pieces) {
        if (piece.empty()) return "SplitFrames gave an empty piece";
        absl::StrAppend(&joined, piece);
      }
      if (joined != bytes) return "SplitFrames pieces differ from the input";
    } else if (pieces.status().code() != absl::StatusCode::kInvalidArgument) {
      return "SplitFrames: undocumented error " + pieces.status().ToString();
    }
    absl::StatusOr<protocol::Frame> frame =
        protocol::DecodeFrame(bytes, limits);
    if (!frame.ok()) {
      const absl::StatusCode code = frame.status().code();
      if (code == absl::StatusCode::kInvalidArgument ||
          code == absl::StatusCode::kUnimplemented) {
        return "";
      }
      return "undocumented error " + frame.status().ToString();
    }
    const std::string encoded = protocol::EncodeFrame(*frame);
    absl::StatusOr<protocol::Frame> again =
        protocol::DecodeFrame(encoded, limits);
    if (!again.ok()) {
      return "its re-encoding does not decode: " + again.status().ToString();
    }
    if (!FramesEqual(*frame, *again)) {
      return "decode(encode(f)) differs from f";
    }
    if (protocol::EncodeFrame(*again) != encoded) {
      return "encode(decode(encode(f))) differs from encode(f)";
    }
    const uint8_t tag = static_cast<uint8_t>(protocol::TypeOf(*frame));
    if (protocol::PeekType(encoded) != tag) {
      return absl::StrCat("PeekType(encode(f)) is ",
                          protocol::PeekType(encoded), ", TypeOf(f) is ", tag);
    }
    return "";
  } catch (const std::exception& e) {
    return absl::StrCat("exception escaped the codec: ", e.what());
  }
}

// With the default limits.
inline std::string CheckFrameBytes(absl::string_view bytes) {
  return CheckFrameBytes(bytes, engine::protocol::DecodeLimits());
}

}  // namespace lattice::fuzz

#endif  // LATTICE_TESTS_FUZZ_FRAME_CHECKS_H_
