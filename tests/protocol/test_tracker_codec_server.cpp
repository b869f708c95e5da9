// Tests of the tracker codec's server side: the announce target, the request line,
// encoding responses, scrape. The shared parts and the client side are tested in
// test_tracker_codec.cpp.
#include "loopback/protocol/tracker_codec.hpp"

#include <array>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tracker_codec_helpers.hpp"

using namespace p2pdist::bt;
using namespace p2pdist::test;
using namespace std::string_view_literals;

namespace {

/// A random 20-byte id.
std::array<std::byte, 20> random_id(std::mt19937_64& rng) {
  std::array<std::byte, 20> out{};
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
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

}  // namespace

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
  // The first `ipv4` peers IPv4, the rest IPv6: compact answers carry them in "peers" then
  // "peers6", so the order read back is this one.
  const std::size_t ipv4 = count == 0 ? 0 : rng() % (count + 1);
  announce_response resp{.interval = std::chrono::seconds{1 + static_cast<long>(rng() % 86400)}};
  if (rng() % 2 == 0) resp.min_interval = std::chrono::seconds{1 + static_cast<long>(rng() % 60)};
  if (rng() % 2 == 0) resp.complete = static_cast<std::int64_t>(rng() % 1000);
  for (std::size_t i = 0; i < count; ++i) {
    peer_endpoint p;
    ip_address::v6_bytes bytes{};
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    if (i >= ipv4) bytes[0] = 0xfd;  // an IPv6 peer, never IPv4-mapped
    p.ip = i < ipv4 ? ip_address(bytes[0], bytes[1], bytes[2], bytes[3]) : ip_address::from_v6(bytes);
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
