# The parsers that have a libFuzzer target, shared by the main build (tests/fuzz/CMakeLists.txt,
# which registers one ctest each) and the standalone fuzz project (project/CMakeLists.txt,
# which builds fuzz_<parser> for each). `topic` fuzzes parse_topic, `allocation_plan_input` the
# allocation plan input reader (src/fuzz_allocation.cpp); every other name is a payload with
# parse_<name>.
set(eqm_fuzz_parsers
  device_state device_telemetry device_event dock_event ack device_cmd
  gw_state gw_events srv_ack srv_cmd topic allocation_plan_input)
