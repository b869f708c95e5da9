#include "loopback/protocol/tracker_codec.hpp"

#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

using namespace p2pdist::bt;

namespace Catch {
template <>
struct StringMaker<tracker_error> {
  static std::string convert(const tracker_error& e) {
    return "{" + std::string(to_string(e.code)) + " at " + std::to_string(e.offset) + "}";
  }
};
}  // namespace Catch
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

/// A 20-byte id from a 20-character string.
std::array<std::byte, 20> id20(std::string_view s) {
  REQUIRE(s.size() == 20);
  std::array<std::byte, 20> out{};
  for (std::size_t i = 0; i < 20; ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

std::array<std::byte, 20> random_id(std::mt19937_64& rng) {
  std::array<std::byte, 20> out{};
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

/// A bencoded byte string "len:bytes", written out here independently of the codec.
std::string bstr(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s); }

/// A compact peer entry from its parts.
std::string compact_peer(unsigned a, unsigned b, unsigned c, unsigned d, unsigned port) {
  return std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                     static_cast<char>(d), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

/// The announce target with every required parameter (info_hash "%AA"x20, peer_id
/// "-PD0001-abcdefghijkl", port 6881, uploaded 1, downloaded 2, left 3), plus `extra`.
std::string base_target(std::string_view extra = "") {
  std::string t = "/announce?info_hash=";
  for (int i = 0; i < 20; ++i) t += "%AA";
  t += "&peer_id=-PD0001-abcdefghijkl&port=6881&uploaded=1&downloaded=2&left=3";
  t += extra;
  return t;
}

template <class T>
tracker_error error_of(const result<T, tracker_error>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Percent-encoding

TEST_CASE("percent_encode keeps the RFC 3986 unreserved bytes and escapes every other", "[tracker][percent]") {
  for (unsigned v = 0; v < 256; ++v) {
    const char c = static_cast<char>(v);
    const bool unreserved = (v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9') ||
                            v == '-' || v == '.' || v == '_' || v == '~';
    char escaped[16];
    std::snprintf(escaped, sizeof escaped, "%%%02X", v);
    const std::string expected = unreserved ? std::string(1, c) : std::string(escaped);
    INFO("byte " << v);
    CHECK(percent_encode(std::string_view(&c, 1)) == expected);
    // Decoding accepts both the upper-case form and the lower-case one.
    std::snprintf(escaped, sizeof escaped, "%%%02x", v);
    const auto lower = percent_decode(escaped);
    REQUIRE(lower.has_value());
    CHECK(*lower == std::string(1, c));
  }
}

TEST_CASE("percent round trip of all 256 byte values", "[tracker][percent]") {
  std::string all;
  for (unsigned v = 0; v < 256; ++v) all += static_cast<char>(v);
  const std::string encoded = percent_encode(all);
  // 66 unreserved bytes stay as one character, the other 190 take three.
  CHECK(encoded.size() == 66 + 190 * 3);
  const auto decoded = percent_decode(encoded);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == all);
}

TEST_CASE("percent_encode of the classic info_hash example", "[tracker][percent]") {
  // The example of the unofficial BitTorrent specification (wiki.theory.org): hex
  // 123456789abcdef123456789abcdef123456789a.
  const std::array<std::uint8_t, 20> raw{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf1, 0x23, 0x45,
                                         0x67, 0x89, 0xab, 0xcd, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a};
  std::array<std::byte, 20> bytes{};
  for (std::size_t i = 0; i < 20; ++i) bytes[i] = static_cast<std::byte>(raw[i]);
  CHECK(percent_encode(std::span<const std::byte>(bytes)) == "%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A");
}

TEST_CASE("percent_decode refuses invalid escapes at the '%'", "[tracker][percent]") {
  CHECK(error_of(percent_decode("%zz")) == tracker_error{tracker_errc::bad_escape, 0});
  CHECK(error_of(percent_decode("ab%4")) == tracker_error{tracker_errc::bad_escape, 2});
  CHECK(error_of(percent_decode("abc%")) == tracker_error{tracker_errc::bad_escape, 3});
  CHECK(error_of(percent_decode("%41%g1")) == tracker_error{tracker_errc::bad_escape, 3});
  CHECK(error_of(percent_decode("%4 ")) == tracker_error{tracker_errc::bad_escape, 0});
  // '+' is a literal plus, not a space, and plain text passes through.
  CHECK(percent_decode("a+b%2B").value() == "a+b+");
  CHECK(percent_decode("").value().empty());
}

// ---------------------------------------------------------------------------------------
// Building the announce query

TEST_CASE("announce_query writes the parameters in the documented order", "[tracker][query]") {
  announce_request req{
      .info_hash = {},
      .id = id20("-PD0001-abcdefghijkl"),
      .port = 6881,
      .uploaded_bytes = 10,
      .downloaded_bytes = 20,
      .left_bytes = 1048576,
      .event = announce_event::started,
      .compact = true,
      .numwant = 50,
      .key = std::nullopt,
      .ip = std::nullopt,
  };
  for (auto& b : req.info_hash) b = std::byte{0xaa};
  std::string aa;
  for (int i = 0; i < 20; ++i) aa += "%AA";
  CHECK(announce_query(req) == "info_hash=" + aa +
                                   "&peer_id=-PD0001-abcdefghijkl&port=6881&uploaded=10&downloaded=20"
                                   "&left=1048576&event=started&compact=1&numwant=50");

  req.event = announce_event::none;
  req.compact = false;
  req.numwant.reset();
  req.key = "k y";
  req.ip = "127.0.0.5";
  CHECK(announce_query(req) == "info_hash=" + aa +
                                   "&peer_id=-PD0001-abcdefghijkl&port=6881&uploaded=10&downloaded=20"
                                   "&left=1048576&compact=0&key=k%20y&ip=127.0.0.5");
}

TEST_CASE("announce_target appends with '?' or '&' as the URL requires", "[tracker][query]") {
  const announce_request req{.id = id20("-PD0001-abcdefghijkl"), .port = 1};
  const std::string q = announce_query(req);
  CHECK(announce_target("/announce", req) == "/announce?" + q);
  CHECK(announce_target("/announce?passkey=abc", req) == "/announce?passkey=abc&" + q);
  CHECK(announce_target("/announce?", req) == "/announce?" + q);
  CHECK(announce_target("/announce?a=1&", req) == "/announce?a=1&" + q);
}

TEST_CASE("event names", "[tracker][query]") {
  CHECK(to_string(announce_event::none).empty());
  CHECK(to_string(announce_event::started) == "started");
  CHECK(to_string(announce_event::completed) == "completed");
  CHECK(to_string(announce_event::stopped) == "stopped");
}

// ---------------------------------------------------------------------------------------
// Parsing the announce target (tracker server)

TEST_CASE("query round trip: build, parse, same fields", "[tracker][request]") {
  std::mt19937_64 rng(GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
  const auto event = GENERATE(announce_event::none, announce_event::started, announce_event::completed,
                              announce_event::stopped);
  const bool compact = GENERATE(true, false);
  std::string key;
  for (int i = 0; i < 8; ++i) key += static_cast<char>(rng() & 0xff);
  const announce_request req{
      .info_hash = random_id(rng),
      .id = random_id(rng),
      .port = static_cast<std::uint16_t>(1 + rng() % 65535),
      .uploaded_bytes = rng(),
      .downloaded_bytes = rng() >> (rng() % 64),
      .left_bytes = rng() % 2 == 0 ? 0 : rng(),
      .event = event,
      .compact = compact,
      .numwant = rng() % 2 == 0 ? std::optional<int>{} : std::optional<int>{static_cast<int>(rng() % 1000)},
      .key = rng() % 2 == 0 ? std::optional<std::string>{} : std::optional<std::string>{key},
      .ip = rng() % 2 == 0 ? std::optional<std::string>{} : std::optional<std::string>{"127.0.0.9"},
  };
  const auto parsed = parse_announce_target(announce_target("/announce", req));
  REQUIRE(parsed.has_value());
  CHECK(*parsed == req);
}

TEST_CASE("announce target: extreme values round trip", "[tracker][request]") {
  announce_request req{.port = 65535,
                       .uploaded_bytes = UINT64_MAX,
                       .downloaded_bytes = 0,
                       .left_bytes = UINT64_MAX,
                       .numwant = INT32_MAX};
  for (std::size_t i = 0; i < 20; ++i) {
    req.info_hash[i] = static_cast<std::byte>(i * 13);  // includes 0x00
    req.id[i] = static_cast<std::byte>(255 - i);
  }
  const auto parsed = parse_announce_target(announce_target("/announce", req));
  REQUIRE(parsed.has_value());
  CHECK(*parsed == req);
}

TEST_CASE("announce target: hand-written target, defaults, unknown parameters ignored", "[tracker][request]") {
  // What libtorrent and aria2 send besides the parameters we read.
  const auto r = parse_announce_target(
      base_target("&supportcrypto=1&redundant=0&corrupt=0&no_peer_id=1&requirecrypto=0&%7Ax=%41&flag&&"));
  REQUIRE(r.has_value());
  std::array<std::byte, 20> aa{};
  aa.fill(std::byte{0xaa});
  CHECK(r->info_hash == aa);
  CHECK(r->id == id20("-PD0001-abcdefghijkl"));
  CHECK(r->port == 6881);
  CHECK(r->uploaded_bytes == 1);
  CHECK(r->downloaded_bytes == 2);
  CHECK(r->left_bytes == 3);
  CHECK(r->event == announce_event::none);
  CHECK(r->compact);  // absent means compact
  CHECK_FALSE(r->numwant.has_value());
  CHECK_FALSE(r->key.has_value());
  CHECK_FALSE(r->ip.has_value());
}

TEST_CASE("announce target: parameters in any order, lower-case escapes, raw bytes", "[tracker][request]") {
  // info_hash with raw unreserved bytes and lower-case escapes mixed: "abcdefghij" then
  // ten bytes 0x00..0x09.
  const std::string target =
      "/announce?left=0&event=completed&port=1&peer_id=%2dPD0001%2dabcdefghijkl&downloaded=5"
      "&info_hash=abcdefghij%00%01%02%03%04%05%06%07%08%09&uploaded=7&compact=0&numwant=0&ip=%3A%3A1";
  const auto r = parse_announce_target(target);
  REQUIRE(r.has_value());
  CHECK(r->info_hash == id20("abcdefghij\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"sv));
  CHECK(r->id == id20("-PD0001-abcdefghijkl"));
  CHECK(r->port == 1);
  CHECK(r->event == announce_event::completed);
  CHECK_FALSE(r->compact);
  CHECK(r->numwant == 0);
  CHECK(r->ip == "::1");
  CHECK(r->left_bytes == 0);
}

TEST_CASE("announce target: event values", "[tracker][request]") {
  CHECK(parse_announce_target(base_target("&event=started"))->event == announce_event::started);
  CHECK(parse_announce_target(base_target("&event=stopped"))->event == announce_event::stopped);
  CHECK(parse_announce_target(base_target("&event=completed"))->event == announce_event::completed);
  // Unknown values (BEP 21's "paused", "empty", nonsense) count as a regular announce.
  CHECK(parse_announce_target(base_target("&event=paused"))->event == announce_event::none);
  CHECK(parse_announce_target(base_target("&event=empty"))->event == announce_event::none);
  CHECK(parse_announce_target(base_target("&event="))->event == announce_event::none);
  CHECK(parse_announce_target(base_target("&event=STARTED"))->event == announce_event::none);
}

TEST_CASE("announce target: every missing required parameter is named", "[tracker][request]") {
  struct missing_case {
    std::string_view name;
    tracker_errc code;
  };
  const auto c = GENERATE(missing_case{"info_hash", tracker_errc::missing_info_hash},
                          missing_case{"peer_id", tracker_errc::missing_peer_id},
                          missing_case{"port", tracker_errc::missing_port},
                          missing_case{"uploaded", tracker_errc::missing_uploaded},
                          missing_case{"downloaded", tracker_errc::missing_downloaded},
                          missing_case{"left", tracker_errc::missing_left});
  // Rename the parameter so that it is unknown (and ignored) rather than absent.
  std::string target = base_target("&event=started");
  const std::size_t at = target.find(std::string(c.name) + "=");
  REQUIRE(at != std::string::npos);
  target.insert(at, "x");
  INFO(target);
  CHECK(error_of(parse_announce_target(target)) == tracker_error{c.code, target.size()});
}

TEST_CASE("announce target: key, ip and event are never required", "[tracker][request]") {
  const auto r = parse_announce_target(base_target());
  REQUIRE(r.has_value());
  CHECK_FALSE(r->key.has_value());
  CHECK_FALSE(r->ip.has_value());
  CHECK(r->event == announce_event::none);
}

TEST_CASE("announce target: invalid escapes refused at the '%'", "[tracker][request]") {
  {
    const std::string t = base_target("&key=ab%zz");
    CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::bad_escape, t.size() - 3});
  }
  {
    const std::string t = base_target("&key=%4");
    CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::bad_escape, t.size() - 2});
  }
  {
    // In a key, too, even an unknown one.
    const std::string t = base_target("&x%g=1");
    CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::bad_escape, t.size() - 4});
  }
  {
    // Inside the info_hash value: the third escape is broken.
    std::string t = base_target();
    const std::size_t at = t.find("%AA%AA%AA") + 6;
    t[at + 1] = 'Q';
    CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::bad_escape, at});
  }
}

