// The CSV import's text: charsets, byte-order marks, and cells that are not UTF-8.
#include "csv_import.hpp"

#include <catch2/catch.hpp>

using namespace eqm;
using namespace eqm::server;

TEST_CASE("a GBK export is decoded when the charset says so, and a BOM is skipped", "[csv]") {
    // "执法记录仪" (body camera) in GBK.
    const std::string gbk_model = "\xd6\xb4\xb7\xa8\xbc\xc7\xc2\xbc\xd2\xc7";
    const std::string file =
        "id,class,model,city\r\ncam-1,body_camera," + gbk_model + ",450100\r\n";
    CHECK(charset_of("text/csv; charset=GBK") == "gbk");
    CHECK(charset_of("text/csv;charset=\"gb18030\"") == "gb18030");
    CHECK(charset_of("text/csv") == "");
    auto text = decode_upload(file, "gbk");
    REQUIRE(text.has_value());
    auto parsed = parse_device_csv(*text);
    REQUIRE(parsed.errors.empty());
    REQUIRE(parsed.rows.size() == 1);
    CHECK(parsed.rows[0].record.model ==
          "\xe6\x89\xa7\xe6\xb3\x95\xe8\xae\xb0\xe5\xbd\x95\xe4\xbb\xaa");

    auto with_bom = decode_upload("\xEF\xBB\xBFid,class,model,city\ncam-2,drone,M,450100\n", "");
    REQUIRE(with_bom.has_value());
    CHECK(parse_device_csv(*with_bom).rows.size() == 1);

    auto other = decode_upload(file, "latin1");
    REQUIRE_FALSE(other.has_value());
    CHECK(other.error().code == errc::unsupported_media_type);
    auto broken = decode_upload("id,class,model,city\ncam-1,drone,\x81\x20,450100\n", "gbk");
    REQUIRE_FALSE(broken.has_value());
    CHECK(broken.error().message.find("line 2") != std::string::npos);
}

TEST_CASE("a cell that is not UTF-8 is refused with its line and column", "[csv]") {
    const std::string gbk_model = "\xd6\xb4\xb7\xa8";
    auto parsed = parse_device_csv("id,class,model,city\ncam-1,drone,M,450100\ncam-2,drone," +
                                   gbk_model + ",450100\n");
    CHECK(parsed.rows.size() == 1);
    REQUIRE(parsed.errors.size() == 1);
    CHECK(parsed.errors[0].line == 3);
    CHECK(parsed.errors[0].column == 3);
    CHECK(parsed.errors[0].field == "model");
    CHECK(parsed.errors[0].id == "cam-2");
    CHECK(parsed.errors[0].message.find("UTF-8") != std::string::npos);
}
