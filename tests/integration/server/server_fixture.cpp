// Shared pieces of the eqm-server integration tests (see server_fixture.hpp).
#include "server_fixture.hpp"

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <regex>

namespace eqm::server_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

clock_ms now_ms() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}
std::string now_ts() {
    return format_timestamp(now_ms());
}

std::string server_bin() {
    if (const char* b = std::getenv("EQM_TEST_SERVER_BIN"); b && *b) return b;
    return EQM_SERVER_BIN;
}

namespace {
/// Appends one exchange to this process's record (see api_client).
void record_exchange(std::string_view method, const std::string& target, unsigned status,
                     const std::string& content_type, const std::string& body) {
    static std::mutex mutex;
    static const fs::path file = [] {
        fs::create_directories(EQM_EXCHANGES_DIR);
        return fs::path(EQM_EXCHANGES_DIR) / ("exchanges-" + std::to_string(::getpid()) + ".jsonl");
    }();
    json line{{"method", method},
              {"target", target},
              {"status", status},
              {"content_type", content_type},
              {"body", body}};
    std::lock_guard lock(mutex);
    std::ofstream out(file, std::ios::app);
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}
}  // namespace

int add_user(const fs::path& db, const std::string& name, const std::string& role,
             const std::string& city, const std::string& badge, const std::string& password) {
    std::string cmd = "printf '%s\\n' " + shell_quote(password) + " | " +
                      shell_quote(server_bin()) + " user add --db " + shell_quote(db.string()) +
                      " --name " + shell_quote(name) + " --role " + shell_quote(role);
    if (!city.empty()) cmd += " --city " + shell_quote(city);
    if (!badge.empty()) cmd += " --badge " + shell_quote(badge);
    cmd += " >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// --- server_process ------------------------------------------------------------------------

server_process::server_process(std::string broker_uri, fs::path db, fs::path log,
                               std::vector<std::string> extra_args)
    : broker_uri_(std::move(broker_uri)),
      db_(std::move(db)),
      log_(std::move(log)),
      extra_args_(std::move(extra_args)) {
    start();
}

server_process::~server_process() {
    stop();
}

void server_process::start() {
    if (process_) return;
    ++starts_;
    const auto log =
        log_.parent_path() / (log_.stem().string() + "." + std::to_string(starts_) + ".log");
    test::process_options o;
    o.argv = {server_bin(), "--listen",   "127.0.0.1:0",      "--mqtt",       broker_uri_,
              "--db",       db_.string(), "--mqtt-client-id", "eqm-server-it"};
    for (const auto& a : extra_args_) o.argv.push_back(a);
    o.stdout_path = log;
    process_ = std::make_unique<test::child_process>(o);
    const bool up = test::wait_for_log_line(log, "listening on http://127.0.0.1:", 15s);
    INFO(test::read_file(log));
    REQUIRE(up);
    std::smatch m;
    const auto text = test::read_file(log);
    static const std::regex port_re("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    REQUIRE(std::regex_search(text, m, port_re));
    port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
    log_ = log;
    // HTTP comes up before the MQTT session has subscribed; a gateway batch published in
    // between is not for this server's session yet (a real gateway resends it, a test does not).
    REQUIRE(test::wait_for_log_line(log, "connected to", 15s));
}

void server_process::stop() {
    if (!process_) return;
    process_->stop(5s);
    process_.reset();
}

void server_process::kill() {
    if (!process_) return;
    process_->signal(SIGKILL);
    (void)process_->wait_for_exit(5s);
    process_.reset();
}

// --- api_client ----------------------------------------------------------------------------

api_client::api_client(std::uint16_t port, std::string token)
    : conn_(client::server_url{"127.0.0.1", std::to_string(port)}), token_(std::move(token)) {}

api_reply api_client::call(std::string_view method, const std::string& target,
                           const std::string& body, const std::string& content_type) {
    client::header_fields h;
    if (!token_.empty()) h.emplace_back("Authorization", "Bearer " + token_);
    if (!content_type.empty()) h.emplace_back("Content-Type", content_type);
    auto r = conn_.call(method, target, body, h);
    INFO(std::string(method) << " " << target);
    REQUIRE(r.has_value());
    record_exchange(method, target, r->status, r->content_type, r->body);
    api_reply out;
    out.status = r->status;
    out.content_type = r->content_type;
    out.text = r->body;
    out.body = json::parse(r->body, nullptr, false);
    if (out.body.is_discarded()) out.body = nullptr;
    return out;
}

json all_items(api_client& c, const std::string& target) {
    json items = json::array();
    std::string next = target;
    for (int pages = 0; pages < 10000; ++pages) {
        auto r = c.get(next);
        INFO(next << " -> " << r.text);
        REQUIRE(r.status == 200);
        REQUIRE(r.body["items"].is_array());
        for (auto& i : r.body["items"]) items.push_back(i);
        if (r.body["next_cursor"].is_null()) return items;
        next = target + (target.find('?') == std::string::npos ? "?" : "&") +
               "cursor=" + r.body["next_cursor"].get<std::string>();
    }
    FAIL("more than 10000 pages");
    return items;
}

std::string login(std::uint16_t port, const std::string& name, const std::string& password) {
    api_client c(port);
    auto r = c.post("/api/v1/auth/login", json{{"name", name}, {"password", password}});
    INFO(r.text);
    REQUIRE(r.status == 200);
    return r.body.at("token").get<std::string>();
}

json device(api_client& c, const std::string& id) {
    auto r = c.get("/api/v1/devices/" + id);
    if (r.status != 200) return nullptr;
    return r.body;
}

// --- ws_listener ---------------------------------------------------------------------------

struct ws_listener::impl {
    asio::io_context io;
    beast::websocket::stream<tcp::socket> ws{io};
    std::thread reader;
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::vector<json> messages;
    bool closed = false;
    std::optional<std::pair<std::uint16_t, std::string>> close;
};

ws_listener::ws_listener(std::uint16_t port, const std::string& target)
    : impl_(std::make_unique<impl>()) {
    tcp::resolver resolver(impl_->io);
    asio::connect(impl_->ws.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    impl_->ws.handshake("127.0.0.1:" + std::to_string(port), target);
    impl_->reader = std::thread([s = impl_.get()] {
        for (;;) {
            beast::flat_buffer buf;
            boost::system::error_code ec;
            s->ws.read(buf, ec);
            if (ec) {
                std::lock_guard lock(s->mutex);
                if (ec == beast::websocket::error::closed)
                    s->close = std::pair<std::uint16_t, std::string>{
                        s->ws.reason().code, std::string(s->ws.reason().reason.c_str())};
                s->closed = true;
                s->changed.notify_all();
                return;
            }
            auto j = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
            std::lock_guard lock(s->mutex);
            s->messages.push_back(std::move(j));
            s->changed.notify_all();
        }
    });
}

ws_listener::~ws_listener() {
    boost::system::error_code ec;
    impl_->ws.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    if (impl_->reader.joinable()) impl_->reader.join();
}

bool ws_listener::wait_for(const std::function<bool(const json&)>& pred,
                           std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    return impl_->changed.wait_for(lock, timeout, [&] {
        for (const auto& m : impl_->messages)
            if (pred(m)) return true;
        return false;
    });
}

bool ws_listener::wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    return impl_->changed.wait_for(lock, timeout, [&] { return impl_->closed; });
}

std::optional<std::pair<std::uint16_t, std::string>> ws_listener::close_frame() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->close;
}

std::vector<json> ws_listener::messages() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->messages;
}

