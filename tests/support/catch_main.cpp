// The one Catch2 main shared by every test program (compiling it once saves minutes).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
