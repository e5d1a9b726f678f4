// The decoded form of one operation: what local edits produce, what updates
// carry on the wire, and what ChangesSince collects from the state. One
// struct serves all three so there is exactly one encoder and one decoder.
#ifndef LATTICE_CRDT_INTERNAL_OP_H_
#define LATTICE_CRDT_INTERNAL_OP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "crdt/ids.h"
#include "crdt/value.h"

namespace lattice::crdt::internal {

inline constexpr OpId kNoId{0, 0};

struct Op {
  enum class Kind : uint8_t {
    kSkip = 0,    // ids whose effect was garbage-collected (superseded)
    kInsert = 1,  // a run of elements into a List or Text
    kDelete = 2,  // deletes a contiguous range of element ids
    kMapSet = 3,  // sets (or deletes) a Map key
    kCounterAdd = 4,
  };

  Kind kind = Kind::kSkip;
  OpId id;           // the first id; the op covers id.counter .. +len-1
  uint64_t len = 1;  // ids consumed (elements inserted/deleted; 1 otherwise)
  ContainerId container = kRootId;

  // kInsert. Element i > 0 has origin_left (id.replica, id.counter + i - 1);
  // every element shares origin_right. kNoId means document start / end.
  OpId origin_left = kNoId;
  OpId origin_right = kNoId;
  bool deleted = false;       // inserted already deleted: no content
  bool is_text = false;       // content is `text`, else `values`
  std::u32string text;        // Text: len code points (when !deleted)
  std::vector<Value> values;  // List: len values (when !deleted)

  // kDelete: targets target.counter .. +len-1 of target.replica. With
  // `reversed`, op id id.counter+i deletes the target's (len-1-i)th element
  // (a run of backspaces); otherwise the ith.
  OpId target = kNoId;
  bool reversed = false;

  // kMapSet.
  std::string key;
  Value value;
  uint64_t lamport = 0;

  // kCounterAdd.
  int64_t delta = 0;

  uint64_t end() const { return id.counter + len; }
};

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_OP_H_
