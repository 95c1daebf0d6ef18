// `eqm transfers ...` (see transfers_command.hpp).
#include "transfers_command.hpp"

#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <vector>

namespace eqm::cli {
namespace {

using nlohmann::json;

struct transfer_args {
    std::string id, status, city, from, to, cls, analyte, due, reason;
    std::vector<std::string> devices;
    int count = 0;
};

std::string text(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

void print_table(const json& list) {
    std::cout << std::left << std::setw(18) << "ID" << std::setw(12) << "STATUS" << std::setw(8)
              << "FROM" << std::setw(8) << "TO" << std::setw(7) << "UNITS" << std::setw(26) << "DUE"
              << "REASON\n";
    for (const auto& t : list) {
        std::cout << std::left << std::setw(18) << text(t, "id") << std::setw(12)
                  << text(t, "status") << std::setw(8) << text(t, "from_city") << std::setw(8)
                  << text(t, "to_city") << std::setw(7) << t.value("units", json::array()).size()
                  << std::setw(26) << text(t, "due") << text(t, "reason") << '\n';
    }
}

void print_one(const json& t, bool as_json) {
    if (as_json) {
        std::cout << t.dump(2) << '\n';
        return;
    }
    print_table(json::array({t}));
    for (const auto& u : t.value("units", json::array()))
        std::cout << "  " << std::left << std::setw(20) << text(u, "device_id") << std::setw(12)
                  << text(u, "state") << "courier " << text(u, "courier") << '\n';
}

std::string query(const transfer_args& a) {
    std::string q;
    for (const auto& [k, v] : {std::pair{"status", &a.status}, std::pair{"city", &a.city}}) {
        if (v->empty()) continue;
        q += q.empty() ? '?' : '&';
        q += std::string(k) + "=" + *v;
    }
    return q;
}

json create_body(const transfer_args& a) {
    json items = json::array();
    for (const auto& d : a.devices) items.push_back(json{{"device_id", d}});
    if (!a.cls.empty()) {
        json item{{"class", a.cls}, {"count", a.count}};
        if (!a.analyte.empty()) item["analyte"] = a.analyte;
        items.push_back(std::move(item));
    }
    return json{{"from_city", a.from},
                {"to_city", a.to},
                {"items", std::move(items)},
                {"due", a.due},
                {"reason", a.reason}};
}

void add_create(CLI::App& transfers, const api_access& api, int& code, transfer_args& a) {
    auto* create = transfers.add_subcommand(
        "create",
        "ask for a transfer: named devices (--device, repeatable) and/or a count of a "
        "class (--class with --count)");
    create->add_option("--from", a.from, "source city (6-digit code)")->required();
    create->add_option("--to", a.to, "destination city (6-digit code)")->required();
    create->add_option("--device", a.devices, "a device to move (repeatable)");
    create->add_option("--class", a.cls, "a class to move units of: body_camera, drone, analyzer");
    create->add_option("--count", a.count, "how many units of --class")->check(CLI::Range(1, 500));
    create->add_option("--analyte", a.analyte, "analyte of the analyzers, e.g. cod");
    create->add_option("--due", a.due, "when the units must have arrived, RFC 3339")->required();
    create->add_option("--reason", a.reason, "why the units move")->required();
    create->callback([api, &code, &a] {
        if (a.devices.empty() && a.cls.empty()) {
            std::cerr << "eqm: name --device or --class with --count\n";
            code = 2;
            return;
        }
        auto j = api.call("POST", "/api/v1/transfers", create_body(a).dump(), code);
        if (j) print_one(*j, *api.json_output);
    });
}

void add_decision(CLI::App& transfers, const api_access& api, int& code, transfer_args& a,
                  const char* verb, const char* help) {
    auto* cmd = transfers.add_subcommand(verb, help);
    cmd->add_option("ID", a.id, "transfer id")->required();
    cmd->callback([api, &code, &a, verb] {
        auto j = api.call("POST", "/api/v1/transfers/" + a.id + "/" + verb, "{}", code);
        if (j) print_one(*j, *api.json_output);
    });
}

}  // namespace

void add_transfers_command(CLI::App& app, api_access api, int& code) {
    // The options write into `a`; the callbacks hold it, so it lives as long as `app`.
    auto a = std::make_shared<transfer_args>();
    auto* transfers = app.add_subcommand(
        "transfers", "list, show, create, approve and cancel transfers between cities");
    transfers->require_subcommand(1);
    auto* list = transfers->add_subcommand("list", "list transfers, newest first");
    list->add_option("--status", a->status, "only this status, e.g. in_transit");
    list->add_option("--city", a->city, "only transfers into or out of this city");
    list->callback([api, &code, a] {
        auto j = api.fetch_all("/api/v1/transfers" + query(*a), code);
        if (!j) return;
        if (*api.json_output) {
            std::cout << j->dump(2) << '\n';
        } else {
            print_table(*j);
        }
    });
    auto* show = transfers->add_subcommand("show", "show one transfer and its units");
    show->add_option("ID", a->id, "transfer id")->required();
    show->callback([api, &code, a] {
        auto j = api.call("GET", "/api/v1/transfers/" + a->id, "", code);
        if (j) print_one(*j, *api.json_output);
    });
    add_create(*transfers, api, code, *a);
    add_decision(*transfers, api, code, *a, "approve",
                 "approve a requested transfer: its orders go to both city gateways");
    add_decision(*transfers, api, code, *a, "cancel",
                 "cancel a transfer before its hand-over; the gateways are told");
}

}  // namespace eqm::cli
