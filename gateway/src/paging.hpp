#pragma once
/// Lists over REST are pages: `?limit=&cursor=` in, `{items: [...], next_cursor}` out, with
/// `next_cursor` null on the last page, in a stable order, so a whole history can be read.
/// The default limit is 100, at most 5000; a bad limit or cursor is a 400 naming the field.
/// A cursor is the key of the last item of the page before: a device id (devices, by id) or a
/// number (custody records by index, alerts by the order they were raised in).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"

namespace eqm::gateway {

inline constexpr std::size_t default_page_limit = 100;
inline constexpr std::size_t max_page_limit = 5000;

/// `?limit=` (1..5000), default 100.
result<std::size_t> page_limit(const http::request& req);
/// `?cursor=` that must be a device id.
result<std::optional<std::string>> id_cursor(const http::request& req);
/// `?cursor=` that must be a number.
result<std::optional<std::uint64_t>> number_cursor(const http::request& req);

}  // namespace eqm::gateway
