#include "bench/trace/trace_file.h"

#include <fstream>
#include <iterator>
#include <utility>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lattice::bench {
namespace {

using Json = nlohmann::json;

absl::StatusOr<std::string> Gunzip(const std::string& in,
                                   const std::string& path) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header (RFC 1952).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError("inflateInit2 failed");
  }
  std::string out;
  char buf[1 << 16];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string msg = zs.msg != nullptr ? zs.msg : "truncated";
      inflateEnd(&zs);
      return absl::DataLossError(absl::StrCat(path, ": gunzip failed: ", msg));
    }
    out.append(buf, sizeof(buf) - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

// Reads [pos, delCount, insStr] into `p`.
bool ParsePatch(const Json& j, TracePatch* p) {
  if (!j.is_array() || j.size() != 3 || !j[0].is_number_unsigned() ||
      !j[1].is_number_unsigned() || !j[2].is_string()) {
    return false;
  }
  p->pos = j[0].get<uint64_t>();
  p->del = j[1].get<uint64_t>();
  p->ins = j[2].get<std::string>();
  return true;
}

}  // namespace

uint64_t CountCodePoints(absl::string_view s) {
  uint64_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string raw((std::istreambuf_iterator<char>(f)),
                  std::istreambuf_iterator<char>());
  if (f.bad())
    return absl::UnavailableError(absl::StrCat(path, ": read error"));
  if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
      static_cast<unsigned char>(raw[1]) == 0x8b) {
    return Gunzip(raw, path);
  }
  return raw;
}

absl::StatusOr<Trace> ParseTrace(absl::string_view json,
                                 absl::string_view name) {
  Json doc = Json::parse(json.begin(), json.end(), nullptr,
                         /*allow_exceptions=*/false);
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", what));
  };
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  Trace t;
  t.name = std::string(name);
  auto kind = doc.find("kind");
  t.concurrent = kind != doc.end() && kind->is_string() &&
                 kind->get<std::string>() == "concurrent";
  auto start = doc.find("startContent");
  if (start != doc.end() &&
      (!start->is_string() || !start->get<std::string>().empty())) {
    return bad("non-empty startContent is not supported");
  }
  auto end = doc.find("endContent");
  if (end == doc.end() || !end->is_string()) return bad("missing endContent");
  t.end_content = end->get<std::string>();
  t.end_length = CountCodePoints(t.end_content);
  if (t.concurrent) {
    auto agents = doc.find("numAgents");
    if (agents == doc.end() || !agents->is_number_unsigned() ||
        agents->get<uint64_t>() == 0 || agents->get<uint64_t>() > 1'000'000) {
      return bad("missing or bad numAgents");
    }
    t.num_agents = agents->get<uint32_t>();
  }
  auto txns = doc.find("txns");
  if (txns == doc.end() || !txns->is_array()) return bad("missing txns[]");
  t.txns.reserve(txns->size());
  for (size_t i = 0; i < txns->size(); ++i) {
    const Json& jt = (*txns)[i];
    auto where = [&](absl::string_view what) {
      return bad(absl::StrCat("txn ", i, ": ", what));
    };
    if (!jt.is_object()) return where("not an object");
    auto patches = jt.find("patches");
    if (patches == jt.end() || !patches->is_array())
      return where("missing patches[]");
    TraceTxn txn;
    txn.patches.resize(patches->size());
    for (size_t k = 0; k < patches->size(); ++k) {
      TracePatch& p = txn.patches[k];
      if (!ParsePatch((*patches)[k], &p)) {
        return where(absl::StrCat("patch ", k, " is not [pos, del, ins]"));
      }
      ++t.patch_count;
      t.del_chars += p.del;
      t.ins_chars += CountCodePoints(p.ins);
    }
    if (t.concurrent) {
      auto parents = jt.find("parents");
      auto agent = jt.find("agent");
      if (parents == jt.end() || !parents->is_array())
        return where("missing parents[]");
      for (const Json& p : *parents) {
        if (!p.is_number_unsigned() || p.get<uint64_t>() >= i)
          return where("parent is not an earlier txn");
        txn.parents.push_back(p.get<uint64_t>());
      }
      if (agent == jt.end() || !agent->is_number_unsigned() ||
          agent->get<uint64_t>() >= t.num_agents) {
        return where("agent missing or out of range");
      }
      txn.agent = agent->get<uint32_t>();
    }
    t.txns.push_back(std::move(txn));
  }
  return t;
}

absl::StatusOr<Trace> ReadTraceFile(const std::string& path) {
  absl::StatusOr<std::string> json = ReadMaybeGzipped(path);
  if (!json.ok()) return json.status();
  absl::string_view name = path;
  if (auto slash = name.rfind('/'); slash != absl::string_view::npos)
    name.remove_prefix(slash + 1);
  for (absl::string_view ext : {".gz", ".json"}) {
    if (absl::EndsWith(name, ext)) name.remove_suffix(ext.size());
  }
  return ParseTrace(*json, name);
}

}  // namespace lattice::bench