// --- fake_gateway --------------------------------------------------------------------------

fake_gateway::fake_gateway(std::string broker_uri, std::string city, std::string gw_id,
                           std::uint64_t bd_seq)
    : broker_uri_(std::move(broker_uri)),
      city_(std::move(city)),
      gw_id_(std::move(gw_id)),
      bd_seq_(bd_seq) {
    worker_ = std::thread([this] { work(); });
}

fake_gateway::~fake_gateway() {
    {
        // Under the lock, or the worker may test the flag, miss this notify and sleep forever.
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
    session_.reset();
}

void fake_gateway::connect() {
    mqtt::session_options o;
    o.server_uri = broker_uri_;
    o.client_id = "fake-" + gw_id_ + "-" + std::to_string(bd_seq_);
    o.subscriptions = {{"eqm/v1/city/" + city_ + "/srv/ack", 1},
                       {"eqm/v1/city/" + city_ + "/srv/cmd", 1}};
    const auto state_topic = "eqm/v1/city/" + city_ + "/gw/state";
    o.will = mqtt::outgoing_message{
        state_topic, to_json_text(gw_state{now_ms(), false, bd_seq_, {}, {}}), 1, true};
    o.make_birth = [this, state_topic]() -> std::optional<mqtt::outgoing_message> {
        return mqtt::outgoing_message{
            state_topic, to_json_text(gw_state{now_ms(), true, bd_seq_, gw_id_, version_}), 1,
            true};
    };
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    REQUIRE(s.has_value());
    session_ = std::move(*s);
    session_->on_message(
        [this](std::string topic, std::string payload) { on_message(topic, payload); });
    session_->start();
    REQUIRE(session_->wait_connected(quick));
}

void fake_gateway::disconnect() {
    session_.reset();
}

void fake_gateway::publish_will(std::uint64_t bd_seq) {
    mqtt::session_options o;
    o.server_uri = broker_uri_;
    o.client_id = "fake-will-" + gw_id_;
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    REQUIRE(s.has_value());
    (*s)->start();
    REQUIRE((*s)->wait_connected(quick));
    std::promise<void> done;
    auto r = (*s)->publish("eqm/v1/city/" + city_ + "/gw/state",
                           to_json_text(gw_state{now_ms(), false, bd_seq, {}, {}}), 1, true,
                           [&done](result<void>) { done.set_value(); });
    REQUIRE(r.has_value());
    REQUIRE(done.get_future().wait_for(quick) == std::future_status::ready);
}

void fake_gateway::set_responder(responder r) {
    std::lock_guard lock(mutex_);
    responder_ = std::move(r);
}

void fake_gateway::on_message(const std::string& topic, const std::string& payload) {
    std::lock_guard lock(mutex_);
    if (topic.ends_with("/srv/ack")) {
        if (auto a = parse_srv_ack(payload)) acks_.push_back(*a);
    } else if (auto c = parse_srv_cmd(payload)) {
        cmds_.push_back(*c);
        to_answer_.push_back(*c);
    }
    changed_.notify_all();
}

void fake_gateway::work() {
    for (;;) {
        srv_cmd cmd;
        responder r;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock,
                          [this] { return stopping_ || (!to_answer_.empty() && responder_); });
            if (stopping_) return;
            cmd = to_answer_.front();
            to_answer_.pop_front();
            r = responder_;
        }
        auto bodies = r(*this, cmd);
        if (!bodies.empty()) send(std::move(bodies));
    }
}

