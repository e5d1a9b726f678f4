#include "engine/room/room_records.h"

#include <cstdint>
#include <exception>

#include <msgpack.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

constexpr uint32_t kRecordVersion = 1;

// The limits bound what unpack may allocate from declared sizes.
msgpack::object_handle Unpack(absl::string_view bytes) {
  const msgpack::unpack_limit limits(/*array=*/1 << 16, /*map=*/0,
                                     /*str=*/1 << 16, /*bin=*/1u << 30,
                                     /*ext=*/0, /*depth=*/4);
  std::size_t offset = 0;
  msgpack::object_handle handle = msgpack::unpack(
      bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
  if (offset != bytes.size()) throw msgpack::unpack_error("trailing bytes");
  return handle;
}

bool IsString(const msgpack::object& o) { return o.type == msgpack::type::STR; }
bool IsBin(const msgpack::object& o) { return o.type == msgpack::type::BIN; }
absl::string_view StringOf(const msgpack::object& o) {
  return IsString(o) ? absl::string_view(o.via.str.ptr, o.via.str.size)
                     : absl::string_view(o.via.bin.ptr, o.via.bin.size);
}
bool IsVersion(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER &&
         o.via.u64 == kRecordVersion;
}

}  // namespace

std::string EncodeChangeRecord(absl::string_view doc,
                               absl::string_view update) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(3);
  pk.pack_uint32(kRecordVersion);
  pk.pack_str(static_cast<uint32_t>(doc.size()));
  pk.pack_str_body(doc.data(), static_cast<uint32_t>(doc.size()));
  pk.pack_bin(static_cast<uint32_t>(update.size()));
  pk.pack_bin_body(update.data(), static_cast<uint32_t>(update.size()));
  return std::string(buffer.data(), buffer.size());
}

absl::StatusOr<ChangeRecord> DecodeChangeRecord(absl::string_view bytes) {
  try {
    msgpack::object_handle h = Unpack(bytes);
    const msgpack::object& o = h.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 3 ||
        !IsVersion(o.via.array.ptr[0]) || !IsString(o.via.array.ptr[1]) ||
        !IsBin(o.via.array.ptr[2])) {
      return absl::DataLossError("change record: not [1, doc, update]");
    }
    return ChangeRecord{std::string(StringOf(o.via.array.ptr[1])),
                        std::string(StringOf(o.via.array.ptr[2]))};
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("change record: ", e.what()));
  }
}

std::string EncodeRoomSnapshot(const DocSnapshots& docs) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(2);
  pk.pack_uint32(kRecordVersion);
  pk.pack_array(static_cast<uint32_t>(docs.size()));
  for (const auto& [name, snapshot] : docs) {
    pk.pack_array(2);
    pk.pack_str(static_cast<uint32_t>(name.size()));
    pk.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
    pk.pack_bin(static_cast<uint32_t>(snapshot.size()));
    pk.pack_bin_body(snapshot.data(), static_cast<uint32_t>(snapshot.size()));
  }
  return std::string(buffer.data(), buffer.size());
}

absl::StatusOr<DocSnapshots> DecodeRoomSnapshot(absl::string_view bytes) {
  try {
    msgpack::object_handle h = Unpack(bytes);
    const msgpack::object& o = h.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 ||
        !IsVersion(o.via.array.ptr[0]) ||
        o.via.array.ptr[1].type != msgpack::type::ARRAY) {
      return absl::DataLossError("room snapshot: not [1, [...]]");
    }
    DocSnapshots docs;
    const msgpack::object_array& list = o.via.array.ptr[1].via.array;
    for (uint32_t i = 0; i < list.size; ++i) {
      const msgpack::object& e = list.ptr[i];
      if (e.type != msgpack::type::ARRAY || e.via.array.size != 2 ||
          !IsString(e.via.array.ptr[0]) || !IsBin(e.via.array.ptr[1])) {
        return absl::DataLossError(
            absl::StrCat("room snapshot: entry ", i, " is not [doc, bytes]"));
      }
      docs.emplace_back(std::string(StringOf(e.via.array.ptr[0])),
                        std::string(StringOf(e.via.array.ptr[1])));
    }
    return docs;
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("room snapshot: ", e.what()));
  }
}

}  // namespace lattice::engine
