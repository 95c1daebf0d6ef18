#include "core_harness.hpp"

#include <stdexcept>

#include "eqm/store/database.hpp"

namespace eqm::gwtest {

core_fixture::core_fixture() {
    config.city = "450100";
    config.gw_id = "gw-450100";
    config.db_path = (dir / "city.db").string();
    config.local.uri = "tcp://127.0.0.1:1";
    config.central.uri = "tcp://127.0.0.1:1";
}

core_fixture::~core_fixture() {
    stop();
}

gateway::gateway_clock clocks_of(const test::manual_clock& wall, const test::manual_clock& ticks) {
    gateway::gateway_clock c;
    c.now = wall.fn();
    c.ticks = [t = ticks.fn()] { return gateway::steady_time{} + t().time_since_epoch(); };
    return c;
}

void core_fixture::create_schema() {
    auto opened = gateway::gateway_core::open(config, clocks_of(wall, ticks));
    if (!opened) throw std::runtime_error("open: " + opened.error().describe());
}

void core_fixture::start() {
    open();
    run_loop();
}

void core_fixture::open() {
    auto opened = gateway::gateway_core::open(config, clocks_of(wall, ticks));
    if (!opened) throw std::runtime_error("open: " + opened.error().describe());
    core = std::move(*opened);
}

void core_fixture::run_loop() {
    loop_ = std::thread([c = core.get()] { c->run(); });
}

void core_fixture::stop() {
    if (!core) return;
    core->stop();
    if (loop_.joinable()) loop_.join();
    core.reset();
}

void core_fixture::exec(const std::string& sql) {
    store::database_options o;
    o.create = false;
    auto db = store::database::open(config.db_path, o);
    if (!db) throw std::runtime_error("open db: " + db.error().describe());
    if (auto r = db->execute(sql); !r) throw std::runtime_error(r.error().describe());
}

std::int64_t core_fixture::count(const std::string& sql) {
    store::database_options o;
    o.create = false;
    auto db = store::database::open(config.db_path, o);
    if (!db) throw std::runtime_error("open db: " + db.error().describe());
    auto s = db->prepare(sql);
    if (!s) throw std::runtime_error("prepare: " + s.error().describe());
    auto row = s->step();
    if (!row || !*row) throw std::runtime_error("no row for " + sql);
    return s->column_int64(0);
}

}  // namespace eqm::gwtest