custody_record fake_gateway::next_custody(const std::string& device_id, custody_action action,
                                          custody_state from, custody_state to,
                                          std::optional<std::string> holder,
                                          std::optional<std::string> request_id,
                                          std::optional<std::string> transfer_id) {
    custody_record r;
    r.device_id = device_id;
    r.action = action;
    r.from_state = from;
    r.to_state = to;
    r.holder = std::move(holder);
    r.actor = "dock";
    r.source = request_id ? custody_source::server : custody_source::dock;
    r.ts = now_ms();
    r.request_id = std::move(request_id);
    r.transfer_id = std::move(transfer_id);
    return seal_custody(std::move(r));
}

custody_record fake_gateway::seal_custody(custody_record draft) {
    std::lock_guard lock(publish_mutex_);
    auto sealed = seal(std::move(draft), head_hash_, next_index_);
    head_hash_ = sealed.hash;
    ++next_index_;
    return sealed;
}

gw_event fake_gateway::make_event(gw_event_body body) {
    std::lock_guard lock(publish_mutex_);
    gw_event e;
    e.seq = next_seq_++;
    e.msg_id = gw_id_ + "-" + std::to_string(e.seq);
    e.ts = now_ms();
    e.body = std::move(body);
    return e;
}

void fake_gateway::publish(const std::vector<gw_event>& events,
                           const std::vector<std::pair<std::uint64_t, std::uint64_t>>& skipped) {
    gw_events b;
    b.ts = now_ms();
    b.gw_id = gw_id_;
    b.bd_seq = bd_seq_;
    b.events = events;
    auto j = to_json(b);
    if (!skipped.empty()) {
        json s = json::array();
        for (const auto& [from, to] : skipped) s.push_back(json::array({from, to}));
        j["skipped"] = s;
    }
    publish_raw(j.dump());
}

void fake_gateway::publish_raw(const std::string& text) {
    REQUIRE(session_);
    // Paho refuses a publish while too many are in flight: wait for room, as a gateway would.
    result<void> r;
    test::wait_until(
        [&] {
            r = session_->publish("eqm/v1/city/" + city_ + "/gw/events", text, 1, false);
            return r.has_value();
        },
        quick, 5ms);
    INFO((r ? std::string() : r.error().describe()));
    REQUIRE(r.has_value());
}

