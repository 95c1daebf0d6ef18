// eqm: the operator's command-line client of eqm-server's REST API.
// - `eqm login` stores a bearer token under $XDG_CONFIG_HOME/eqm (or ~/.config/eqm);
// - `eqm devices list|show|import`, `eqm checkout`, `eqm checkin` call /api/v1.
// The server comes from --server, else $EQM_SERVER, else the one logged in to, else
// http://127.0.0.1:8080. An https:// server's certificate is checked against --ca-file, else
// $EQM_CA_FILE, else the CA file of the last login, else the system's trusted CAs.
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "plan_command.hpp"
#include "report_command.hpp"
#include "rest_client.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int exit_refused = 1;  ///< the server answered with a problem
constexpr int exit_usage = 2;    ///< bad command line or local input
constexpr int exit_offline = 3;  ///< the server could not be reached

fs::path config_dir() {
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return fs::path(x) / "eqm";
    if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".config" / "eqm";
    return fs::path(".eqm");
}

fs::path token_path() {
    return config_dir() / "token.json";
}

json load_login() {
    std::ifstream in(token_path());
    if (!in) return json::object();
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = json::parse(ss.str(), nullptr, false);
    return j.is_object() ? j : json::object();
}

bool save_login(const json& j) {
    std::error_code ec;
    fs::create_directories(config_dir(), ec);
    const auto path = token_path();
    {
        std::ofstream out(path, std::ios::trunc);
        if (!out) return false;
        out << j.dump(2) << '\n';
    }
    // The token is a credential: owner-only.
    return ::chmod(path.c_str(), S_IRUSR | S_IWUSR) == 0;
}

std::string read_password() {
    std::string pw;
    const bool tty = ::isatty(STDIN_FILENO) != 0;
    termios old{};
    if (tty) {
        std::cerr << "password: " << std::flush;
        ::tcgetattr(STDIN_FILENO, &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::getline(std::cin, pw);
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
        std::cerr << '\n';
    }
    while (!pw.empty() && (pw.back() == '\r' || pw.back() == '\n')) pw.pop_back();
    return pw;
}

/// Percent-encodes a query or path value (cursors too).
std::string encode(std::string_view s) {
    std::ostringstream o;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            o << c;
        } else {
            o << '%' << std::uppercase << std::hex << std::setw(2) << std::setfill('0')
              << static_cast<int>(c) << std::nouppercase << std::dec;
        }
    }
    return o.str();
}

struct context {
    std::string server;
    std::string ca_file;
    bool json_output = false;

    std::string resolved_ca_file() const {
        if (!ca_file.empty()) return ca_file;
        if (const char* e = std::getenv("EQM_CA_FILE"); e && *e) return e;
        auto saved = load_login();
        if (saved.contains("ca_file") && saved["ca_file"].is_string()) return saved["ca_file"];
        return {};
    }

    std::string resolved_server() const {
        if (!server.empty()) return server;
        if (const char* e = std::getenv("EQM_SERVER"); e && *e) return e;
        auto saved = load_login();
        if (saved.contains("server") && saved["server"].is_string()) return saved["server"];
        return "http://127.0.0.1:8080";
    }
};

/// Prints a problem body (or whatever came back) and returns the exit code for it.
int report_failure(const eqm::client::http_reply& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("title")) {
        std::cerr << "error " << r.status << ": " << j.value("title", "");
        if (j.contains("detail")) std::cerr << ": " << j.value("detail", "");
        if (j.contains("field")) std::cerr << " [field " << j.value("field", "") << "]";
        std::cerr << '\n';
        if (j.contains("errors") && j["errors"].is_array()) {
            for (const auto& e : j["errors"]) {
                std::cerr << "  line " << e.value("line", 0);
                if (e.contains("column")) std::cerr << ", column " << e.value("column", 0);
                std::cerr << " (" << e.value("id", "") << "): " << e.value("field", "") << ": "
                          << e.value("message", "") << '\n';
            }
        }
    } else {
        std::cerr << "error " << r.status << ": " << r.body << '\n';
    }
    return r.status == 401 ? exit_usage : exit_refused;
}

