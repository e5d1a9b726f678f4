// Status propagation macros that Abseil 20220623 does not ship yet.
//
//   absl::StatusOr<Header> ReadHeader(Reader& r) {
//     LATTICE_ASSIGN_OR_RETURN(uint8_t version, r.ReadByte());
//     LATTICE_RETURN_IF_ERROR(CheckVersion(version));
//     ...
//   }
//
// Both macros evaluate their argument exactly once.
#ifndef LATTICE_BASE_STATUS_MACROS_H_
#define LATTICE_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define LATTICE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status lattice_status_ = (expr);           \
    if (!lattice_status_.ok()) return lattice_status_; \
  } while (false)

#define LATTICE_STATUS_CONCAT_INNER_(a, b) a##b
#define LATTICE_STATUS_CONCAT_(a, b) LATTICE_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (a StatusOr<T>); on error returns its status, otherwise
// declares/assigns `lhs` from the moved value.
#define LATTICE_ASSIGN_OR_RETURN(lhs, rexpr) \
  LATTICE_ASSIGN_OR_RETURN_IMPL_(            \
      LATTICE_STATUS_CONCAT_(lattice_statusor_, __LINE__), lhs, rexpr)

#define LATTICE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = *std::move(statusor)

#endif  // LATTICE_BASE_STATUS_MACROS_H_
