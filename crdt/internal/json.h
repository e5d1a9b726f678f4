// JSON text for crdt/ exports (Doc::ToJson, Presence::ToJson): strings
// escaped per RFC 8259 (input must be UTF-8), doubles in shortest
// round-trip form with non-finite values as null, scalar Values as in
// docs/crdt.md ("Observing changes").
//
// Thread safety: pure functions.
#ifndef LATTICE_CRDT_INTERNAL_JSON_H_
#define LATTICE_CRDT_INTERNAL_JSON_H_

#include <string>

#include "crdt/value.h"

#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

void AppendJsonString(absl::string_view s, std::string* out);
void AppendJsonDouble(double d, std::string* out);
// Null, bool, int, double, string, bytes ({"$bytes":"<base64>"}); a
// container or deletion marker as null.
void AppendJsonScalar(const Value& v, std::string* out);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_JSON_H_
