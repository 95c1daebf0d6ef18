#include "gateway_harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "eqm/store/database.hpp"

namespace eqm::gwtest {

std::string now_ts(std::chrono::milliseconds offset) {
    return format_timestamp(
        std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()) + offset);
}

http_reply http_call(std::uint16_t port, const std::string& method, const std::string& path,
                     const std::string& body, const header_fields& headers) {
    http_reply out;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return out;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return out;
    }
    const auto named = [&](std::string_view name) {
        for (const auto& [k, v] : headers)
            if (k == name) return true;
        return false;
    };
    std::string req = method + " " + path + " HTTP/1.1\r\nConnection: close\r\n";
    if (!named("Host")) req += "Host: 127.0.0.1\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
        if (!named("Content-Type")) req += "Content-Type: application/json\r\n";
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n" + body;
    std::size_t off = 0;
    while (off < req.size()) {
        const auto n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[8192];
    while (true) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return out;
    out.status = std::stoi(raw.substr(9, 3));
    const std::string head = raw.substr(0, head_end);
    out.head = head;
    std::istringstream lines(head);
    std::string line;
    bool chunked = false;
    while (std::getline(lines, line)) {
        std::string lower;
        for (char c : line) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower.rfind("content-type:", 0) == 0) {
            out.content_type = line.substr(13);
            while (!out.content_type.empty() && (out.content_type.front() == ' '))
                out.content_type.erase(0, 1);
            while (!out.content_type.empty() && (out.content_type.back() == '\r'))
                out.content_type.pop_back();
        }
        if (lower.find("transfer-encoding: chunked") != std::string::npos) chunked = true;
    }
    std::string payload = raw.substr(head_end + 4);
    if (chunked) {
        std::string decoded;
        std::size_t pos = 0;
        while (pos < payload.size()) {
            const auto eol = payload.find("\r\n", pos);
            if (eol == std::string::npos) break;
            const auto size = std::stoul(payload.substr(pos, eol - pos), nullptr, 16);
            if (size == 0) break;
            decoded += payload.substr(eol + 2, size);
            pos = eol + 2 + size + 2;
        }
        payload = decoded;
    }
    out.body = payload;
    return out;
}

std::string password_hash(const std::string& password) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium does not start");
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_MIN,
                          crypto_pwhash_MEMLIMIT_MIN) != 0)
        throw std::runtime_error("crypto_pwhash_str failed");
    return out;
}

json kiosk_custodian() {
    static const std::string hash = password_hash("kiosk-password");
    return json{{"id", "kiosk-cust"},
                {"name", "kiosk-cust"},
                {"role", "custodian"},
                {"city", city},
                {"password_hash", hash}};
}

// ---------------------------------------------------------------------------------------------

mqtt_probe::mqtt_probe(const std::string& uri, const std::string& client_id,
                       std::vector<mqtt::subscription> subs) {
    mqtt::session_options o;
    o.server_uri = uri;
    o.client_id = client_id;
    o.subscriptions = std::move(subs);
    o.reconnect_min = 100ms;
    o.reconnect_max = 500ms;
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    if (!s) throw std::runtime_error("probe: " + s.error().describe());
    session_ = std::move(*s);
    session_->on_message([this](std::string topic, std::string payload) {
        {
            std::lock_guard lock(mutex_);
            messages_.emplace_back(topic, payload);
        }
        on_receive(topic, payload);
    });
}

void mqtt_probe::start() {
    session_->start();
    if (!session_->wait_connected(wait_timeout)) throw std::runtime_error("probe did not connect");
}

mqtt_probe::~mqtt_probe() {
    session_.reset();
}

bool mqtt_probe::wait_connected() const {
    return session_->wait_connected(wait_timeout);
}

void mqtt_probe::publish(const std::string& topic, const std::string& payload, int qos) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (session_->publish(topic, payload, qos, false)) return;
        std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("probe could not publish on " + topic);
}

std::vector<std::pair<std::string, std::string>> mqtt_probe::received() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

// ---------------------------------------------------------------------------------------------

