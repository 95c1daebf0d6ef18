#pragma once
/// Error propagation for eqm::result in the gateway's adapters, where almost every line is a
/// fallible SQLite call: EQM_TRY(expr) returns the error of a failed result; EQM_TRY_LET(name,
/// expr) also binds the value.
#include <expected>
#include <utility>

#define EQM_TRY(expr)                                                   \
    do {                                                                \
        if (auto eqm_try_result_ = (expr); !eqm_try_result_)            \
            return std::unexpected(std::move(eqm_try_result_).error()); \
    } while (0)

#define EQM_TRY_LET(name, expr)                                                     \
    auto name##_result_ = (expr);                                                   \
    if (!name##_result_) return std::unexpected(std::move(name##_result_).error()); \
    auto name = std::move(*name##_result_)