TEST_CASE("announce target: ids must decode to exactly 20 bytes", "[tracker][request]") {
  const std::string good_hash = "info_hash=" + std::string(20, 'h');
  const std::string good_id = "peer_id=" + std::string(20, 'p');
  const std::string rest = "&port=1&uploaded=0&downloaded=0&left=0";
  for (std::size_t n : {0u, 1u, 19u, 21u, 40u}) {
    INFO("length " << n);
    {
      const std::string t = "/announce?info_hash=" + std::string(n, 'h') + "&" + good_id + rest;
      CHECK(error_of(parse_announce_target(t)) ==
            tracker_error{tracker_errc::bad_info_hash, std::string_view("/announce?info_hash=").size()});
    }
    {
      const std::string t = "/announce?" + good_hash + "&peer_id=" + std::string(n, 'p') + rest;
      CHECK(error_of(parse_announce_target(t)) ==
            tracker_error{tracker_errc::bad_peer_id, ("/announce?" + good_hash + "&peer_id=").size()});
    }
  }
  // 19 escaped bytes plus one raw byte is 20: fine. 20 escapes plus one is 21: refused.
  std::string escaped19;
  for (int i = 0; i < 19; ++i) escaped19 += "%FF";
  CHECK(parse_announce_target("/announce?info_hash=" + escaped19 + "z&" + good_id + rest).has_value());
  CHECK(error_of(parse_announce_target("/announce?info_hash=" + escaped19 + "%FFz&" + good_id + rest)).code ==
        tracker_errc::bad_info_hash);
}