server_probe::server_probe(const std::string& uri)
    : mqtt_probe(uri, "test-server",
                 {{"eqm/v1/city/" + std::string(city) + "/gw/events", 1},
                  {"eqm/v1/city/" + std::string(city) + "/gw/state", 1}}) {
    start();
    acker_ = std::thread([this] {
        while (!stop_) {
            std::this_thread::sleep_for(20ms);
            if (!acking) continue;
            const auto upto = contiguous_upto();
            if (upto > acked_ || upto == 0) {
                if (upto == 0) continue;
                srv_ack a;
                a.ts =
                    std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
                a.upto_seq = upto;
                if (session_->publish("eqm/v1/city/" + std::string(city) + "/srv/ack",
                                      to_json_text(a), 1, false))
                    acked_ = upto;
            }
        }
    });
}

server_probe::~server_probe() {
    stop_ = true;
    if (acker_.joinable()) acker_.join();
    session_.reset();  // no callback may run into this half-destroyed object
}

void server_probe::on_receive(const std::string& topic, const std::string& payload) {
    if (topic.find("/gw/events") == std::string::npos) return;
    auto batch = parse_gw_events(payload);
    std::lock_guard lock(mutex_);
    if (!batch) {
        ++bad_batches_;
        return;
    }
    for (auto& e : batch->events) events_.push_back(e);
    if (auto j = json::parse(payload, nullptr, false); j.contains("skipped"))
        for (const auto& r : j["skipped"])
            skipped_.emplace_back(r[0].get<std::uint64_t>(), r[1].get<std::uint64_t>());
}

std::vector<gw_event> server_probe::events() const {
    std::lock_guard lock(mutex_);
    return events_;
}

std::map<std::uint64_t, gw_event> server_probe::by_seq() const {
    std::lock_guard lock(mutex_);
    std::map<std::uint64_t, gw_event> out;
    for (const auto& e : events_) out.emplace(e.seq, e);
    return out;
}

std::uint64_t server_probe::contiguous_upto() const {
    std::lock_guard lock(mutex_);
    std::set<std::uint64_t> seqs;
    for (const auto& e : events_) seqs.insert(e.seq);
    std::uint64_t upto = 0;
    while (true) {
        const std::uint64_t next = upto + 1;
        if (seqs.contains(next)) {
            upto = next;
            continue;
        }
        bool skipped = false;
        for (const auto& [from, to] : skipped_)
            if (next >= from && next <= to) {
                upto = to;
                skipped = true;
                break;
            }
        if (!skipped) break;
    }
    return upto;
}

std::optional<std::string> server_probe::wait_command(const std::string& cmd_id,
                                                      std::chrono::milliseconds timeout) {
    std::optional<std::string> result;
    test::wait_until(
        [&] {
            for (const auto& e : events()) {
                if (const auto* c = std::get_if<command_result_body>(&e.body);
                    c && c->cmd_id == cmd_id) {
                    result = to_string(c->result);
                    return true;
                }
            }
            return false;
        },
        timeout);
    return result;
}

// ---------------------------------------------------------------------------------------------

telemetry_flood::telemetry_flood(const std::string& uri, int devices) {
    mqtt::session_options o;
    o.server_uri = uri;
    o.client_id = "test-flood";
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    if (!s) throw std::runtime_error("flood: " + s.error().describe());
    session_ = std::move(*s);
    session_->start();
    if (!session_->wait_connected(wait_timeout)) throw std::runtime_error("flood: no connection");
    thread_ = std::thread([this, devices] {
        std::uint64_t n = 0;
        while (!stop_) {
            const std::string device = "flood-" + std::to_string(n % devices);
            const std::string payload = R"({"ts":")" + now_ts() + R"(","seq":)" +
                                        std::to_string(n / devices + 1) +
                                        R"(,"battery_pct":50,"storage_free_mb":1000,"temp_c":25})";
            if (session_->publish("eqm/v1/dev/" + device + "/telemetry", payload, 0, false)) {
                ++n;
                sent_ = n;
            } else {
                std::this_thread::sleep_for(1ms);  // Paho's buffer is full: let it drain
            }
        }
    });
}

telemetry_flood::~telemetry_flood() {
    stop();
    session_.reset();
}

void telemetry_flood::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

// ---------------------------------------------------------------------------------------------

city_fixture::city_fixture(gateway_options options) : options_(std::move(options)) {
    local_ = std::make_unique<test::mosquitto_broker>();
    central_ = std::make_unique<test::mosquitto_broker>();
    db_ = (options_.db_dir.empty() ? dir_.path() : options_.db_dir) / "city.db";
    dock_ = std::make_unique<mqtt_probe>(
        local_->uri(), "test-dock",
        std::vector<mqtt::subscription>{{"eqm/v1/ack/#", 1}, {"eqm/v1/dev/+/cmd", 1}});
    dock_->start();
    server_ = std::make_unique<server_probe>(central_->uri());
    start_gateway();
    if (!wait_ready()) throw std::runtime_error("gateway not ready:\n" + log());
}

