#pragma once
/// Error propagation for eqm::result, the one way the whole project spells it:
///
///     EQM_TRY(ledger.append(record));              // returns the error of a failed result
///     EQM_TRY_LET(row, ledger.find_device(id));    // ...or binds the value
///
/// Use them wherever a failure is passed on unchanged; spell the `if (!x)` out only where the
/// error is turned into something else (an HTTP answer, a rejected ack, a log line).
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
