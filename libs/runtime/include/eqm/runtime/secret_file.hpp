#pragma once
/// Secrets (broker passwords) are passed as files, never on the command line where `ps` shows
/// them. One reader for every program, so a password file means the same everywhere.
#include <string>
#include <string_view>

#include "eqm/domain/error.hpp"

namespace eqm {

/// The first line of the file at `path`, without its line ending and without trailing spaces
/// or tabs (an editor's or `echo`'s additions are not part of a password). errc::bad_field on
/// `field` when the file cannot be read or its first line is empty.
result<std::string> read_secret_file(const std::string& path, std::string_view field);

}  // namespace eqm