city_fixture::~city_fixture() {
    if (gateway_) gateway_->stop(2000ms);
    // For debugging a failure: EQM_GATEWAY_TEST_LOG=FILE keeps the last gateway log.
    if (const char* keep = std::getenv("EQM_GATEWAY_TEST_LOG")) {
        std::error_code ec;
        std::filesystem::copy_file(log_, keep, std::filesystem::copy_options::overwrite_existing,
                                   ec);
        std::filesystem::copy_file(db_, std::string(keep) + ".db",
                                   std::filesystem::copy_options::overwrite_existing, ec);
    }
}

void city_fixture::start_gateway() {
    http_port_ = test::free_port();
    log_ = dir_ / ("gateway." + std::to_string(++starts_) + ".log");
    test::process_options p;
    p.argv = {EQM_GATEWAY_BIN,
              "--city",
              city,
              "--local-mqtt",
              local_->uri(),
              "--central-mqtt",
              central_->uri(),
              "--db",
              db_.string(),
              "--listen",
              "127.0.0.1:" + std::to_string(http_port_)};
    for (const auto& a : options_.extra_args) p.argv.push_back(a);
    p.stderr_path = log_;
    p.stdout_path = log_;
    gateway_ = std::make_unique<test::child_process>(p);
}

void city_fixture::kill_gateway() {
    gateway_->signal(SIGKILL);
    gateway_->wait_for_exit(5000ms);
}

void city_fixture::stop_gateway() {
    gateway_->stop(5000ms);
}

bool city_fixture::wait_ready(std::chrono::milliseconds timeout) {
    return test::wait_until(
        [&] {
            auto r = http_call(http_port_, "GET", "/healthz");
            if (r.status != 200) return false;
            auto j = r.as_json();
            return j.value("local_mqtt", false) && j.value("central_mqtt", false);
        },
        timeout, 50ms);
}

std::string city_fixture::command(const json& cmd_in) {
    json cmd = cmd_in;
    if (!cmd.contains("cmd_id")) cmd["cmd_id"] = "cmd-" + std::to_string(++cmd_counter_);
    if (!cmd.contains("ts")) cmd["ts"] = now_ts();
    server_->publish("eqm/v1/city/" + std::string(city) + "/srv/cmd", cmd.dump());
    auto r = server_->wait_command(cmd["cmd_id"].get<std::string>());
    if (!r) throw std::runtime_error("no command_result for " + cmd.dump() + "\n" + log());
    return *r;
}

std::optional<std::string> city_fixture::command_detail(const std::string& cmd_id) const {
    for (const auto& e : server_->events())
        if (const auto* c = std::get_if<command_result_body>(&e.body); c && c->cmd_id == cmd_id)
            return c->detail;
    return std::nullopt;
}

void city_fixture::register_fleet(const json& devices, const json& people) {
    const auto r = command({{"type", "registry_upsert"}, {"devices", devices}, {"people", people}});
    if (r != "ok") throw std::runtime_error("registry_upsert: " + r);
}

http_reply city_fixture::login(const std::string& name, const std::string& password) {
    return http_call(http_port_, "POST", "/api/v1/auth/login",
                     json{{"name", name}, {"password", password}}.dump());
}

const std::string& city_fixture::token() {
    if (!token_.empty()) return token_;
    const auto r = command({{"type", "registry_upsert"},
                            {"devices", json::array()},
                            {"people", json::array({kiosk_custodian()})}});
    if (r != "ok") throw std::runtime_error("registering the kiosk custodian: " + r);
    const auto reply = login("kiosk-cust", "kiosk-password");
    if (reply.status != 200) throw std::runtime_error("kiosk login: " + reply.body + "\n" + log());
    token_ = reply.as_json()["token"].get<std::string>();
    return token_;
}

http_reply city_fixture::get(const std::string& path) {
    return http_call(http_port_, "GET", path, "", {{"Authorization", "Bearer " + token()}});
}

http_reply city_fixture::post(const std::string& path, const std::string& body) {
    return http_call(http_port_, "POST", path, body, {{"Authorization", "Bearer " + token()}});
}

