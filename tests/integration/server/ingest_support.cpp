// Shared pieces of the ingest tests (see ingest_support.hpp).
#include "ingest_support.hpp"

#include <catch2/catch.hpp>
#include <sstream>

#include "eqm/store/database.hpp"

namespace eqm::server_test {

std::optional<double> metric(api_client& c, const std::string& name) {
    auto r = c.get("/metrics");
    std::istringstream in(r.text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
    return std::nullopt;
}

json items(const json& body) {
    REQUIRE(body.is_object());
    REQUIRE(body.contains("items"));
    return body["items"];
}

json city_entry(api_client& c, const std::string& city) {
    for (const auto& x : items(c.get("/api/v1/cities").body))
        if (x["code"] == city) return x;
    return nullptr;
}

namespace {

store::database open_db(const fs::path& db) {
    store::database_options o;
    o.create = false;
    auto d = store::database::open(db, o);
    INFO((d ? std::string() : d.error().describe()));
    REQUIRE(d.has_value());
    return std::move(*d);
}

}  // namespace

std::vector<dead_letter_row> dead_letters(const fs::path& db) {
    auto d = open_db(db);
    auto st = d.prepare(
        "SELECT kind, topic, reason, gw_id, from_seq, to_seq, occurrences, payload "
        "FROM dead_letters ORDER BY id");
    INFO((st ? std::string() : st.error().describe()));
    REQUIRE(st.has_value());
    std::vector<dead_letter_row> out;
    for (;;) {
        auto more = st->step();
        REQUIRE(more.has_value());
        if (!*more) break;
        out.push_back(dead_letter_row{st->column_text(0), st->column_text(1), st->column_text(2),
                                      st->column_optional_text(3), st->column_optional_int64(4),
                                      st->column_optional_int64(5), st->column_int64(6),
                                      st->column_text(7)});
    }
    return out;
}

std::vector<outbox_row> outbox_rows(const fs::path& db) {
    auto d = open_db(db);
    auto st = d.prepare("SELECT cmd_id, city, type, state, result FROM outbox ORDER BY rowid");
    REQUIRE(st.has_value());
    std::vector<outbox_row> out;
    for (;;) {
        auto more = st->step();
        REQUIRE(more.has_value());
        if (!*more) break;
        out.push_back(outbox_row{st->column_text(0), st->column_text(1), st->column_text(2),
                                 st->column_text(3), st->column_optional_text(4)});
    }
    return out;
}

void execute_sql(const fs::path& db, const std::string& sql) {
    auto d = open_db(db);
    auto r = d.execute(sql);
    INFO((r ? std::string() : r.error().describe()));
    REQUIRE(r.has_value());
}

// --- outbox_gateway ------------------------------------------------------------------------

outbox_gateway::outbox_gateway(std::string broker_uri, std::string city, std::string gw_id,
                               std::uint64_t count, body_fn body,
                               std::chrono::milliseconds retransmit, std::uint64_t window)
    : broker_uri_(std::move(broker_uri)),
      city_(std::move(city)),
      gw_id_(std::move(gw_id)),
      count_(count),
      body_(std::move(body)),
      retransmit_(retransmit),
      window_(window) {}

outbox_gateway::~outbox_gateway() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable()) worker_.join();
    session_.reset();
}

void outbox_gateway::start() {
    mqtt::session_options o;
    o.server_uri = broker_uri_;
    o.client_id = "outbox-" + gw_id_;
    o.subscriptions = {{"eqm/v1/city/" + city_ + "/srv/ack", 1}};
    const auto state_topic = "eqm/v1/city/" + city_ + "/gw/state";
    o.make_birth = [this, state_topic]() -> std::optional<mqtt::outgoing_message> {
        return mqtt::outgoing_message{
            state_topic, to_json_text(gw_state{now_ms(), true, 1, gw_id_, "0.1.0"}), 1, true};
    };
    o.log = [](std::string_view) {};
    auto s = mqtt::session::create(std::move(o));
    REQUIRE(s.has_value());
    session_ = std::move(*s);
    session_->on_message(
        [this](std::string topic, std::string payload) { on_message(topic, payload); });
    session_->start();
}

bool outbox_gateway::wait_connected() {
    return session_->wait_connected(quick);
}

void outbox_gateway::produce() {
    {
        std::lock_guard lock(mutex_);
        last_progress_ = std::chrono::steady_clock::now();
    }
    worker_ = std::thread([this] { work(); });
}

void outbox_gateway::on_message(const std::string&, const std::string& payload) {
    auto a = parse_srv_ack(payload);
    if (!a) return;
    std::lock_guard lock(mutex_);
    if (a->upto_seq > acked_) {
        acked_ = std::min(a->upto_seq, count_);
        last_progress_ = std::chrono::steady_clock::now();
        if (next_ <= acked_) next_ = acked_ + 1;
    }
    if (a->resend_from && *a->resend_from > acked_ && *a->resend_from < next_)
        resend_from_ = *a->resend_from;
    changed_.notify_all();
}

void outbox_gateway::work() {
    const auto topic = "eqm/v1/city/" + city_ + "/gw/events";
    for (;;) {
        std::uint64_t seq = 0;
        {
            std::unique_lock lock(mutex_);
            changed_.wait_for(lock, std::chrono::milliseconds{20}, [&] {
                return stopping_.load() || resend_from_ ||
                       (next_ <= count_ && next_ - 1 - acked_ < window_);
            });
            if (stopping_) return;
            if (resend_from_) {
                next_ = *resend_from_;
                resend_from_.reset();
            }
            const auto now = std::chrono::steady_clock::now();
            if (acked_ < count_ && next_ - 1 > acked_ && now - last_progress_ > retransmit_) {
                next_ = acked_ + 1;  // no ack for too long: start again from the first unacked
                last_progress_ = now;
            }
            if (next_ > count_ || next_ - 1 - acked_ >= window_) continue;
            seq = next_++;
        }
        gw_events b;
        b.ts = now_ms();
        b.gw_id = gw_id_;
        b.bd_seq = 1;
        b.events.push_back(gw_event{seq, gw_id_ + "-" + std::to_string(seq), b.ts, body_(seq)});
        if (!session_->publish(topic, to_json_text(b), 1, false)) {
            std::unique_lock lock(mutex_);
            next_ = std::min(next_, seq);  // not sent: the link is down, try again
            changed_.wait_for(lock, std::chrono::milliseconds{50},
                              [&] { return stopping_.load(); });
            continue;
        }
        ++published_;
    }
}

}  // namespace eqm::server_test
