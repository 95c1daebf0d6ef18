#include "eqm/device/outbox.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eqm/domain/try.hpp"

namespace eqm::device {
namespace {

std::string errno_text(const std::string& what, const std::filesystem::path& p) {
    return what + " " + p.string() + ": " + std::strerror(errno);
}

result<void> write_all(int fd, std::string_view data, const std::filesystem::path& p) {
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(errc::unavailable, "outbox", errno_text("write", p));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

/// fsync the directory so a rename survives power loss.
void sync_dir(const std::filesystem::path& dir) {
    const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string put_line(const outbox_entry& e) {
    return nlohmann::json{
               {"op", "put"}, {"event_id", e.event_id}, {"topic", e.topic}, {"payload", e.payload}}
               .dump() +
           "\n";
}

}  // namespace

bool is_final_result(std::string_view result_text) {
    static const std::string retry_later = "rejected:" + std::string(to_string(errc::unavailable));
    return result_text != retry_later;
}

outbox::outbox(std::filesystem::path path, outbox_options options)
    : path_(std::move(path)), options_(options) {}

outbox::~outbox() {
    if (fd_ >= 0) ::close(fd_);
}

result<std::unique_ptr<outbox>> outbox::open(const std::filesystem::path& file,
                                             outbox_options options) {
    std::unique_ptr<outbox> box(new outbox(file, options));
    EQM_TRY(box->replay());
    box->fd_ = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (box->fd_ < 0) return fail(errc::unavailable, "outbox", errno_text("open", file));
    return box;
}

result<void> outbox::replay() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return {};  // a new outbox
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();

    std::size_t pos = 0;
    std::size_t good_end = 0;  // offset just past the last whole, readable line
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        if (nl == std::string::npos) {
            // No newline: the write of this line was cut short by a crash.
            ++recovery_.torn_lines;
            break;
        }
        const std::string_view line(text.data() + pos, nl - pos);
        pos = nl + 1;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("op") || !j["op"].is_string() ||
            !j.contains("event_id") || !j["event_id"].is_string()) {
            ++recovery_.torn_lines;
            continue;  // a damaged record in the middle is skipped; the rest still counts
        }
        good_end = pos;
        ++recovery_.records;
        const std::string id = j["event_id"].get<std::string>();
        const std::string op = j["op"].get<std::string>();
        if (op == "put") {
            if (!j.contains("topic") || !j["topic"].is_string() || !j.contains("payload") ||
                !j["payload"].is_string()) {
                ++recovery_.torn_lines;
                continue;
            }
            if (pending_.contains(id)) continue;
            order_.push_back(id);
            pending_[id] =
                outbox_entry{id, j["topic"].get<std::string>(), j["payload"].get<std::string>()};
        } else if (op == "ack") {
            if (pending_.erase(id) > 0) std::erase(order_, id);
            ++acked_in_file_;
        }
    }
    if (good_end < text.size()) {
        recovery_.truncated_bytes = text.size() - good_end;
        std::error_code ec;
        std::filesystem::resize_file(path_, good_end, ec);
        if (ec)
            return fail(errc::unavailable, "outbox",
                        "truncate " + path_.string() + ": " + ec.message());
    }
    return {};
}

result<void> outbox::append_line(const std::string& line) {
    EQM_TRY(write_all(fd_, line, path_));
    if (options_.durable && ::fdatasync(fd_) != 0)
        return fail(errc::unavailable, "outbox", errno_text("fdatasync", path_));
    return {};
}

result<void> outbox::put(const outbox_entry& entry) {
    if (pending_.contains(entry.event_id)) return {};
    EQM_TRY(append_line(put_line(entry)));
    order_.push_back(entry.event_id);
    pending_[entry.event_id] = entry;
    return {};
}

result<bool> outbox::ack(std::string_view event_id, std::string_view result_text) {
    if (!is_final_result(result_text))
        return fail(errc::bad_field, "result",
                    std::string(result_text) + " is not a final answer: the event stays pending");
    const std::string id(event_id);
    if (!pending_.contains(id)) return false;
    const std::string line =
        nlohmann::json{{"op", "ack"}, {"event_id", id}, {"result", result_text}}.dump() + "\n";
    EQM_TRY(append_line(line));
    pending_.erase(id);
    std::erase(order_, id);
    ++acked_in_file_;
    EQM_TRY(maybe_compact());
    return true;
}

std::vector<outbox_entry> outbox::pending() const {
    std::vector<outbox_entry> out;
    out.reserve(order_.size());
    for (const auto& id : order_) out.push_back(pending_.at(id));
    return out;
}

bool outbox::is_pending(std::string_view event_id) const {
    return pending_.contains(std::string(event_id));
}

result<void> outbox::maybe_compact() {
    if (acked_in_file_ >= options_.compact_after_acked && acked_in_file_ > order_.size())
        return compact();
    return {};
}

result<void> outbox::compact() {
    auto tmp = path_;
    tmp += ".tmp";
    const int tfd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (tfd < 0) return fail(errc::unavailable, "outbox", errno_text("open", tmp));
    std::string all;
    for (const auto& id : order_) all += put_line(pending_.at(id));
    auto w = write_all(tfd, all, tmp);
    if (w && ::fsync(tfd) != 0) w = fail(errc::unavailable, "outbox", errno_text("fsync", tmp));
    ::close(tfd);
    if (!w) return w;
    if (::rename(tmp.c_str(), path_.c_str()) != 0)
        return fail(errc::unavailable, "outbox", errno_text("rename", tmp));
    sync_dir(path_.parent_path());
    const int nfd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (nfd < 0) return fail(errc::unavailable, "outbox", errno_text("open", path_));
    ::close(fd_);
    fd_ = nfd;
    acked_in_file_ = 0;
    return {};
}

}  // namespace eqm::device
