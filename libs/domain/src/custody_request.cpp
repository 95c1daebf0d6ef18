#include "eqm/domain/custody_request.hpp"

#include "payloads_reader.hpp"

namespace eqm {

result<custody_request_body> parse_custody_request(const nlohmann::json& body,
                                                   custody_action action) {
    if (!body.is_object()) return fail(errc::bad_field, "body", "the body must be a JSON object");
    detail::object_reader r(body, "", "request");
    custody_request_body v;
    if (action == custody_action::checkout) {
        r.req_into("badge", v.badge, detail::id());
        r.opt("due", v.due, detail::ts());
    } else {
        r.opt("condition", v.condition,
              detail::enumeration(parse_item_condition, "good, damaged, needs_service"));
        r.opt("note", v.note, detail::text(0, max_custody_note_chars));
        r.opt("badge", v.badge, detail::id());
    }
    return detail::finish(r, std::move(v));
}

}  // namespace eqm
