#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iterator>
#include <system_error>

#include "internal.hpp"

namespace eqm::http::detail {
namespace {

// Dashboards and the kiosk page are small bundles; anything larger is not ours to serve.
constexpr std::uintmax_t max_static_file_bytes = std::uintmax_t{64} << 20;

constexpr std::array<std::pair<std::string_view, std::string_view>, 20> content_types{{
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".csv", "text/csv; charset=utf-8"},
    {".wasm", "application/wasm"},
}};

// A segment we refuse outright: traversal, the current directory, hidden files, and anything
// that would smuggle a separator or NUL into the file name.
bool refused_segment(const std::string& seg) {
    return seg.empty() || seg.front() == '.' || seg.find_first_of("/\\") != std::string::npos ||
           seg.find('\0') != std::string::npos;
}

bool is_within(const std::filesystem::path& root, const std::filesystem::path& p) {
    auto r = root.begin();
    auto q = p.begin();
    for (; r != root.end(); ++r, ++q) {
        if (r->empty()) continue;  // a trailing separator on the root
        if (q == p.end() || *r != *q) return false;
    }
    return true;
}

}  // namespace

std::string_view content_type_for(const std::filesystem::path& file) {
    const std::string ext = file.extension().string();
    for (const auto& [e, type] : content_types) {
        if (ext.size() == e.size() &&
            std::equal(ext.begin(), ext.end(), e.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == b;
            })) {
            return type;
        }
    }
    return "application/octet-stream";
}

std::optional<response> load_static(const static_mount& mount,
                                    const std::vector<std::string>& rest) {
    std::error_code ec;
    const auto root = std::filesystem::canonical(mount.root, ec);
    if (ec) return std::nullopt;

    std::filesystem::path candidate = root;
    for (const auto& seg : rest) {
        if (refused_segment(seg)) return std::nullopt;
        candidate /= seg;
    }
    if (std::filesystem::is_directory(candidate, ec)) candidate /= "index.html";

    // Symlinks inside the root may point anywhere; the resolved file must still be under root.
    const auto resolved = std::filesystem::canonical(candidate, ec);
    if (ec || !is_within(root, resolved) || !std::filesystem::is_regular_file(resolved, ec)) {
        return std::nullopt;
    }
    const auto size = std::filesystem::file_size(resolved, ec);
    if (ec || size > max_static_file_bytes) return std::nullopt;

    std::ifstream in(resolved, std::ios::binary);
    if (!in) return std::nullopt;
    std::string body(static_cast<std::size_t>(size), '\0');
    in.read(body.data(), static_cast<std::streamsize>(size));
    body.resize(static_cast<std::size_t>(in.gcount()));

    response r;
    r.status = 200;
    r.content_type = std::string{content_type_for(resolved)};
    r.body = std::move(body);
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
}

}  // namespace eqm::http::detail