TEST_CASE("announce target: ports and numbers", "[tracker][request]") {
  const auto value_offset = [](const std::string& t, std::string_view key) {
    return t.find("&" + std::string(key) + "=") + key.size() + 2;
  };
  struct number_case {
    std::string_view key, value;
    tracker_errc code;
  };
  const auto c = GENERATE(
      number_case{"port", "0", tracker_errc::bad_port}, number_case{"port", "65536", tracker_errc::bad_port},
      number_case{"port", "-1", tracker_errc::bad_number}, number_case{"port", "", tracker_errc::bad_number},
      number_case{"port", "68a1", tracker_errc::bad_number},
      number_case{"port", "99999999999999999999999", tracker_errc::number_overflow},
      number_case{"uploaded", "18446744073709551616", tracker_errc::number_overflow},
      number_case{"downloaded", "99999999999999999999", tracker_errc::number_overflow},
      number_case{"left", "000000000000000000001", tracker_errc::number_overflow},  // 21 digits
      number_case{"left", "-1", tracker_errc::bad_number}, number_case{"left", "1.5", tracker_errc::bad_number},
      number_case{"left", "+1", tracker_errc::bad_number}, number_case{"left", "", tracker_errc::bad_number},
      number_case{"numwant", "2147483648", tracker_errc::number_overflow},
      number_case{"numwant", "-1", tracker_errc::bad_number},
      number_case{"compact", "2", tracker_errc::bad_compact},
      number_case{"compact", "", tracker_errc::bad_compact});
  // Put the parameter first in a target that otherwise carries all required ones; replace a
  // required one of the same name so that there is no duplicate.
  std::string t = base_target();
  const std::string needle = "&" + std::string(c.key) + "=";
  if (const auto at = t.find(needle); at != std::string::npos) {
    t.erase(at, t.find('&', at + 1) == std::string::npos ? std::string::npos : t.find('&', at + 1) - at);
  }
  t += needle + std::string(c.value);
  INFO(t);
  CHECK(error_of(parse_announce_target(t)) == tracker_error{c.code, value_offset(t, c.key)});
}

