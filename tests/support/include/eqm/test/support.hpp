#pragma once
/// Everything an integration test needs, in one include.
#include "eqm/test/child_process.hpp"
#include "eqm/test/mosquitto_broker.hpp"
#include "eqm/test/net.hpp"
#include "eqm/test/temp_dir.hpp"
#include "eqm/test/wait.hpp"
