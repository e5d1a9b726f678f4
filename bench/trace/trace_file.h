// Reads editing traces in the josephg/editing-traces format (see
// shared/data/editing-traces/README.md): gzipped or plain JSON, sequential
// ({startContent, endContent, txns: [{patches}]}) or concurrent
// ({kind: "concurrent", numAgents, txns: [{parents, agent, patches}]}).
//
//   absl::StatusOr<Trace> t = ReadTraceFile("automerge-paper.json.gz");
//   for (const TraceTxn& txn : t->txns)
//     for (const TracePatch& p : txn.patches) ...  // code-point positions
//
// Test and benchmark tooling (tests/crdt/trace_test.cc, lattice-trace,
// crdt_benchmark); crdt/ never depends on it.
//
// Thread safety: plain functions and values.
#ifndef LATTICE_BENCH_TRACE_TRACE_FILE_H_
#define LATTICE_BENCH_TRACE_TRACE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::bench {

// At code-point offset `pos`, delete `del` code points, then insert `ins`
// (UTF-8) there.
struct TracePatch {
  uint64_t pos = 0;
  uint64_t del = 0;
  std::string ins;
};

struct TraceTxn {
  std::vector<TracePatch> patches;
  // Concurrent traces only: indices of earlier txns this one follows, and
  // the acting agent (0 .. num_agents-1). Empty / 0 in sequential traces.
  std::vector<uint64_t> parents;
  uint32_t agent = 0;
};

struct Trace {
  std::string name;  // file name without .json / .json.gz
  bool concurrent = false;
  uint32_t num_agents = 1;
  std::string end_content;  // UTF-8
  std::vector<TraceTxn> txns;

  // Counted like the peers harness (lib/trace.mjs): chars are code points.
  uint64_t patch_count = 0;
  uint64_t ins_chars = 0;
  uint64_t del_chars = 0;
  uint64_t end_length = 0;
};

// Reads `path` (gunzipped when it starts with the gzip magic) and parses it.
// Errors: NotFound / Unavailable when the file cannot be read, DataLoss for a
// corrupt gzip stream, InvalidArgument for JSON that is not a trace (with the
// txn index), a non-empty startContent, or a concurrent txn whose parents are
// not earlier txns or whose agent is out of range.
absl::StatusOr<Trace> ReadTraceFile(const std::string& path);

// Parses the JSON text of a trace; errors as for ReadTraceFile.
absl::StatusOr<Trace> ParseTrace(absl::string_view json,
                                 absl::string_view name);

// Returns the file's bytes, gunzipped when they start with the gzip magic.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path);

// Number of Unicode code points in valid UTF-8 `s` (continuation bytes are
// not counted).
uint64_t CountCodePoints(absl::string_view s);

}  // namespace lattice::bench

#endif  // LATTICE_BENCH_TRACE_TRACE_FILE_H_
