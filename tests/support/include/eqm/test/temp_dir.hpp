#pragma once
/// A scratch directory under /tmp that exists exactly as long as the object does.
#include <filesystem>
#include <string_view>

namespace eqm::test {

/// RAII temporary directory (mkdtemp under /tmp, mode 0700). The destructor removes it
/// and everything in it, ignoring errors, so a failing test still cleans up.
class temp_dir {
  public:
    /// Creates /tmp/<prefix>-XXXXXX. Throws std::runtime_error when mkdtemp fails.
    explicit temp_dir(std::string_view prefix = "eqm-test");
    ~temp_dir();

    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&& other) noexcept;

    /// The directory's absolute path.
    const std::filesystem::path& path() const noexcept { return path_; }

    /// Shorthand for path() / name.
    std::filesystem::path operator/(const std::filesystem::path& name) const {
        return path_ / name;
    }

  private:
    void remove() noexcept;

    std::filesystem::path path_;
};

}  // namespace eqm::test