void city_fixture::telemetry(const std::string& device_id, double battery, const json& extra) {
    static int seq = 0;
    json t{{"ts", now_ts()},
           {"seq", ++seq},
           {"battery_pct", battery},
           {"storage_free_mb", 1000},
           {"temp_c", 25}};
    for (const auto& [k, v] : extra.items()) t[k] = v;
    dock_->publish("eqm/v1/dev/" + device_id + "/telemetry", t.dump(), 0);
    test::wait_until(
        [&] {
            auto r = get("/api/v1/devices/" + device_id);
            if (r.status != 200) return false;
            auto j = r.as_json();
            return j.contains("battery_pct") && j["battery_pct"].get<double>() == battery;
        },
        wait_timeout, 20ms);
}

void city_fixture::publish_dock(const std::string& dock_id, const std::string& payload) {
    dock_->publish("eqm/v1/dock/" + dock_id + "/event", payload, 1);
}

std::string city_fixture::dock_event(const std::string& event_id, const std::string& type,
                                     const std::string& device_id, std::optional<std::string> badge,
                                     const std::string& dock_id) {
    json ev{{"event_id", event_id},
            {"ts", now_ts()},
            {"type", type},
            {"slot", 3},
            {"device_id", device_id}};
    if (badge) ev["badge"] = *badge;
    const int before = ack_count(dock_id, event_id);
    publish_dock(dock_id, ev.dump());
    std::optional<std::string> result;
    test::wait_until(
        [&] {
            if (ack_count(dock_id, event_id) <= before) return false;
            result = ack_result(dock_id, event_id);
            return true;
        },
        wait_timeout);
    if (!result) throw std::runtime_error("no ack for " + event_id + "\n" + log());
    return *result;
}

std::optional<std::string> city_fixture::ack_result(const std::string& dock_id,
                                                    const std::string& event_id) const {
    std::optional<std::string> out;
    for (const auto& [topic, payload] : dock_->received()) {
        if (topic != "eqm/v1/ack/" + dock_id) continue;
        auto a = parse_ack(payload);
        if (!a) continue;
        auto it = a->results.find(event_id);
        if (it != a->results.end()) out = to_string(it->second);
    }
    return out;
}

std::optional<std::string> city_fixture::wait_ack(const std::string& dock_id,
                                                  const std::string& event_id,
                                                  std::chrono::milliseconds timeout) {
    std::optional<std::string> r;
    test::wait_until([&] { return (r = ack_result(dock_id, event_id)).has_value(); }, timeout);
    return r;
}

int city_fixture::ack_count(const std::string& dock_id, const std::string& event_id) const {
    int n = 0;
    for (const auto& [topic, payload] : dock_->received()) {
        if (topic != "eqm/v1/ack/" + dock_id) continue;
        auto a = parse_ack(payload);
        if (a && a->results.contains(event_id)) ++n;
    }
    return n;
}

double city_fixture::metric(const std::string& name, const std::string& labels) {
    auto r = http_call(http_port_, "GET", "/metrics");
    std::istringstream in(r.body);
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind(name, 0) != 0) continue;
        const auto rest = line.substr(name.size());
        if (!rest.empty() && rest[0] != ' ' && rest[0] != '{') continue;
        if (!labels.empty() && rest.find(labels) == std::string::npos) continue;
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
}

std::int64_t city_fixture::db_count(const std::string& sql) {
    store::database_options o;
    o.create = false;
    auto db = store::database::open(db_, o);
    if (!db) throw std::runtime_error("open db: " + db.error().describe());
    auto s = db->prepare(sql);
    if (!s) throw std::runtime_error("prepare: " + s.error().describe());
    auto row = s->step();
    if (!row || !*row) throw std::runtime_error("no row for " + sql);
    return s->column_int64(0);
}

json device(const std::string& id, const std::string& cls, const json& extra) {
    json d{{"id", id}, {"class", cls}, {"model", "M-1"}, {"city", city}};
    for (const auto& [k, v] : extra.items()) d[k] = v;
    return d;
}

json person(const std::string& id, const std::string& badge, const std::string& home,
            const std::string& role) {
    return json{
        {"id", id}, {"name", "Officer " + id}, {"role", role}, {"city", home}, {"badge", badge}};
}

}  // namespace eqm::gwtest