/// Calls the API with the saved token; prints errors; returns the body on 2xx.
std::optional<json> call(const context& ctx, std::string_view method, const std::string& target,
                         const std::string& body, int& code,
                         const eqm::client::header_fields& extra = {},
                         const eqm::client::progress_fn& progress = {}) {
    auto url = eqm::client::parse_server_url(ctx.resolved_server());
    if (!url) {
        std::cerr << "eqm: " << url.error().describe() << '\n';
        code = exit_usage;
        return std::nullopt;
    }
    eqm::client::header_fields headers = extra;
    auto saved = load_login();
    if (saved.contains("token") && saved["token"].is_string())
        headers.emplace_back("Authorization", "Bearer " + saved["token"].get<std::string>());
    eqm::client::rest_connection conn(*url, eqm::client::tls_trust{ctx.resolved_ca_file()});
    auto r = conn.call(method, target, body, headers, progress);
    if (!r) {
        std::cerr << "eqm: " << r.error().message << '\n';
        code = r.error().code == eqm::errc::bad_field ? exit_usage : exit_offline;
        return std::nullopt;
    }
    if (r->status == 401) std::cerr << "eqm: not logged in or the token expired; run `eqm login`\n";
    if (r->status < 200 || r->status >= 300) {
        code = report_failure(*r);
        return std::nullopt;
    }
    auto j = json::parse(r->body, nullptr, false);
    code = 0;
    return j.is_discarded() ? json(r->body) : j;
}

std::string cell(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    if (j[key].is_string()) return j[key].get<std::string>();
    return j[key].dump();
}

void print_device_table(const json& list) {
    std::cout << std::left << std::setw(20) << "ID" << std::setw(12) << "CLASS" << std::setw(8)
              << "CITY" << std::setw(13) << "STATUS" << std::setw(16) << "HOLDER" << std::setw(7)
              << "READY"
              << "LAST SEEN\n";
    for (const auto& d : list) {
        const bool ready = d.contains("readiness") && d["readiness"].value("ready", false);
        std::cout << std::left << std::setw(20) << cell(d, "id") << std::setw(12)
                  << cell(d, "class") << std::setw(8) << cell(d, "city") << std::setw(13)
                  << cell(d, "status") << std::setw(16) << cell(d, "holder") << std::setw(7)
                  << (ready ? "yes" : "no") << cell(d, "last_seen") << '\n';
    }
}

void print_device(const json& d) {
    for (const auto& [k, v] : d.items()) {
        if (k == "readiness" || k == "telemetry") continue;
        std::cout << std::left << std::setw(18) << k
                  << (v.is_string() ? v.get<std::string>() : v.dump()) << '\n';
    }
    if (d.contains("readiness")) {
        const auto& r = d["readiness"];
        std::cout << std::setw(18) << "ready" << (r.value("ready", false) ? "yes" : "no") << '\n';
        if (r.contains("problems"))
            for (const auto& p : r["problems"])
                std::cout << "  - " << p.value("code", "") << ": " << p.value("message", "")
                          << '\n';
    }
    if (d.contains("telemetry"))
        std::cout << std::setw(18) << "telemetry" << d["telemetry"].dump() << '\n';
}

/// Items asked for per page when the CLI reads a whole list.
constexpr int page_limit = 1000;

/// Every item of a paged list: follows next_cursor from `target` until the last page.
std::optional<json> fetch_all(const context& ctx, const std::string& target, int& code) {
    json items = json::array();
    const std::string first = target + (target.find('?') == std::string::npos ? "?" : "&") +
                              "limit=" + std::to_string(page_limit);
    std::string next = first;
    for (;;) {
        auto page = call(ctx, "GET", next, "", code);
        if (!page) return std::nullopt;
        for (auto& item : (*page)["items"]) items.push_back(std::move(item));
        const auto& cursor = (*page)["next_cursor"];
        if (!cursor.is_string()) return items;
        next = first + "&cursor=" + encode(cursor.get<std::string>());
    }
}

void print_history(const json& list) {
    std::cout << std::left << std::setw(26) << "TIME" << std::setw(16) << "ACTION" << std::setw(14)
              << "TO" << std::setw(16) << "HOLDER" << std::setw(16) << "ACTOR"
              << "VERIFIED\n";
    for (const auto& e : list) {
        const auto& r = e["record"];
        std::cout << std::left << std::setw(26) << cell(r, "ts") << std::setw(16)
                  << cell(r, "action") << std::setw(14) << cell(r, "to_state") << std::setw(16)
                  << cell(r, "holder") << std::setw(16) << cell(r, "actor")
                  << (e.value("verified", false) ? "yes" : "NO") << '\n';
    }
}

