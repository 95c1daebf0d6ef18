#pragma once
/// Everything a program needs from eqm_http in one include.
#include "eqm/http/message.hpp"
#include "eqm/http/metrics.hpp"
#include "eqm/http/problem.hpp"
#include "eqm/http/router.hpp"
#include "eqm/http/server.hpp"
#include "eqm/http/ws_hub.hpp"
