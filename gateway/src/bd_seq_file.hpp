#pragma once
/// The durable copy of the gateway's birth sequence (bd_seq): a small file next to the ledger
/// (`<db>-bd_seq`), replaced atomically and fsynced before every central CONNECT, so that no
/// crash or power cut can make a later start reuse a value (see docs/gateway.md, Liveness).
#include <cstdint>
#include <string>

#include "eqm/domain/error.hpp"

namespace eqm::gateway {

/// The value in the file: 0 when it does not exist or holds no number.
std::uint64_t read_bd_seq_file(const std::string& path);

/// Replaces the file durably: a temp file written and fsynced, renamed over the old one, and
/// the folder fsynced so the rename itself survives a power cut.
result<void> write_bd_seq_file(const std::string& path, std::uint64_t value);

}  // namespace eqm::gateway
