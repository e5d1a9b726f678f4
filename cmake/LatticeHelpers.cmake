# Build helpers shared by every module (the idea of Abseil's absl_cc_library).

# One interface target carries the warning set; every Lattice target links it
# PRIVATE so third-party headers (imported as SYSTEM) never trip -Werror.
set(LATTICE_WARNING_FLAGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wmissing-declarations
  -Wimplicit-fallthrough -Wundef -Wcast-qual -Wformat=2)
add_library(lattice_warnings INTERFACE)
target_compile_options(lattice_warnings INTERFACE ${LATTICE_WARNING_FLAGS})
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

# lattice_clang_check(<target>)
# When the build's compiler is not clang but clang++ is installed, every
# source of <target> is also checked by clang++ -fsyntax-only with the same
# warnings, definitions and include directories (part of the default build;
# one to three seconds per file). Applied to what a client compiles: base/
# and crdt/ are bound for WebAssembly, whose toolchain is clang, and programs
# that embed the SDK (with protocol and net) may well build with clang; the
# fuzz preset builds with Debian's clang 14 too. Code only GCC accepts (a
# lambda capturing a structured binding: clang >= 16) fails here first.
find_program(LATTICE_CLANGXX NAMES clang++ clang++-14)
if(NOT LATTICE_CLANGXX)
  message(STATUS "clang++ not found: no clang syntax checks (scripts/setup-debian.sh installs it)")
endif()
function(lattice_clang_check target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR NOT LATTICE_CLANGXX OR
     LATTICE_SANITIZE)  # the release build checks the same sources
    return()
  endif()
  get_target_property(sources ${target} SOURCES)
  set(defs "$<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>")
  # Third-party directories only (ours is -I, so that its warnings count);
  # /usr/include is the compiler's own and may not be -isystem.
  set(dirs "$<REMOVE_DUPLICATES:$<FILTER:$<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>,EXCLUDE,^(/usr/include|${PROJECT_SOURCE_DIR})$>>")
  set(flags -std=c++20 -fsyntax-only ${LATTICE_WARNING_FLAGS} -Wthread-safety
      "$<$<BOOL:${defs}>:-D$<JOIN:${defs},$<SEMICOLON>-D>>"
      "$<$<BOOL:${dirs}>:-isystem$<JOIN:${dirs},$<SEMICOLON>-isystem>>"
      -I${PROJECT_SOURCE_DIR})
  if(LATTICE_WERROR)
    list(APPEND flags -Werror)
  endif()
  set(stamps)
  foreach(source ${sources})
    set(stamp ${CMAKE_CURRENT_BINARY_DIR}/clang_check/${source}.ok)
    add_custom_command(OUTPUT ${stamp}
      COMMAND ${LATTICE_CLANGXX} ${flags} -MD -MF ${stamp}.d -MT ${stamp}
              ${CMAKE_CURRENT_SOURCE_DIR}/${source}
      COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
      DEPENDS ${source}
      DEPFILE ${stamp}.d
      COMMENT "clang++ -fsyntax-only ${source}"
      COMMAND_EXPAND_LISTS
      VERBATIM)
    list(APPEND stamps ${stamp})
  endforeach()
  add_custom_target(${target}_clang_check ALL DEPENDS ${stamps})
endfunction()
