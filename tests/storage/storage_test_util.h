// Helpers shared by the storage tests: a fresh temporary directory per test
// and reading a whole change stream into memory.
#ifndef LATTICE_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
#define LATTICE_TESTS_STORAGE_STORAGE_TEST_UTIL_H_

#include <filesystem>
#include <stdlib.h>
#include <string>
#include <utility>
#include <vector>

#include "storage/change_iterator.h"
#include "storage/types.h"

#include "absl/status/status.h"

namespace lattice::storage::testing {

// A directory under $TMPDIR (or /tmp) removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") +
                       "/lattice-storage-test-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  // Empty if the directory could not be created.
  const std::string& path() const { return path_; }
  // A path inside the directory (not created).
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ReadResult {
  std::vector<std::pair<Seq, std::string>> changes;
  absl::Status status;
};

// Drains `it`; `max` bounds the loop.
inline ReadResult ReadAll(ChangeIterator& it, size_t max = 10'000'000) {
  ReadResult r;
  for (; it.Valid() && r.changes.size() < max; it.Next()) {
    r.changes.emplace_back(it.seq(), std::string(it.bytes()));
  }
  r.status = it.status();
  return r;
}

inline std::vector<Seq> Seqs(const ReadResult& r) {
  std::vector<Seq> out;
  for (const auto& c : r.changes) out.push_back(c.first);
  return out;
}

// Seqs first..last.
inline std::vector<Seq> Range(Seq first, Seq last) {
  std::vector<Seq> out;
  for (Seq s = first; s <= last; ++s) out.push_back(s);
  return out;
}

}  // namespace lattice::storage::testing

#endif  // LATTICE_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
