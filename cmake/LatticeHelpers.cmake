# Build helpers shared by every module (the idea of Abseil's absl_cc_library).

# One interface target carries the warning set; every Lattice target links it
# PRIVATE so third-party headers (imported as SYSTEM) never trip -Werror.
add_library(lattice_warnings INTERFACE)
target_compile_options(lattice_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wmissing-declarations
  -Wimplicit-fallthrough -Wundef -Wcast-qual -Wformat=2)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(lattice_warnings INTERFACE -Wthread-safety)
endif()
if(LATTICE_WERROR)
  target_compile_options(lattice_warnings INTERFACE -Werror)
endif()

# Sanitizers apply to everything we compile (third-party libraries are not
# instrumented; RocksDB comes prebuilt from Debian).
if(LATTICE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# lattice_add_library(NAME <n> SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
# Declares lattice_<n> with alias lattice::<n>; includes are rooted at the repo.
function(lattice_add_library)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(lattice_${L_NAME} ${L_SRCS})
  add_library(lattice::${L_NAME} ALIAS lattice_${L_NAME})
  target_include_directories(lattice_${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(lattice_${L_NAME} PRIVATE lattice_warnings ${L_DEPS}
                        PUBLIC ${L_PUBLIC_DEPS})
endfunction()

# lattice_add_test(NAME <n> SRCS ... [DEPS ...] [LABELS ...] [TIMEOUT s])
# A GoogleTest binary whose cases ctest discovers, each with the given labels.
function(lattice_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE lattice_warnings lattice::testing
                        ${T_DEPS} GTest::gmock_main)
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()
