// Tests of the tracker codec's shared parts and client side: percent encoding, the announce
// query, URLs and addresses, parsing the tracker's response, error descriptions. The
// server side is tested in test_tracker_codec_server.cpp.
#include "loopback/protocol/tracker_codec.hpp"

#include <array>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "tracker_codec_helpers.hpp"

using namespace p2pdist::bt;
using namespace p2pdist::test;
using namespace std::string_literals;

namespace {

/// A bencoded byte string "len:bytes", written out here independently of the codec.
std::string bstr(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s); }

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
  CHECK(to_string(ip_address(10, 0, 200, 7)) == "10.0.200.7");
}

TEST_CASE("parse_tracker_url accepts http with IPv4 or localhost", "[tracker][url]") {
  {
    const auto u = parse_tracker_url("http://127.0.0.2:6969/announce");
    REQUIRE(u.has_value());
    CHECK(u->host == "127.0.0.2");
    CHECK(u->address == std::array<std::uint8_t, 4>{127, 0, 0, 2});
    CHECK(u->port == 6969);
    CHECK(u->target == "/announce");
  }
  {
    const auto u = parse_tracker_url("HTTP://LocalHost/announce?passkey=x");
    REQUIRE(u.has_value());
    CHECK(u->address == std::array<std::uint8_t, 4>{127, 0, 0, 1});
    CHECK(u->port == 80);
    CHECK(u->target == "/announce?passkey=x");
  }
  CHECK(parse_tracker_url("http://10.1.2.3:65535").value().target == "/");
  CHECK(parse_tracker_url("http://10.1.2.3:65535").value().port == 65535);
  CHECK(parse_tracker_url("http://10.1.2.3?x=1").value().target == "/?x=1");
  CHECK(parse_tracker_url("http://10.1.2.3").value().scheme == tracker_scheme::http);
}

TEST_CASE("parse_tracker_url accepts udp with a port", "[tracker][url][udp]") {
  const auto u = parse_tracker_url("UDP://127.0.0.3:6969/announce");
  REQUIRE(u.has_value());
  CHECK(u->scheme == tracker_scheme::udp);
  CHECK(u->address == std::array<std::uint8_t, 4>{127, 0, 0, 3});
  CHECK(u->port == 6969);
  CHECK(u->target == "/announce");
  CHECK(parse_tracker_url("udp://localhost:1").value().address == std::array<std::uint8_t, 4>{127, 0, 0, 1});
  // BEP 15 has no default port: "udp://127.0.0.1/announce" names none (offset: where it would be).
  CHECK(error_of(parse_tracker_url("udp://127.0.0.1/announce")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("udp://127.0.0.1")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("udp://127.0.0.1:0")) == tracker_error{tracker_errc::bad_url_port, 16});
  CHECK(error_of(parse_tracker_url("udp://[::1:6969")) == tracker_error{tracker_errc::bad_url_host, 6});
  CHECK(error_of(parse_tracker_url("udp:/127.0.0.1:6969")) == tracker_error{tracker_errc::bad_url_scheme, 0});
}