/// Draws `[#####     ]  42%` on stderr, in place.
void draw_progress(std::size_t sent, std::size_t total) {
    constexpr int width = 40;
    const double f = total == 0 ? 1.0 : static_cast<double>(sent) / static_cast<double>(total);
    const int filled = static_cast<int>(f * width);
    std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
              << std::string(static_cast<std::size_t>(width - filled), ' ') << "] " << std::setw(3)
              << static_cast<int>(f * 100) << "% " << sent << '/' << total << " bytes"
              << std::flush;
}

void add_login(CLI::App& app, const context& ctx, int& code) {
    auto* login = app.add_subcommand(
        "login", "log in; the password is read from stdin (hidden on a terminal)");
    auto* name = login->add_option("--name", "login name")->required();
    login->callback([&ctx, &code, name] {
        const auto user = name->as<std::string>();
        const auto pw = read_password();
        auto body = json{{"name", user}, {"password", pw}}.dump();
        auto j = call(ctx, "POST", "/api/v1/auth/login", body, code);
        if (!j) return;
        json saved{{"server", ctx.resolved_server()},
                   {"token", (*j)["token"]},
                   {"expires_at", (*j)["expires_at"]},
                   {"name", user},
                   {"role", (*j)["role"]},
                   {"city", (*j)["city"]}};
        // Later commands reach the same server the same way.
        if (const auto ca = ctx.resolved_ca_file(); !ca.empty())
            saved["ca_file"] = fs::absolute(ca).string();
        if (!save_login(saved)) {
            std::cerr << "eqm: cannot write " << token_path() << '\n';
            code = exit_usage;
            return;
        }
        std::cout << "logged in as " << user << " (" << cell(*j, "role") << ", city "
                  << cell(*j, "city") << ") until " << cell(*j, "expires_at") << '\n';
    });
}

/// Text options of one command, kept alive for its callback.
struct device_args {
    std::string id, city, cls, status, file, charset;
};

void add_device_list(CLI::App& devices, const context& ctx, int& code, device_args& a) {
    auto* list = devices.add_subcommand("list", "list devices (the whole list, page by page)");
    list->add_option("--city", a.city, "only this city (6-digit code)");
    list->add_option("--class", a.cls, "only this class: body_camera, drone, analyzer, dock");
    list->add_option("--status", a.status, "only this custody status, e.g. available");
    list->callback([&ctx, &code, &a] {
        std::string q;
        auto add = [&](const char* k, const std::string& v) {
            if (v.empty()) return;
            q += q.empty() ? '?' : '&';
            q += k;
            q += '=';
            q += encode(v);
        };
        add("city", a.city);
        add("class", a.cls);
        add("status", a.status);
        auto j = fetch_all(ctx, "/api/v1/devices" + q, code);
        if (!j) return;
        if (ctx.json_output) {
            std::cout << j->dump(2) << '\n';
        } else {
            print_device_table(*j);
        }
    });
}

void add_device_show(CLI::App& devices, const context& ctx, int& code, device_args& a) {
    auto* show = devices.add_subcommand("show", "show one device");
    show->add_option("ID", a.id, "device id")->required();
    show->callback([&ctx, &code, &a] {
        auto j = call(ctx, "GET", "/api/v1/devices/" + encode(a.id), "", code);
        if (!j) return;
        if (ctx.json_output) {
            std::cout << j->dump(2) << '\n';
        } else {
            print_device(*j);
        }
    });
    auto* history =
        devices.add_subcommand("history", "a device's whole custody history, newest first");
    history->add_option("ID", a.id, "device id")->required();
    history->callback([&ctx, &code, &a] {
        auto j = fetch_all(ctx, "/api/v1/devices/" + encode(a.id) + "/custody", code);
        if (!j) return;
        if (ctx.json_output) {
            std::cout << j->dump(2) << '\n';
        } else {
            print_history(*j);
        }
    });
}