TEST_CASE("announce target: the largest numbers fit", "[tracker][request]") {
  const auto r = parse_announce_target(
      "/announce?info_hash=" + std::string(20, 'h') + "&peer_id=" + std::string(20, 'p') +
      "&port=065535&uploaded=18446744073709551615&downloaded=00000000000000000000&left=%31%32&numwant=2147483647");
  REQUIRE(r.has_value());
  CHECK(r->port == 65535);
  CHECK(r->uploaded_bytes == UINT64_MAX);
  CHECK(r->downloaded_bytes == 0);
  CHECK(r->left_bytes == 12);
  CHECK(r->numwant == 2147483647);
}

TEST_CASE("announce target: a known parameter twice is refused", "[tracker][request]") {
  const std::string t = base_target("&port=6882");
  CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::duplicate_parameter, t.size() - 4});
  // An unknown one twice is fine.
  CHECK(parse_announce_target(base_target("&foo=1&foo=2")).has_value());
}

TEST_CASE("announce target: path and characters", "[tracker][request]") {
  const std::string query = base_target().substr(std::string_view("/announce").size());
  for (std::string_view path : {"/announce.php"sv, "/scrape"sv, "/"sv, ""sv, "/Announce"sv, "/announce/"sv}) {
    INFO(path);
    CHECK(error_of(parse_announce_target(std::string(path) + query)) == tracker_error{tracker_errc::bad_path, 0});
  }
  CHECK(error_of(parse_announce_target("/announce")) == tracker_error{tracker_errc::missing_info_hash, 9});
  for (char bad : {'\0', ' ', '\t', '\r', '\n', '\x7f', '\x80', '\xff'}) {
    std::string t = base_target();
    t.insert(30, 1, bad);
    INFO(static_cast<int>(static_cast<unsigned char>(bad)));
    CHECK(error_of(parse_announce_target(t)) == tracker_error{tracker_errc::bad_character, 30});
  }
}

// ---------------------------------------------------------------------------------------
// Request line

