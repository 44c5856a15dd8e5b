# Warnings, sanitizers and the test helper shared by every ringmaster target.
include_guard(GLOBAL)

add_library(ringmaster_warnings INTERFACE)
target_compile_options(ringmaster_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${RINGMASTER_WERROR}>>:-Werror>)

# RINGMASTER_SANITIZE for every target. RINGMASTER_FUZZ adds address;undefined to it, plus
# libFuzzer's coverage hooks (fuzzer-no-link) so the fuzzer sees edges inside the libraries; only
# the fuzz/ executables link libFuzzer's main (-fsanitize=fuzzer, fuzz/CMakeLists.txt).
macro(ringmaster_apply_sanitizers)
  set(_rm_san_list ${RINGMASTER_SANITIZE})
  if(RINGMASTER_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "RINGMASTER_FUZZ needs clang (libFuzzer): "
                          "CC=clang CXX=clang++ cmake -DRINGMASTER_FUZZ=ON ...")
    endif()
    if("thread" IN_LIST _rm_san_list)
      message(FATAL_ERROR "RINGMASTER_FUZZ builds with ASan, which cannot mix with TSan")
    endif()
    list(APPEND _rm_san_list address undefined)
    list(REMOVE_DUPLICATES _rm_san_list)
    # UB must abort, or libFuzzer would log it and carry on as if the input were fine.
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>
                        $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
  endif()
  if(_rm_san_list)
    string(REPLACE ";" "," _rm_san "${_rm_san_list}")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_rm_san}>
                        $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
    add_link_options(-fsanitize=${_rm_san})
  endif()
endmacro()

# ringmaster_add_library(NAME SOURCES ... DEPS ...): one library per folder, alias ringmaster::NAME.
function(ringmaster_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(ringmaster_${name} ${ARG_SOURCES})
  add_library(ringmaster::${name} ALIAS ringmaster_${name})
  target_include_directories(ringmaster_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(ringmaster_${name} PUBLIC ${ARG_PUBLIC_DEPS}
                        PRIVATE ringmaster_warnings ${ARG_PRIVATE_DEPS})
endfunction()

# ringmaster_add_test(NAME SOURCES ... DEPS ... LABELS ...): a gtest binary whose cases ctest
# discovers, each carrying LABELS (unit, reference, integration, gpu). The cases of a
# parameterised suite instantiated under the name Matrix (INSTANTIATE_TEST_SUITE_P(Matrix, ...):
# the P x plan x task sweeps) carry the label matrix too; scripts/test runs them in the Release
# stage only (the sanitizer stages run -LE matrix). gtest_discover_tests cannot give some cases a
# second label (a list value does not survive its PROPERTIES), so a script ctest includes after the
# discovered tests adds it to the names in the discovery's TEST_LIST that start with "Matrix/".
#
# REFERENCE_CASES <gtest filter>: the cases it matches (those that run the PyTorch model) are
# labelled reference instead of LABELS, so `ctest -L unit` never starts Python.
function(ringmaster_add_test name)
  cmake_parse_arguments(ARG "" "REFERENCE_CASES" "SOURCES;DEPS;LABELS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock
                        ringmaster_warnings)
  target_compile_definitions(${name} PRIVATE
    RINGMASTER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  include(GoogleTest)
  if(ARG_REFERENCE_CASES)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_LIST ${name}_TESTS
      TEST_FILTER "-${ARG_REFERENCE_CASES}" PROPERTIES LABELS "${ARG_LABELS}" ${ARG_PROPERTIES})
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_LIST ${name}_REFERENCE_TESTS
      TEST_FILTER "${ARG_REFERENCE_CASES}" PROPERTIES LABELS reference ${ARG_PROPERTIES})
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_LIST ${name}_TESTS
      PROPERTIES LABELS "${ARG_LABELS}" ${ARG_PROPERTIES})
  endif()
  set(matrix_script ${CMAKE_CURRENT_BINARY_DIR}/${name}_matrix_labels.cmake)
  file(WRITE ${matrix_script}
    "set(_rm_matrix \${${name}_TESTS})\n"
    "list(FILTER _rm_matrix INCLUDE REGEX \"^Matrix/\")\n"
    "if(_rm_matrix)\n"
    "  set_tests_properties(\${_rm_matrix} PROPERTIES LABELS \"${ARG_LABELS};matrix\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${matrix_script})
endfunction()