void add_device_import(CLI::App& devices, const context& ctx, int& code, device_args& a) {
    auto* import = devices.add_subcommand(
        "import",
        "import devices from a CSV file, all or nothing (header id,class,model,city,...)");
    import->add_option("FILE", a.file, "CSV file")->required()->check(CLI::ExistingFile);
    import
        ->add_option("--charset", a.charset,
                     "the file's charset: utf-8 (default; a byte-order mark is skipped), gbk or "
                     "gb18030 (a spreadsheet's export on a Chinese system)")
        ->check(CLI::IsMember({"utf-8", "gbk", "gb18030"}, CLI::ignore_case));
    import->callback([&ctx, &code, &a] {
        std::ifstream in(a.file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto body = ss.str();
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    std::string type = "text/csv";
    if (!a.charset.empty()) type += "; charset=" + a.charset;
    auto j = call(ctx, "POST", "/api/v1/devices/import", body, code, {{"Content-Type", type}},
                  [tty](std::size_t s, std::size_t t) {
                      if (tty) draw_progress(s, t);
                  });
    if (tty) std::cerr << '\n';
    if (!j) return;
    std::cout << "imported " << j->value("imported", 0) << " devices\n";
});
}  // namespace

/// Text options of the custody commands, kept alive for their callbacks.
struct custody_args {
    std::string id, badge, due, condition, note;
};

void add_custody(CLI::App& app, const context& ctx, int& code, custody_args& a) {
    auto* checkout =
        app.add_subcommand("checkout", "check a device out (through its city gateway)");
    checkout->add_option("ID", a.id, "device id")->required();
    checkout->add_option("--badge", a.badge, "badge of the person taking it")->required();
    checkout->add_option("--due", a.due, "return due, e.g. 2026-11-26T18:00:00.000Z");
    checkout->callback([&ctx, &code, &a] {
        json body{{"badge", a.badge}};
        if (!a.due.empty()) body["due"] = a.due;
        auto j =
            call(ctx, "POST", "/api/v1/devices/" + encode(a.id) + "/checkout", body.dump(), code);
        if (!j) return;
        std::cout << a.id << " checked out to " << a.badge;
        if (j->contains("record_index"))
            std::cout << " (ledger record " << (*j)["record_index"] << ")";
        std::cout << '\n';
    });
    auto* checkin = app.add_subcommand("checkin", "check a device in (through its city gateway)");
    checkin->add_option("ID", a.id, "device id")->required();
    checkin->add_option("--condition", a.condition, "good, damaged or needs_service");
    checkin->add_option("--note", a.note, "free text, up to 512 characters");
    checkin->callback([&ctx, &code, &a] {
        json body = json::object();
        if (!a.condition.empty()) body["condition"] = a.condition;
        if (!a.note.empty()) body["note"] = a.note;
        auto j =
            call(ctx, "POST", "/api/v1/devices/" + encode(a.id) + "/checkin", body.dump(), code);
        if (!j) return;
        std::cout << a.id << " checked in";
        if (j->contains("device")) std::cout << ", now " << cell((*j)["device"], "status");
        std::cout << '\n';
    });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"eqm: operator client of the eqm regional dispatcher (eqm-server)"};
    context ctx;
    app.add_option("--server", ctx.server,
                   "server URL, http://HOST:PORT or https://HOST:PORT (default: $EQM_SERVER, then "
                   "the server of the last login, then http://127.0.0.1:8080)");
    app.add_option("--ca-file", ctx.ca_file,
                   "CA certificate (PEM) an https:// server's certificate must chain to, e.g. the "
                   "region's ca.crt (default: $EQM_CA_FILE, then the one of the last login, then "
                   "the system's trusted CAs)");
    app.add_flag("--json", ctx.json_output, "print the server's JSON instead of a table");
    app.require_subcommand(1);
    int code = 0;
    add_login(app, ctx, code);
    auto* devices = app.add_subcommand("devices", "list, show, trace and import devices");
    devices->require_subcommand(1);
    device_args da;
    add_device_list(*devices, ctx, code, da);
    add_device_show(*devices, ctx, code, da);
    add_device_import(*devices, ctx, code, da);
    custody_args ca;
    add_custody(app, ctx, code, ca);
    eqm::cli::add_plan_command(app, code);
    eqm::cli::add_report_command(app, code,
                                 [&ctx](const std::string& target, const std::string& accept,
                                        int& c) -> std::optional<std::string> {
                                     auto j = call(ctx, "GET", target, "", c, {{"Accept", accept}});
                                     if (!j) return std::nullopt;
                                     return j->is_string() ? j->get<std::string>() : j->dump(2);
                                 });
    CLI11_PARSE(app, argc, argv);
    return code;
}