TEST_CASE("parse_request_line", "[tracker][http]") {
  {
    const auto r = parse_request_line("GET /announce?a=1 HTTP/1.1");
    REQUIRE(r.has_value());
    CHECK(r->target == "/announce?a=1");
    CHECK(r->minor_version == 1);
  }
  {
    const auto r = parse_request_line("GET /scrape HTTP/1.0\r");
    REQUIRE(r.has_value());
    CHECK(r->target == "/scrape");
    CHECK(r->minor_version == 0);
  }
  CHECK(error_of(parse_request_line("POST /announce HTTP/1.1")) == tracker_error{tracker_errc::bad_method, 0});
  CHECK(error_of(parse_request_line("get /announce HTTP/1.1")) == tracker_error{tracker_errc::bad_method, 0});
  CHECK(error_of(parse_request_line("GET")) == tracker_error{tracker_errc::bad_request_line, 3});
  CHECK(error_of(parse_request_line("")) == tracker_error{tracker_errc::bad_request_line, 0});
  CHECK(error_of(parse_request_line(" GET / HTTP/1.1")) == tracker_error{tracker_errc::bad_request_line, 0});
  CHECK(error_of(parse_request_line("GET /announce")) == tracker_error{tracker_errc::bad_request_line, 13});
  CHECK(error_of(parse_request_line("GET  /announce HTTP/1.1")) == tracker_error{tracker_errc::bad_request_line, 4});
  CHECK(error_of(parse_request_line("GET /announce HTTP/2")) == tracker_error{tracker_errc::bad_http_version, 14});
  CHECK(error_of(parse_request_line("GET /announce HTTP/1.1 ")) ==
        tracker_error{tracker_errc::bad_http_version, 14});
  CHECK(error_of(parse_request_line("GET /announce  HTTP/1.1")) ==
        tracker_error{tracker_errc::bad_http_version, 14});
  CHECK(error_of(parse_request_line("GET /a\x01z HTTP/1.1")) == tracker_error{tracker_errc::bad_character, 6});
  const std::string longest = "GET /" + std::string(100 - 14, 'a') + " HTTP/1.1";
  REQUIRE(longest.size() == 100);
  CHECK(parse_request_line(longest, 100).has_value());
  CHECK(error_of(parse_request_line(longest + "x", 100)) == tracker_error{tracker_errc::request_line_too_long, 100});
}

TEST_CASE("target_path", "[tracker][http]") {
  CHECK(target_path("/announce?x=1?y") == "/announce");
  CHECK(target_path("/scrape") == "/scrape");
  CHECK(target_path("?x").empty());
}

// ---------------------------------------------------------------------------------------
// URLs and addresses

TEST_CASE("parse_ipv4 is strict", "[tracker][url]") {
  CHECK(parse_ipv4("127.0.0.1") == std::array<std::uint8_t, 4>{127, 0, 0, 1});
  CHECK(parse_ipv4("255.255.255.255") == std::array<std::uint8_t, 4>{255, 255, 255, 255});
  CHECK(parse_ipv4("0.0.0.0") == std::array<std::uint8_t, 4>{0, 0, 0, 0});
  for (std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.04", "01.2.3.4", "1..3.4", "1.2.3.4.",
                               ".1.2.3.4", "1.2.3.1000", "a.b.c.d", "1.2.3.4 ", "::1", "localhost", "1.2.3.-4"}) {
    INFO(bad);
    CHECK_FALSE(parse_ipv4(bad).has_value());
  }
  CHECK(format_ipv4({10, 0, 200, 7}) == "10.0.200.7");
}

TEST_CASE("parse_http_url accepts http with IPv4 or localhost", "[tracker][url]") {
  {
    const auto u = parse_http_url("http://127.0.0.2:6969/announce");
    REQUIRE(u.has_value());
    CHECK(u->host == "127.0.0.2");
    CHECK(u->address == std::array<std::uint8_t, 4>{127, 0, 0, 2});
    CHECK(u->port == 6969);
    CHECK(u->target == "/announce");
  }
  {
    const auto u = parse_http_url("HTTP://LocalHost/announce?passkey=x");
    REQUIRE(u.has_value());
    CHECK(u->address == std::array<std::uint8_t, 4>{127, 0, 0, 1});
    CHECK(u->port == 80);
    CHECK(u->target == "/announce?passkey=x");
  }
  CHECK(parse_http_url("http://10.1.2.3:65535").value().target == "/");
  CHECK(parse_http_url("http://10.1.2.3:65535").value().port == 65535);
  CHECK(parse_http_url("http://10.1.2.3?x=1").value().target == "/?x=1");
}

