// ResumePoint: where a room's change log stood when a client last heard
// from it. Shared by SyncClient and Client. A plain value type.
#ifndef LATTICE_SDK_RESUME_POINT_H_
#define LATTICE_SDK_RESUME_POINT_H_

#include <cstdint>

namespace lattice::sdk {

// (epoch, seq) of the last joined / update / ack frame of a room; (0, 0)
// for nothing. A join that presents it gets only the log after it.
struct ResumePoint {
  uint64_t epoch = 0;
  uint64_t seq = 0;

  friend bool operator==(const ResumePoint&, const ResumePoint&) = default;
};

}  // namespace lattice::sdk

#endif  // LATTICE_SDK_RESUME_POINT_H_
