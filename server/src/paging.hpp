#pragma once
/// Lists over REST are pages (ARCHITECTURE.md): `?limit=&cursor=` in, `{items, next_cursor}`
/// out, `next_cursor` null on the last page, in a stable order. A cursor is opaque to clients:
/// it names its list and wraps the store's key of the last item it has seen.
#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "eqm/http/message.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// Items per page when `limit` is not given.
inline constexpr std::size_t default_page_limit = 100;
/// The largest `limit` a client may ask for.
inline constexpr std::size_t max_page_limit = 5000;

/// A cursor for the page after the item keyed `key` of the list `list` ("devices", ...).
std::string encode_cursor(std::string_view list, std::string_view key);

/// The key inside a cursor of `list`; errc::bad_field naming `cursor` when it is not one.
result<std::string> decode_cursor(std::string_view list, std::string_view cursor);

/// The page a request asks for: `?limit=` (1..5000, default 100) and `?cursor=` of `list`;
/// errc::bad_field naming `limit` or `cursor`.
result<page_query> read_page_query(const http::request& req, std::string_view list);

/// `{items, next_cursor}` with `next_cursor` made from `next_key` (null when absent).
nlohmann::json page_json(nlohmann::json items, std::string_view list,
                         const std::optional<std::string>& next_key);

}  // namespace eqm::server
