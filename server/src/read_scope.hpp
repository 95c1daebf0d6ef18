#pragma once
/// Who may read what: the read side of ARCHITECTURE.md's roles (docs/server.md, "Read scope").
///
/// | reader | devices | holders | custody history | alerts |
/// | ------ | ------- | ------- | --------------- | ------ |
/// | admin, dispatcher | the region | every holder | of every device | the region |
/// | custodian | their city | every holder | of their city's devices | their city |
/// | officer | the region (to book them) | only themselves | only what they held | none |
///
/// Every user reads the 14 cities and their gateways' link state. Asking for more than one's
/// scope (a custodian's `?city=` of another city, an officer's alerts) is errc::forbidden
/// naming the field; the WebSocket feed applies the same table to every message.
#include <optional>
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"
#include "region_store.hpp"

namespace eqm::server {

/// The city a device list of `reader` is limited to, given the `?city=` it asked for (none:
/// the region). errc::forbidden (field `city`) when a custodian asks for another city.
result<std::optional<std::string>> device_list_city(const user_account& reader,
                                                    const std::optional<std::string>& asked);

/// The same for alerts; errc::forbidden (field `role`) for an officer.
result<std::optional<std::string>> alert_list_city(const user_account& reader,
                                                   const std::optional<std::string>& asked);

/// errc::forbidden (field `city`) unless `reader` may read a device of `city` (or its custody
/// history).
result<void> may_read_device(const user_account& reader, std::string_view city);

/// The holder `reader` is shown: every holder, except that an officer sees only themselves.
std::optional<std::string> visible_holder(const user_account& reader,
                                          const std::optional<std::string>& holder);

/// True when `reader` sees every holder (everyone but an officer).
bool sees_every_holder(const user_account& reader) noexcept;

/// Whose holdings of a device's custody history `reader` sees: none (everything) but for an
/// officer, who sees their own.
std::optional<std::string> custody_held_by(const user_account& reader);

}  // namespace eqm::server
