// The read scope of each role (see read_scope.hpp).
#include "read_scope.hpp"

namespace eqm::server {

namespace {

bool region_reader(const user_account& u) noexcept {
    return u.role == person_role::admin || u.role == person_role::dispatcher;
}

/// A custodian's own city, or forbidden when `asked` is another one.
result<std::optional<std::string>> custodian_city(const user_account& reader,
                                                  const std::optional<std::string>& asked) {
    if (!reader.city)
        return fail(errc::forbidden, "city", "this custodian has no home city to read");
    if (asked && *asked != *reader.city)
        return fail(errc::forbidden, "city",
                    "a custodian reads only their own city (" + *reader.city + ")");
    return reader.city;
}

}  // namespace

result<std::optional<std::string>> device_list_city(const user_account& reader,
                                                    const std::optional<std::string>& asked) {
    if (reader.role == person_role::custodian) return custodian_city(reader, asked);
    return asked;
}

result<std::optional<std::string>> alert_list_city(const user_account& reader,
                                                   const std::optional<std::string>& asked) {
    if (reader.role == person_role::officer)
        return fail(errc::forbidden, "role", "an officer does not read alerts");
    if (reader.role == person_role::custodian) return custodian_city(reader, asked);
    return asked;
}

result<void> may_read_device(const user_account& reader, std::string_view city) {
    if (reader.role != person_role::custodian) return {};
    if (reader.city && *reader.city == city) return {};
    return fail(
        errc::forbidden, "city",
        "a custodian reads only devices of their own city (" + reader.city.value_or("") + ")");
}

bool sees_every_holder(const user_account& reader) noexcept {
    return region_reader(reader) || reader.role == person_role::custodian;
}

std::optional<std::string> visible_holder(const user_account& reader,
                                          const std::optional<std::string>& holder) {
    if (sees_every_holder(reader) || (holder && *holder == reader.id)) return holder;
    return std::nullopt;
}

std::optional<std::string> custody_held_by(const user_account& reader) {
    if (reader.role == person_role::officer) return reader.id;
    return std::nullopt;
}

}  // namespace eqm::server