TEST_CASE("parse_tracker_url refuses what the network layer cannot reach", "[tracker][url]") {
  CHECK(error_of(parse_tracker_url("https://127.0.0.1/announce")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_tracker_url("wss://127.0.0.1:6969")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_tracker_url("http:/127.0.0.1")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_tracker_url("")) == tracker_error{tracker_errc::bad_url_scheme, 0});
  CHECK(error_of(parse_tracker_url("http://tracker.example.org/announce")) ==
        tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_tracker_url("http://[::1%25lo]:6969/announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_tracker_url("http://user@127.0.0.1/announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_tracker_url("http:///announce")) == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:0/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:65536/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:123456/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:8x/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4:1:2/a")) == tracker_error{tracker_errc::bad_url_port, 15});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4/a#frag")) == tracker_error{tracker_errc::bad_character, 16});
  CHECK(error_of(parse_tracker_url("http://1.2.3.4/a b")) == tracker_error{tracker_errc::bad_character, 16});
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
                           "d2:ip" + bstr("::1") + "4:porti1ee"                      // IPv6: taken
                           "d2:ip" + bstr("peer.example.org") + "4:porti2ee"         // name: skipped
                           "d2:ip" + bstr("10.0.0.3") + "4:porti51413e5:extrai1ee"
                           "ee";
  const auto r = parse_announce_response(body);
  REQUIRE(r.has_value());
  CHECK(r->interval == std::chrono::seconds{900});
  REQUIRE(r->peers.size() == 3);
  CHECK(r->peers[0] == peer_endpoint{.ip = {127, 0, 0, 2}, .port = 6881, .id = id20(id)});
  CHECK(r->peers[1] == peer_endpoint{.ip = *parse_ipv6("::1"), .port = 1, .id = std::nullopt});
  CHECK(r->peers[2] == peer_endpoint{.ip = {10, 0, 0, 3}, .port = 51413, .id = std::nullopt});
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

TEST_CASE("peers6 alone is a list of IPv6 peers", "[tracker][response]") {
  // 18 bytes of 0x01: address 101:101:101:101:101:101:101:101, port 0x0101 = 257.
  const auto r = parse_announce_response("d8:intervali30e6:peers6" + bstr(std::string(18, '\x01')) + "e");
  REQUIRE(r.has_value());
  REQUIRE(r->peers.size() == 1);
  CHECK(to_string(r->peers[0].ip) == "101:101:101:101:101:101:101:101");
  CHECK(r->peers[0].port == 257);
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

// ---------------------------------------------------------------------------------------
// Scrape, the client side (BEP 48)

TEST_CASE("scrape_target replaces announce in the path's last part and appends the hashes", "[tracker][scrape]") {
  sha1_digest a{};
  a.fill(std::byte{0x41});  // "AAAA..." stays as it is (unreserved)
  sha1_digest b{};
  b.fill(std::byte{0xff});
  const std::vector<sha1_digest> two{a, b};
  CHECK(scrape_target("/announce", two).value() ==
        "/scrape?info_hash=" + std::string(20, 'A') + "&info_hash=" + [] {
          std::string s;
          for (int i = 0; i < 20; ++i) s += "%FF";
          return s;
        }());
  CHECK(scrape_target("/x/announce.php?passkey=1", std::vector<sha1_digest>{a}).value() ==
        "/x/scrape.php?passkey=1&info_hash=" + std::string(20, 'A'));
  CHECK(scrape_target("/announce", {}).value() == "/scrape");
  CHECK(error_of(scrape_target("/a", two)) == tracker_error{tracker_errc::no_scrape, 1});
  CHECK(error_of(scrape_target("/announce/x", two)) == tracker_error{tracker_errc::no_scrape, 10});
  CHECK(scrape_target("/x/announce2", {}).value() == "/x/scrape2");  // "begins with announce"
}

TEST_CASE("parse_scrape_response reads files, counts and failures", "[tracker][scrape]") {
  const std::string hash(20, 'h');
  const std::string body = "d5:filesd20:" + hash + "d8:completei3e10:downloadedi7e10:incompletei2eeee";
  const auto r = parse_scrape_response(body);
  REQUIRE(r.has_value());
  REQUIRE(r->entries.size() == 1);
  CHECK(r->entries[0].complete == 3);
  CHECK(r->entries[0].downloaded == 7);
  CHECK(r->entries[0].incomplete == 2);
  CHECK(r->entries[0].info_hash[0] == std::byte{'h'});
  // A count left out reads 0; unknown keys are ignored.
  const auto partial = parse_scrape_response("d5:filesd20:" + hash + "d8:completei1e4:namei9eeee");
  REQUIRE(partial.has_value());
  CHECK(partial->entries[0].incomplete == 0);
  const auto failed = parse_scrape_response("d14:failure reason4:nopee");
  REQUIRE(failed.has_value());
  CHECK(failed->failure_reason == "nope");

  CHECK(error_of(parse_scrape_response("d5:fileslee")).code == tracker_errc::wrong_type);
  CHECK(error_of(parse_scrape_response("de")) == tracker_error{tracker_errc::missing_files, 1});
  CHECK(error_of(parse_scrape_response("d5:filesd3:abcdeee")).code == tracker_errc::bad_info_hash);
  CHECK(error_of(parse_scrape_response("d5:filesd20:" + hash + "d8:completei-1eeee")).code == tracker_errc::bad_count);
  CHECK(error_of(parse_scrape_response("d5:filesd20:" + hash + "i1eee")).code == tracker_errc::wrong_type);
  CHECK(error_of(parse_scrape_response("i1e")).code == tracker_errc::not_a_dictionary);
}
