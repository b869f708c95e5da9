// Units: sizes in bits, rates in bits/s. 1 byte = 8 bits; k, M, G = 10^3, 10^6, 10^9;
// Ki, Mi, Gi = 2^10, 2^20, 2^30.
#include "model/units.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace p2pdist::model;

TEST_CASE("sizes", "[units]") {
  CHECK(parse_size_bits("15Gbit") == 15e9);
  CHECK(parse_size_bits("2GB") == 2e9 * 8);                   // 1.6e10 bits
  CHECK(parse_size_bits("32MiB") == 32.0 * 1048576 * 8);       // 268435456 bits
  CHECK(parse_size_bits("16KiB") == 16.0 * 1024 * 8);          // 131072 bits
  CHECK(parse_size_bits("300kbit") == 300e3);
  CHECK(parse_size_bits("1.5e10") == 1.5e10);                  // bare numbers are bits
  CHECK(parse_size_bits("100") == 100);
  CHECK(parse_size_bits("0") == 0);
  CHECK(parse_size_bits("1 GiB") == 8.0 * 1073741824);
  CHECK(parse_size_bits("4b") == 4);
  CHECK(parse_size_bits("4B") == 32);
  CHECK(parse_size_bits("3bytes") == 24);
}

TEST_CASE("rates", "[units]") {
  CHECK(parse_rate_bps("30Mbps") == 30e6);
  CHECK(parse_rate_bps("300kbps") == 300e3);
  CHECK(parse_rate_bps("2MB/s") == 16e6);
  CHECK(parse_rate_bps("4MiB/s") == 4.0 * 1048576 * 8);  // 33554432 bits/s
  CHECK(parse_rate_bps("10Mbit/s") == 10e6);
  CHECK(parse_rate_bps("1e6") == 1e6);
  CHECK(parse_rate_bps("2MBps") == 16e6);
  CHECK(std::isinf(parse_rate_or_unlimited_bps("unlimited")));
  CHECK(parse_rate_or_unlimited_bps("2Mbps") == 2e6);
}

TEST_CASE("malformed values are refused with a reason", "[units]") {
  CHECK_THROWS_AS(parse_size_bits(""), unit_error);
  CHECK_THROWS_WITH(parse_size_bits("abc"), Catch::Contains("number"));
  CHECK_THROWS_WITH(parse_rate_bps("-5Mbps"), Catch::Contains("negative"));
  CHECK_THROWS_WITH(parse_rate_bps("5Xbps"), Catch::Contains("unknown unit"));
  CHECK_THROWS_AS(parse_size_bits("5Mbps"), unit_error);   // a rate is not a size
  CHECK_THROWS_AS(parse_rate_bps("2GB"), unit_error);      // a size is not a rate
  CHECK_THROWS_AS(parse_size_bits("inf"), unit_error);
  CHECK_THROWS_AS(parse_size_bits("nan"), unit_error);
  CHECK_THROWS_AS(parse_rate_bps("unlimited"), unit_error);
  CHECK_THROWS_AS(parse_size_bits("1e999"), unit_error);
  CHECK_THROWS_AS(parse_size_bits("5 G B"), unit_error);
}

TEST_CASE("lists", "[units]") {
  const auto v = parse_list("300kbps, 700kbps,2Mbps", parse_rate_bps);
  REQUIRE(v.size() == 3);
  CHECK(v[0] == 300e3);
  CHECK(v[1] == 700e3);
  CHECK(v[2] == 2e6);
  CHECK_THROWS_WITH(parse_list("1Mbps,,2Mbps", parse_rate_bps), Catch::Contains("item 2"));
  CHECK_THROWS_WITH(parse_list("1Mbps,x", parse_rate_bps), Catch::Contains("item 2"));
}

TEST_CASE("printing round-trips through parsing", "[units]") {
  CHECK(format_bps(30e6) == "30 Mbps");
  CHECK(format_bps(300e3) == "300 kbps");
  CHECK(format_bits(15e9) == "15 Gbit");
  for (const char* text : {"30Mbps", "300kbps", "2Mbps", "700kbps", "1.5Gbps"}) {
    const double v = parse_rate_bps(text);
    std::string printed = format_bps(v);
    printed.erase(printed.find(' '), 1);
    CHECK(parse_rate_bps(printed) == Approx(v));
  }
  CHECK(format_seconds(7500) == "7500 s (2 h 05 min)");
  CHECK(format_seconds(90) == "90.0 s (1 min 30 s)");
  CHECK(format_seconds(0.5) == "500 ms");
}

TEST_CASE("durations", "[units]") {
  CHECK(parse_duration_seconds("5s") == 5);
  CHECK(parse_duration_seconds("500ms") == Approx(0.5));
  CHECK(parse_duration_seconds("2min") == 120);
  CHECK(parse_duration_seconds("1h") == 3600);
  CHECK(parse_duration_seconds("1.5") == 1.5);
  CHECK_THROWS_WITH(parse_duration_seconds("5 parsecs"), Catch::Contains("unknown unit"));
  CHECK_THROWS_AS(parse_duration_seconds("-1s"), unit_error);
}
