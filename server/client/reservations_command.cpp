// `eqm reserve` and `eqm reservations ...`: see reservations_command.hpp.
#include "reservations_command.hpp"

#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

namespace eqm::cli {

using nlohmann::json;

namespace {

constexpr int list_page_limit = 1000;

struct reservation_args {
    std::string city, cls, device, analyte, start, end, purpose, case_no;
    std::string id, reason, status, person, from, to;
};

std::string query_escape(std::string_view s) {
    std::ostringstream o;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            o << c;
        else
            o << '%' << std::uppercase << std::hex << std::setw(2) << std::setfill('0')
              << static_cast<int>(c) << std::nouppercase << std::dec;
    }
    return o.str();
}

std::string text(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void print_row(const json& r) {
    const std::string what =
        r.contains("device_id")
            ? text(r, "device_id")
            : text(r, "class") + (r.contains("analyte") ? "/" + text(r, "analyte") : std::string());
    std::cout << std::left << std::setw(10) << text(r, "id") << std::setw(11) << text(r, "status")
              << std::setw(8) << text(r, "city") << std::setw(18) << what << std::setw(26)
              << text(r, "start") << std::setw(26) << text(r, "end") << text(r, "person_id")
              << '\n';
}

void print_one(const json& r, bool as_json) {
    if (as_json) {
        std::cout << r.dump(2) << '\n';
        return;
    }
    print_row(r);
}

void add_reserve(CLI::App& app, const api_call& call, const bool& as_json,
                 std::shared_ptr<reservation_args> a) {
    auto* cmd = app.add_subcommand(
        "reserve",
        "book a named device (--device) or any unit of a class (--class, with --analyte for "
        "analyzers) at a city for a window; prints the booking (requested when its class needs "
        "approval, else approved); a conflict prints what it clashes with and the nearest free "
        "windows");
    cmd->add_option("--city", a->city, "city code, e.g. 450100")->required();
    auto* cls = cmd->add_option("--class", a->cls, "body_camera, drone or analyzer");
    auto* dev = cmd->add_option("--device", a->device, "device id");
    cls->excludes(dev);
    cmd->add_option("--analyte", a->analyte, "analyzers: cod, nh3n, voc, so2, nox or noise");
    cmd->add_option("--start", a->start, "RFC 3339, e.g. 2026-12-01T09:00:00+08:00")->required();
    cmd->add_option("--end", a->end, "RFC 3339, after --start")->required();
    cmd->add_option("--purpose", a->purpose, "what it is for (1..512 characters)")->required();
    cmd->add_option("--case-no", a->case_no, "case number (1..64 characters)");
    cmd->callback([call, &as_json, a] {
        json body{{"city", a->city}, {"start", a->start}, {"end", a->end}, {"purpose", a->purpose}};
        if (!a->cls.empty()) body["class"] = a->cls;
        if (!a->device.empty()) body["device_id"] = a->device;
        if (!a->analyte.empty()) body["analyte"] = a->analyte;
        if (!a->case_no.empty()) body["case_no"] = a->case_no;
        if (auto r = call("POST", "/api/v1/reservations", body.dump())) print_one(*r, as_json);
    });
}

void add_list(CLI::App& parent, const api_call& call, const bool& as_json,
              std::shared_ptr<reservation_args> a) {
    auto* list = parent.add_subcommand(
        "list", "list reservations in your scope (officers: their own), oldest first");
    list->add_option("--city", a->city, "city code");
    list->add_option("--status", a->status,
                     "requested, approved, declined, active, completed, cancelled, no_show or "
                     "overdue");
    list->add_option("--person", a->person, "booker's person id");
    list->add_option("--device", a->device,
                     "device id (named, or the unit a booking was bound to)");
    list->add_option("--from", a->from, "only windows ending after this instant (RFC 3339)");
    list->add_option("--to", a->to, "only windows starting before this instant (RFC 3339)");
    list->callback([call, &as_json, a] {
        std::string q = "/api/v1/reservations?limit=" + std::to_string(list_page_limit);
        const std::pair<const char*, std::string*> filters[] = {
            {"city", &a->city},     {"status", &a->status}, {"person", &a->person},
            {"device", &a->device}, {"from", &a->from},     {"to", &a->to}};
        for (const auto& [name, value] : filters)
            if (!value->empty()) q += std::string("&") + name + "=" + query_escape(*value);
        json items = json::array();
        for (std::string next = q;;) {
            auto page = call("GET", next, "");
            if (!page) return;
            for (auto& item : (*page)["items"]) items.push_back(std::move(item));
            const auto& cursor = (*page)["next_cursor"];
            if (!cursor.is_string()) break;
            next = q + "&cursor=" + query_escape(cursor.get<std::string>());
        }
        if (as_json) {
            std::cout << items.dump(2) << '\n';
            return;
        }
        for (const auto& r : items) print_row(r);
    });
}

void add_action(CLI::App& parent, const api_call& call, const bool& as_json,
                std::shared_ptr<reservation_args> a, const char* action, const char* help,
                bool reason_required) {
    auto* cmd = parent.add_subcommand(action, help);
    cmd->add_option("ID", a->id, "reservation id, e.g. r-17")->required();
    auto* reason = cmd->add_option("--reason", a->reason, "why (1..256 characters)");
    if (reason_required) reason->required();
    cmd->callback([call, &as_json, a, action] {
        json body = json::object();
        if (!a->reason.empty()) body["reason"] = a->reason;
        if (auto r = call("POST", "/api/v1/reservations/" + query_escape(a->id) + "/" + action,
                          body.dump()))
            print_one(*r, as_json);
    });
}

}  // namespace

void add_reservation_commands(CLI::App& app, api_call call, const bool& json_output) {
    auto args = std::make_shared<reservation_args>();
    add_reserve(app, call, json_output, args);
    auto* r = app.add_subcommand("reservations", "list, approve, decline and cancel reservations");
    r->require_subcommand(1);
    add_list(*r, call, json_output, args);
    add_action(*r, call, json_output, args, "approve",
               "approve a requested reservation (dispatcher, admin, the city's custodian)", false);
    add_action(*r, call, json_output, args, "decline",
               "decline a requested reservation, with a reason (dispatcher, admin, the city's "
               "custodian)",
               true);
    add_action(*r, call, json_output, args, "cancel",
               "cancel a requested or approved reservation (its officer, dispatcher, admin)",
               false);
}

}  // namespace eqm::cli