std::vector<gw_event> fake_gateway::send(std::vector<gw_event_body> bodies) {
    std::vector<gw_event> events;
    for (auto& b : bodies) events.push_back(make_event(std::move(b)));
    publish(events);
    return events;
}

std::optional<srv_ack> fake_gateway::wait_ack(const std::function<bool(const srv_ack&)>& pred,
                                              std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<srv_ack> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& a : acks_)
            if (pred(a)) {
                found = a;
                return true;
            }
        return false;
    });
    return found;
}

std::optional<srv_cmd> fake_gateway::wait_cmd(const std::function<bool(const srv_cmd&)>& pred,
                                              std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<srv_cmd> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& c : cmds_)
            if (pred(c)) {
                found = c;
                return true;
            }
        return false;
    });
    return found;
}

std::vector<srv_cmd> fake_gateway::commands() const {
    std::lock_guard lock(mutex_);
    return cmds_;
}

std::vector<srv_ack> fake_gateway::acks() const {
    std::lock_guard lock(mutex_);
    return acks_;
}

void fake_gateway::clear_received() {
    std::lock_guard lock(mutex_);
    acks_.clear();
    cmds_.clear();
}

std::vector<gw_event_body> accept_everything(fake_gateway& gw, const srv_cmd& cmd) {
    std::vector<gw_event_body> out;
    command_result_body result;
    result.cmd_id = cmd.cmd_id;
    result.type = cmd.type();
    result.result = outcome::ok();
    if (const auto* c = std::get_if<custody_request_cmd>(&cmd.body)) {
        // Who a badge belongs to comes from the registry the server pushed.
        std::optional<std::string> holder = c->badge;
        for (const auto& prior : gw.commands())
            if (const auto* reg = std::get_if<registry_upsert_cmd>(&prior.body))
                for (const auto& p : reg->people)
                    if (p.badge && c->badge && *p.badge == *c->badge) holder = p.id;
        const bool out_ = c->action == custody_action::checkout;
        auto rec = gw.next_custody(c->device_id, c->action,
                                   out_ ? custody_state::available : custody_state::checked_out,
                                   out_ ? custody_state::checked_out : custody_state::available,
                                   out_ ? holder : std::nullopt, cmd.cmd_id);
        result.record_index = rec.index;
        out.emplace_back(rec);
    }
    out.emplace_back(result);
    return out;
}

// --- region_fixture ------------------------------------------------------------------------

region_fixture::region_fixture(std::vector<std::string> server_args,
                               test::broker_options broker_options)
    : broker(std::move(broker_options)) {
    struct u {
        const char* name;
        const char* role;
        const char* city;
        const char* badge;
    };
    for (const auto& x : {u{"admin", "admin", "", ""}, u{"disp", "dispatcher", "", ""},
                          u{"cust-nn", "custodian", "450100", "B-CUST-NN"},
                          u{"cust-lz", "custodian", "450200", "B-CUST-LZ"},
                          u{"off-nn", "officer", "450100", "B-OFF-NN"}}) {
        REQUIRE(add_user(db(), x.name, x.role, x.city, x.badge, std::string(x.name) + "-pw") == 0);
    }
    server = std::make_unique<server_process>(broker.uri(), db(), dir.path() / "server.log",
                                              std::move(server_args));
    // The served OpenAPI document goes into the exchange record: it is what answers are
    // checked against.
    api_client anon(port());
    REQUIRE(anon.get("/api/v1/openapi.json").status == 200);
}

region_fixture::~region_fixture() {
    // A failed REQUIRE unwinds through here: the server's log is what explains it.
    if (std::uncaught_exceptions() > 0 && server)
        std::cerr << "--- eqm-server log (" << server->log().string() << ")\n"
                  << test::read_file(server->log()) << "--- end of eqm-server log\n";
}

api_client region_fixture::as(const std::string& name) {
    auto it = tokens.find(name);
    if (it == tokens.end()) it = tokens.emplace(name, login(port(), name, name + "-pw")).first;
    return api_client(port(), it->second);
}

void region_fixture::register_device(const std::string& id, const std::string& cls,
                                     const std::string& city) {
    auto admin = as("admin");
    auto r = admin.post("/api/v1/devices",
                        json{{"id", id}, {"class", cls}, {"model", "M-1"}, {"city", city}});
    INFO(r.text);
    REQUIRE(r.status == 201);
}

}  // namespace eqm::server_test
