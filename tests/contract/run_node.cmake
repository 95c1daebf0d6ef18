# Runs the contract checker for ctest, so a missing node or node_modules is a failing test with
# a message that says what to do, not a confusing stack trace.
#   cmake -DNODE=<node> -DWORKDIR=<tests/contract> -DARGS="validate.mjs|--samples|FILE"
#         -DEXPECT=pass|fail [-DEXPECT_OUTPUT=<regex the output must match>] -P run_node.cmake
# EXPECT=fail proves the checker can fail: it must exit non-zero AND print EXPECT_OUTPUT, so a
# crash or a missing file does not count as "detected".
if(NOT NODE)
  message(FATAL_ERROR "node was not found when CMake configured: install Node.js 20 (scripts/bootstrap) and re-run cmake")
endif()
if(NOT EXISTS "${WORKDIR}/node_modules/ajv/package.json")
  message(FATAL_ERROR "tests/contract/node_modules is missing: run `npm ci --prefix tests/contract` first (scripts/test does it before ctest)")
endif()

string(REPLACE "|" ";" node_args "${ARGS}")
execute_process(
  COMMAND "${NODE}" ${node_args}
  WORKING_DIRECTORY "${WORKDIR}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message(STATUS "node ${ARGS} exited ${rc}\n${out}${err}")

if(EXPECT STREQUAL "pass")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "contract check failed (exit ${rc}); the FAIL lines above say which file and keyword")
  endif()
elseif(EXPECT STREQUAL "fail")
  if(rc EQUAL 0)
    message(FATAL_ERROR "the checker accepted samples that break the contract: it can no longer detect violations")
  endif()
  if(DEFINED EXPECT_OUTPUT AND NOT out MATCHES "${EXPECT_OUTPUT}")
    message(FATAL_ERROR "the checker failed, but not by reporting the violations: expected output matching '${EXPECT_OUTPUT}'")
  endif()
else()
  message(FATAL_ERROR "EXPECT must be pass or fail, got '${EXPECT}'")
endif()
