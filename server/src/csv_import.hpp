#pragma once
/// The CSV bulk import of devices: header `id,class,model,city[,serial,analyte,calibration_due,
/// registration_id,flight_hours,battery_cycles,retired]`, one device per line, RFC 4180 quoting.
/// Parsing checks every row and reports every bad one; the caller imports all or nothing.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "eqm/domain/error.hpp"
#include "eqm/domain/payloads.hpp"

namespace eqm::server {

/// A row that parsed: its line number (the header is line 1) and the device.
struct csv_device_row {
    std::size_t line = 0;
    device_record record;
};

/// A row that did not: the line, the device id when known, the field (the column's name, or
/// `row`, `header`, `body`), the column's position when it is about one cell (1-based; 0 when
/// not), and why.
struct csv_row_error {
    std::size_t line = 0;
    std::string id;
    std::string field;
    std::string message;
    std::size_t column = 0;
};

struct csv_import_result {
    std::vector<csv_device_row> rows;
    std::vector<csv_row_error> errors;
};

/// Parses a whole CSV file (UTF-8, see decode_upload). Every cell must be valid UTF-8: a cell
/// that is not is refused with its line and column. Duplicate ids within the file are errors;
/// ids already in the registry are the caller's to check.
csv_import_result parse_device_csv(std::string_view text);

/// One CSV record: the line it starts on (1-based) and its cells, as written (untrimmed).
struct csv_record {
    std::size_t line = 0;
    std::vector<std::string> cells;
};

/// Splits CSV text into records (RFC 4180: quoted cells may hold commas, "" and newlines);
/// blank lines are skipped.
std::vector<csv_record> split_csv(std::string_view text);

/// The `charset` parameter of a Content-Type value, in lower case; empty when there is none.
std::string charset_of(std::string_view content_type);

/// An uploaded file as UTF-8 text, from the bytes and the charset they are declared in
/// (`utf-8` when empty; `gbk`, `gb2312`, `cp936` and `gb18030` are decoded as GB 18030, of
/// which the others are subsets, with iconv). A leading byte-order mark is dropped. Another
/// charset is errc::unsupported_media_type (field `Content-Type`); bytes that are not in the
/// declared charset are errc::bad_field (field `body`), the message naming the line.
result<std::string> decode_upload(std::string_view bytes, std::string_view charset);

}  // namespace eqm::server
