#pragma once
/// The CSV bulk import of devices: header `id,class,model,city[,serial,analyte,calibration_due,
/// registration_id,flight_hours,battery_cycles,retired]`, one device per line, RFC 4180 quoting.
/// Parsing checks every row and reports every bad one; the caller imports all or nothing.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/payloads.hpp"

namespace eqm::server {

/// A row that parsed: its line number (the header is line 1) and the device.
struct csv_device_row {
    std::size_t line = 0;
    device_record record;
};

/// A row that did not: the line, the device id when known, the field and why.
struct csv_row_error {
    std::size_t line = 0;
    std::string id;
    std::string field;
    std::string message;
};

struct csv_import_result {
    std::vector<csv_device_row> rows;
    std::vector<csv_row_error> errors;
};

/// Parses a whole CSV file. Duplicate ids within the file are errors; ids already in the
/// registry are the caller's to check.
csv_import_result parse_device_csv(std::string_view text);

}  // namespace eqm::server