TEST_CASE("parse_http_url refuses what the network layer cannot reach", "[tracker][url]") {
  CHECK(error_of(parse_http_url("https://127.0.0.1/announce")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_http_url("udp://127.0.0.1:6969")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_http_url("http:/127.0.0.1")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_http_url("")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_http_url("http://tracker.example.org/announce")) ==
        tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_http_url("http://[::1]:6969/announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_http_url("http://user@127.0.0.1/announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_http_url("http:///announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_http_url("http://1.2.3.4:/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4:0/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4:65536/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4:123456/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4:8x/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4:1:2/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_http_url("http://1.2.3.4/a#frag")) == tracker_error{tracker_errc::bad_character, 16});
  CHECK(error_of(parse_http_url("http://1.2.3.4/a b")) == tracker_error{tracker_errc::bad_character, 16});
}

// ---------------------------------------------------------------------------------------
// Responses

TEST_CASE("compact response", "[tracker][response]") {
  const std::string body = "d8:completei3e10:incompletei5e8:intervali1800e12:min intervali60e5:peers" +
                           bstr(compact_peer(127, 0, 0, 1, 6881) + compact_peer(10, 0, 0, 2, 80) +
                                compact_peer(255, 254, 0, 0, 65535)) +
                           "15:warning message4:slowe";
  const auto r = parse_announce_response(body);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->failure_reason.has_value());
  CHECK(r->interval == std::chrono::seconds{1800});
  CHECK(r->min_interval == std::chrono::seconds{60});
  CHECK(r->complete == 3);
  CHECK(r->incomplete == 5);
  CHECK(r->warning == "slow");
  REQUIRE(r->peers.size() == 3);
  CHECK(r->peers[0] == peer_endpoint{.ip = {127, 0, 0, 1}, .port = 6881, .id = std::nullopt});
  CHECK(r->peers[1] == peer_endpoint{.ip = {10, 0, 0, 2}, .port = 80, .id = std::nullopt});
  CHECK(r->peers[2] == peer_endpoint{.ip = {255, 254, 0, 0}, .port = 65535, .id = std::nullopt});

  // The same through the byte-span overload.
  const auto bytes = std::as_bytes(std::span<const char>(body.data(), body.size()));
  CHECK(parse_announce_response(bytes).value() == *r);
}

TEST_CASE("compact response with no peers, and unknown keys ignored", "[tracker][response]") {
  const auto r = parse_announce_response("d8:intervali5e5:peers0:7:privatei1e10:tracker id3:abce");
  REQUIRE(r.has_value());
  CHECK(r->interval == std::chrono::seconds{5});
  CHECK(r->peers.empty());
  CHECK_FALSE(r->complete.has_value());
  CHECK_FALSE(r->min_interval.has_value());
  CHECK_FALSE(r->warning.has_value());
}

TEST_CASE("list response", "[tracker][response]") {
  const std::string id = "-PD0001-abcdefghijkl";
  const std::string body = "d8:intervali900e5:peersl"
                           "d2:ip" + bstr("127.0.0.2") + "7:peer id" + bstr(id) + "4:porti6881ee"
                           "d2:ip" + bstr("::1") + "4:porti1ee"                      // IPv6: skipped
                           "d2:ip" + bstr("peer.example.org") + "4:porti2ee"         // name: skipped
                           "d2:ip" + bstr("10.0.0.3") + "4:porti51413e5:extrai1ee"
                           "ee";
  const auto r = parse_announce_response(body);
  REQUIRE(r.has_value());
  CHECK(r->interval == std::chrono::seconds{900});
  REQUIRE(r->peers.size() == 2);
  CHECK(r->peers[0] == peer_endpoint{.ip = {127, 0, 0, 2}, .port = 6881, .id = id20(id)});
  CHECK(r->peers[1] == peer_endpoint{.ip = {10, 0, 0, 3}, .port = 51413, .id = std::nullopt});
}

TEST_CASE("failure response is a value carrying the reason", "[tracker][response]") {
  const auto r = parse_announce_response("d14:failure reason12:unregisterede");
  REQUIRE(r.has_value());
  CHECK(r->failure_reason == "unregistered");
  CHECK(r->peers.empty());
  // Nothing else is required, or read, beside a failure reason.
  const auto r2 = parse_announce_response("d14:failure reason0:8:intervali-1e5:peersi0ee");
  REQUIRE(r2.has_value());
  CHECK(r2->failure_reason == "");
}

TEST_CASE("peers6 alone stands for an empty IPv4 list", "[tracker][response]") {
  const auto r = parse_announce_response("d8:intervali30e6:peers6" + bstr(std::string(18, '\x01')) + "e");
  REQUIRE(r.has_value());
  CHECK(r->peers.empty());
}

TEST_CASE("malformed responses: code and offset", "[tracker][response]") {
  struct bad_case {
    std::string body;
    tracker_errc code;
    std::string at;  // the offset is where this substring starts (or "$" for the last byte)
  };
  const std::string p6 = compact_peer(1, 2, 3, 4, 5);
  const auto c = GENERATE_COPY(
      bad_case{"d8:intervali60e5:peers7:1234567e", tracker_errc::bad_peers_length, "7:1234567"},
      bad_case{"d8:intervali60e5:peers" + bstr(p6 + "x") + "e", tracker_errc::bad_peers_length, "7:"},
      bad_case{"d5:peers0:e", tracker_errc::missing_interval, "$"},
      bad_case{"d8:intervali0e5:peers0:e", tracker_errc::bad_interval, "i0e"},
      bad_case{"d8:intervali-60e5:peers0:e", tracker_errc::bad_interval, "i-60e"},
      bad_case{"d8:intervali604801e5:peers0:e", tracker_errc::bad_interval, "i604801e"},
      bad_case{"d8:interval4:1800e", tracker_errc::wrong_type, "4:1800"},
      bad_case{"d8:intervali60e12:min intervali0e5:peers0:e", tracker_errc::bad_interval, "i0e"},
      bad_case{"d8:intervali60e12:min interval2:60e", tracker_errc::wrong_type, "2:60"},
      bad_case{"d8:intervali60ee", tracker_errc::missing_peers, "$"},
      bad_case{"d8:intervali60e5:peersi7ee", tracker_errc::wrong_type, "i7e"},
      bad_case{"d8:intervali60e5:peersdee", tracker_errc::wrong_type, "dee"},
      bad_case{"d8:intervali60e5:peersl3:abcee", tracker_errc::not_a_dictionary, "3:abc"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.4eee", tracker_errc::bad_peer_entry, "eee"},
      bad_case{"d8:intervali60e5:peersld4:porti1eeee", tracker_errc::bad_peer_entry, "eee"},
      bad_case{"d8:intervali60e5:peersld2:ipi1e4:porti1eeee", tracker_errc::wrong_type, "i1e4"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.44:port1:1eee", tracker_errc::wrong_type, "1:1"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti65536eeee", tracker_errc::bad_port, "i65536e"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti-1eeee", tracker_errc::bad_port, "i-1e"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.47:peer id3:abc4:porti1eeee", tracker_errc::bad_peer_id, "3:abc"},
      bad_case{"d8:intervali60e5:peersld2:ip7:1.2.3.47:peer idi1e4:porti1eeee", tracker_errc::wrong_type, "i1e4"},
      bad_case{"d8:completei-1e8:intervali60e5:peers0:e", tracker_errc::bad_count, "i-1e"},
      bad_case{"d10:incomplete0:8:intervali60e5:peers0:e", tracker_errc::wrong_type, "0:8"},
      bad_case{"d8:intervali60e5:peers0:15:warning messagei1ee", tracker_errc::wrong_type, "i1e"},
      bad_case{"d14:failure reasoni1ee", tracker_errc::wrong_type, "i1e"},
      bad_case{"l8:intervale", tracker_errc::not_a_dictionary, "l8"},
      bad_case{"i60e", tracker_errc::not_a_dictionary, "i"},
      bad_case{"d8:intervali60e5:peers0:ex", tracker_errc::bad_bencode, "x"},
      bad_case{"<html>", tracker_errc::bad_bencode, "<"},
      bad_case{"", tracker_errc::bad_bencode, "$+1"});
  INFO(c.body);
  const auto r = parse_announce_response(c.body);
  std::size_t expected_offset = 0;
  if (c.at == "$") {
    expected_offset = c.body.size() - 1;
  } else if (c.at == "$+1") {
    expected_offset = c.body.size();
  } else {
    // The last occurrence: the offending values sit late in these bodies.
    expected_offset = c.body.rfind(c.at);
    REQUIRE(expected_offset != std::string::npos);
  }
  CHECK(error_of(r) == tracker_error{c.code, expected_offset});
}

TEST_CASE("every proper prefix of a valid response is refused cleanly", "[tracker][response]") {
  const std::string body = GENERATE(
      "d8:intervali1800e5:peers12:"s + compact_peer(127, 0, 0, 1, 6881) + compact_peer(10, 0, 0, 2, 80) + "e",
      "d8:intervali900e5:peersld2:ip9:127.0.0.27:peer id20:-PD0001-abcdefghijkl4:porti6881eeee"s,
      "d14:failure reason12:unregisterede"s);
  REQUIRE(parse_announce_response(body).has_value());
  for (std::size_t n = 0; n < body.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    const auto r = parse_announce_response(std::string_view(body).substr(0, n));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == tracker_errc::bad_bencode);
    CHECK(r.error().offset <= n);
  }
}

TEST_CASE("a response nested deeper than the limits allow is refused", "[tracker][response]") {
  std::string body = "d8:intervali60e5:peersl";
  for (int i = 0; i < 20; ++i) body += "l";
  for (int i = 0; i < 20; ++i) body += "e";
  body += "ee";
  CHECK(error_of(parse_announce_response(body)).code == tracker_errc::bad_bencode);
}

// ---------------------------------------------------------------------------------------
// Encoding responses (tracker server)

TEST_CASE("encode_announce_response: exact bytes", "[tracker][encode]") {
  announce_response resp{.interval = std::chrono::seconds{1800},
                         .peers = {peer_endpoint{.ip = {127, 0, 0, 1}, .port = 6881, .id = std::nullopt}}};
  CHECK(encode_announce_response(resp, peer_form::compact) ==
        "d8:intervali1800e5:peers6:" + compact_peer(127, 0, 0, 1, 6881) + "e");
  CHECK(encode_announce_response(resp, peer_form::dictionaries) ==
        "d8:intervali1800e5:peersld2:ip9:127.0.0.14:porti6881eeee");

  resp.peers[0].id = id20("-PD0001-abcdefghijkl");
  resp.min_interval = std::chrono::seconds{30};
  resp.complete = 1;
  resp.incomplete = 2;
  resp.warning = "w";
  // Keys in sorted order; the compact form drops the peer id.
  CHECK(encode_announce_response(resp, peer_form::compact) ==
        "d8:completei1e10:incompletei2e8:intervali1800e12:min intervali30e5:peers6:" +
            compact_peer(127, 0, 0, 1, 6881) + "15:warning message1:we");
  CHECK(encode_announce_response(resp, peer_form::dictionaries) ==
        "d8:completei1e10:incompletei2e8:intervali1800e12:min intervali30e"
        "5:peersld2:ip9:127.0.0.17:peer id20:-PD0001-abcdefghijkl4:porti6881eee15:warning message1:we");

  CHECK(encode_announce_response(announce_response{.interval = std::chrono::seconds{1}}, peer_form::compact) ==
        "d8:intervali1e5:peers0:e");
  CHECK(encode_announce_response(announce_response{.interval = std::chrono::seconds{1}},
                                 peer_form::dictionaries) == "d8:intervali1e5:peerslee");
}

TEST_CASE("encode_failure", "[tracker][encode]") {
  CHECK(encode_failure("bad") == "d14:failure reason3:bade");
  CHECK(encode_announce_response(announce_response{.failure_reason = "no such torrent",
                                                   .interval = std::chrono::seconds{60}},
                                 peer_form::compact) == "d14:failure reason15:no such torrente");
}

TEST_CASE("encode then parse gives the same response", "[tracker][encode]") {
  std::mt19937_64 rng(GENERATE(11u, 12u, 13u, 14u));
  const std::size_t count = GENERATE(0u, 1u, 7u, 200u);
  announce_response resp{.interval = std::chrono::seconds{1 + static_cast<long>(rng() % 86400)}};
  if (rng() % 2 == 0) resp.min_interval = std::chrono::seconds{1 + static_cast<long>(rng() % 60)};
  if (rng() % 2 == 0) resp.complete = static_cast<std::int64_t>(rng() % 1000);
  for (std::size_t i = 0; i < count; ++i) {
    peer_endpoint p;
    for (auto& b : p.ip) b = static_cast<std::uint8_t>(rng());
    p.port = static_cast<std::uint16_t>(rng());
    if (rng() % 2 == 0) p.id = random_id(rng);
    resp.peers.push_back(p);
  }
  const auto list = parse_announce_response(encode_announce_response(resp, peer_form::dictionaries));
  REQUIRE(list.has_value());
  CHECK(*list == resp);

  const auto compact = parse_announce_response(encode_announce_response(resp, peer_form::compact));
  REQUIRE(compact.has_value());
  auto without_ids = resp;
  for (auto& p : without_ids.peers) p.id.reset();
  CHECK(*compact == without_ids);
}

// ---------------------------------------------------------------------------------------
// Scrape

TEST_CASE("parse_scrape_target", "[tracker][scrape]") {
  const auto r = parse_scrape_target("/scrape?info_hash=" + std::string(20, 'a') + "&x=1&info_hash=" +
                                     std::string(19, 'b') + "%00");
  REQUIRE(r.has_value());
  REQUIRE(r->info_hashes.size() == 2);
  CHECK(r->info_hashes[0] == id20(std::string(20, 'a')));
  CHECK(r->info_hashes[1] == id20(std::string(19, 'b') + '\0'));
  CHECK(parse_scrape_target("/scrape").value().info_hashes.empty());
  CHECK(error_of(parse_scrape_target("/scrape?info_hash=abc")) == tracker_error{tracker_errc::bad_info_hash, 18});
  CHECK(error_of(parse_scrape_target("/announce?info_hash=abc")) == tracker_error{tracker_errc::bad_path, 0});
  CHECK(error_of(parse_scrape_target("/scrape?info_hash=%G0")) == tracker_error{tracker_errc::bad_escape, 18});
}

TEST_CASE("encode_scrape_response: exact bytes, sorted by info-hash", "[tracker][scrape]") {
  const std::vector<scrape_entry> entries{
      {.info_hash = id20(std::string(20, 'z')), .complete = 1, .downloaded = 2, .incomplete = 3},
      {.info_hash = id20(std::string(20, 'a')), .complete = 0, .downloaded = 0, .incomplete = 10},
  };
  CHECK(encode_scrape_response(entries) ==
        "d5:filesd20:" + std::string(20, 'a') + "d8:completei0e10:downloadedi0e10:incompletei10ee20:" +
            std::string(20, 'z') + "d8:completei1e10:downloadedi2e10:incompletei3eeee");
  CHECK(encode_scrape_response({}) == "d5:filesdee");
}

// ---------------------------------------------------------------------------------------

TEST_CASE("tracker: every error code has its own description", "[tracker]") {
  std::set<std::string_view> seen;
  for (int i = static_cast<int>(tracker_errc::bad_url_scheme); i <= static_cast<int>(tracker_errc::bad_count); ++i) {
    const auto text = to_string(static_cast<tracker_errc>(i));
    INFO(i);
    CHECK_FALSE(text.empty());
    CHECK(text != "unknown tracker error");
    CHECK(seen.insert(text).second);
  }
}
