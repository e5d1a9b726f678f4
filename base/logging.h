// A minimal logging facade (Abseil 20220623 has no absl/log).
//
//   LATTICE_LOG(kWarning) << "room " << room << ": rate limit exceeded";
//   LATTICE_CHECK(offset <= size) << "offset past end";
//
// Each line is written to the current sink (stderr by default) as
//   "<LEVEL> <file>:<line>] message"
// in one write, so lines from concurrent threads do not interleave.
// Thread safety: LATTICE_LOG is safe from any thread; SetLogSink and
// SetMinLogLevel are meant for program start-up and tests.
#ifndef LATTICE_BASE_LOGGING_H_
#define LATTICE_BASE_LOGGING_H_

#include <functional>
#include <sstream>
#include <string>

namespace lattice {

enum class LogLevel {
  kDebug = 0,
  kInfo = 1,
  kWarning = 2,
  kError = 3,
  kFatal = 4
};

// Receives each finished line (without a trailing newline).
using LogSink = std::function<void(LogLevel, const std::string&)>;

// Replaces the sink; an empty function restores stderr.
void SetLogSink(LogSink sink);
// Lines below `level` are dropped. Default: kInfo.
void SetMinLogLevel(LogLevel level);
bool LogLevelEnabled(LogLevel level);

namespace internal {

// Collects one line and hands it to the sink on destruction. A kFatal line
// aborts the process after being written.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Lets the macros below be used as expressions of type void.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace lattice

#define LATTICE_LOG(level)                                              \
  !::lattice::LogLevelEnabled(::lattice::LogLevel::level)               \
      ? (void)0                                                         \
      : ::lattice::internal::LogVoidify() &                             \
            ::lattice::internal::LogMessage(::lattice::LogLevel::level, \
                                            __FILE__, __LINE__)         \
                .stream()

// Aborts with a message when `cond` is false. For broken invariants (bugs),
// never for bad input: bad input gets a Status.
#define LATTICE_CHECK(cond)                                                 \
  (cond) ? (void)0                                                          \
         : ::lattice::internal::LogVoidify() &                              \
               ::lattice::internal::LogMessage(::lattice::LogLevel::kFatal, \
                                               __FILE__, __LINE__)          \
                       .stream()                                            \
                   << "check failed: " #cond " "

#endif  // LATTICE_BASE_LOGGING_H_
