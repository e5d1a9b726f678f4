# lattice_trace_file: the editing-trace reader and replayer (trace_file.h,
# trace_replay.h) shared by tests/crdt/trace_test.cc, lattice-trace and
# crdt_benchmark. Tooling, never linked by a module. Included by tests/crdt
# and bench/trace, whichever CMake reaches first: the ASan build has no bench/
# but still runs the trace test.
add_library(lattice_trace_file STATIC ${CMAKE_CURRENT_LIST_DIR}/trace_file.cc
                                      ${CMAKE_CURRENT_LIST_DIR}/trace_replay.cc)
target_include_directories(lattice_trace_file PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(lattice_trace_file
  PRIVATE lattice_warnings nlohmann_json::nlohmann_json ZLIB::ZLIB
  PUBLIC lattice::crdt absl::status absl::statusor absl::strings)
