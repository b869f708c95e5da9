// IPv6 in the protocol layer: addresses and endpoints as values and text (RFC 4291, RFC
// 5952), bracketed hosts in tracker URLs (RFC 3986), "peers6" in HTTP tracker answers
// (BEP 7) and 18-byte peers in UDP tracker answers sent over IPv6 (BEP 15). Every expected
// byte string is written out by hand from those documents.
#include <string>
#include <variant>

#include <catch2/catch.hpp>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/udp_tracker_codec.hpp"

using namespace p2pdist::bt;
using namespace std::string_literals;

namespace {

/// fd00::N: an address of a unique local network (RFC 4193).
ip_address fd00(std::uint8_t n) {
  ip_address::v6_bytes b{};
  b[0] = 0xfd;
  b[15] = n;
  return ip_address::from_v6(b);
}

}  // namespace

TEST_CASE("ip_address holds IPv4 mapped, so one value stands for one host", "[endpoint][ipv6]") {
  const ip_address v4(10, 1, 2, 3);
  CHECK(v4.is_v4());
  CHECK(v4.to_v4() == ip_address::v4_bytes{10, 1, 2, 3});
  // ::ffff:10.1.2.3, what a dual-stack socket reports for the same peer, is the same value.
  ip_address::v6_bytes mapped{};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 10;
  mapped[13] = 1;
  mapped[14] = 2;
  mapped[15] = 3;
  CHECK(ip_address::from_v6(mapped) == v4);
  CHECK(parse_ipv6("::ffff:10.1.2.3") == v4);
  CHECK_FALSE(fd00(2).is_v4());
  CHECK(fd00(2) != fd00(3));
  CHECK(fd00(2) < fd00(3));
  CHECK(std::hash<ip_address>{}(fd00(2)) != std::hash<ip_address>{}(fd00(3)));

  CHECK(ip_address(127, 5, 6, 7).is_loopback());
  CHECK(parse_ipv6("::1")->is_loopback());
  CHECK_FALSE(parse_ipv6("::2")->is_loopback());
  CHECK_FALSE(fd00(1).is_loopback());
  CHECK(ip_address().is_unspecified());
  CHECK(ip_address().is_v4());  // the default is 0.0.0.0
  CHECK(parse_ipv6("::")->is_unspecified());
  CHECK_FALSE(parse_ipv6("::")->is_v4());
  CHECK(ip_address(224, 0, 0, 1).is_multicast_or_broadcast());
  CHECK(ip_address(255, 255, 255, 255).is_multicast_or_broadcast());
  CHECK(parse_ipv6("ff02::1")->is_multicast_or_broadcast());
  CHECK_FALSE(parse_ipv6("fe80::1")->is_multicast_or_broadcast());
  CHECK_FALSE(ip_address(223, 255, 255, 255).is_multicast_or_broadcast());
}

TEST_CASE("IPv6 text: parsed per RFC 4291, written per RFC 5952", "[endpoint][ipv6]") {
  // 2001:db8::1 is 20 01 0d b8, ten zero bytes, 00 01.
  const auto doc = parse_ip("2001:DB8:0:0:0:0:0:1");
  REQUIRE(doc.has_value());
  ip_address::v6_bytes expected{0x20, 0x01, 0x0d, 0xb8};
  expected[15] = 1;
  CHECK(doc->bytes() == expected);
  // RFC 5952: lower case, the longest run of zero groups as "::", no leading zeros.
  CHECK(to_string(*doc) == "2001:db8::1");
  CHECK(to_string(fd00(2)) == "fd00::2");
  CHECK(to_string(*parse_ipv6("::")) == "::");
  CHECK(to_string(*parse_ipv6("1:0:0:2:0:0:0:3")) == "1:0:0:2::3");
  CHECK(url_host(fd00(2)) == "[fd00::2]");
  CHECK(url_host(ip_address(10, 0, 0, 1)) == "10.0.0.1");
  for (std::string_view bad : {"", "1:2:3:4:5:6:7:8:9", "::1::", "fe80::1%eth0", "[::1]", "g::1", ":::", "1.2.3.4 ",
                               "12345::"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip(bad).has_value());
  }
  CHECK(parse_ip("10.0.0.7") == ip_address(10, 0, 0, 7));
}

TEST_CASE("endpoints: IPv6 in brackets, both ways", "[endpoint][ipv6]") {
  CHECK(parse_endpoint("[::1]:6969") == endpoint{.ip = *parse_ipv6("::1"), .port = 6969});
  CHECK(parse_endpoint("[::]:0") == endpoint{.ip = *parse_ipv6("::"), .port = 0});
  CHECK(parse_endpoint("[fd00::2]:51413") == endpoint{.ip = fd00(2), .port = 51413});
  CHECK(parse_endpoint("[::ffff:127.0.0.1]:80") == endpoint{.ip = {127, 0, 0, 1}, .port = 80});
  for (std::string_view bad : {"::1:80", "[::1]", "[::1]:", "[::1:80", "::1]:80", "[1.2.3.4]:80", "[fe80::1%lo]:80",
                               "[::1]:65536", "[::1]:080", "[]:80", "[ ::1]:80"}) {
    INFO(bad);
    CHECK_FALSE(parse_endpoint(bad).has_value());
  }
  CHECK(to_string(endpoint{.ip = fd00(2), .port = 6881}) == "[fd00::2]:6881");
  CHECK(to_string(endpoint{.ip = {10, 0, 0, 1}, .port = 6881}) == "10.0.0.1:6881");
  const endpoint e{.ip = fd00(9), .port = 1};
  CHECK(parse_endpoint(to_string(e)) == e);
}

TEST_CASE("tracker URLs with an IPv6 host in brackets", "[tracker][url][ipv6]") {
  {
    const auto u = parse_tracker_url("http://[fd00::1]:6969/announce");
    REQUIRE(u.has_value());
    CHECK(u->host == "[fd00::1]");  // as the Host header writes it
    CHECK(u->address == fd00(1));
    CHECK(u->port == 6969);
    CHECK(u->target == "/announce");
  }
  {
    const auto u = parse_tracker_url("udp://[::1]:1337");
    REQUIRE(u.has_value());
    CHECK(u->scheme == tracker_scheme::udp);
    CHECK(u->address == *parse_ipv6("::1"));
    CHECK(u->port == 1337);
  }
  {
    const auto u = parse_tracker_url("http://[::1]/announce");  // http's default port
    REQUIRE(u.has_value());
    CHECK(u->port == 80);
  }
  // Offsets: the host starts at 7 ("http://"), the port after "]:".
  CHECK(parse_tracker_url("http://[::1/announce").error() == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(parse_tracker_url("http://[zz::1]:80/").error() == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(parse_tracker_url("http://[fe80::1%25lo]:80/").error() == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(parse_tracker_url("http://[::1]x:80/").error() == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(parse_tracker_url("http://::1:80/").error() == tracker_error{tracker_errc::bad_url_host, 7});
  CHECK(parse_tracker_url("http://[::1]:0/").error() == tracker_error{tracker_errc::bad_url_port, 13});
  CHECK(parse_tracker_url("udp://[::1]/").error() == tracker_error{tracker_errc::bad_url_port, 11});
}

TEST_CASE("HTTP answers: peers6 read and written (BEP 7)", "[tracker][ipv6]") {
  // One IPv4 peer 10.0.0.1:6881 (0x1AE1) in "peers", one IPv6 peer [fd00::2]:51413 (0xC8D5)
  // in "peers6": 16 address bytes, then the port.
  const std::string v6 = "\xFD"s + std::string(14, '\0') + "\x02"s + "\xC8\xD5"s;
  const std::string body = "d8:intervali60e5:peers6:\x0A\x00\x00\x01\x1A\xE1"s + "6:peers618:"s + v6 + "e"s;
  const auto r = parse_announce_response(body);
  REQUIRE(r.has_value());
  REQUIRE(r->peers.size() == 2);
  CHECK(r->peers[0] == peer_endpoint{.ip = {10, 0, 0, 1}, .port = 6881});
  CHECK(r->peers[1] == peer_endpoint{.ip = fd00(2), .port = 51413});
  // What the tracker writes for the same answer is those very bytes.
  announce_response answer{.interval = std::chrono::seconds(60)};
  answer.peers = r->peers;
  CHECK(encode_announce_response(answer, peer_form::compact) == body);

  // "peers6" alone is an answer; without IPv6 peers the tracker writes no "peers6".
  const auto only6 = parse_announce_response("d8:intervali60e6:peers618:"s + v6 + "e"s);
  REQUIRE(only6.has_value());
  CHECK(only6->peers == std::vector<peer_endpoint>{{.ip = fd00(2), .port = 51413}});
  answer.peers.pop_back();
  CHECK(encode_announce_response(answer, peer_form::compact) == "d8:intervali60e5:peers6:\x0A\x00\x00\x01\x1A\xE1"s + "e");

  // A "peers6" of 17 bytes is refused at the value's start: offset 23, after the 15 bytes of
  // "d8:intervali60e" and the 8 of "6:peers6".
  const auto short6 = parse_announce_response("d8:intervali60e6:peers617:"s + v6.substr(0, 17) + "e"s);
  CHECK(short6.error() == tracker_error{tracker_errc::bad_peers_length, 23});
  const auto int6 = parse_announce_response("d8:intervali60e6:peers6i5ee"s);
  CHECK(int6.error() == tracker_error{tracker_errc::wrong_type, 23});

  // The dictionary form takes IPv6 text in "ip", and writes it so.
  const auto dict = parse_announce_response("d8:intervali60e5:peersld2:ip7:fd00::24:porti80eeee"s);
  REQUIRE(dict.has_value());
  CHECK(dict->peers == std::vector<peer_endpoint>{{.ip = fd00(2), .port = 80}});
  announce_response listed{.interval = std::chrono::seconds(60), .peers = dict->peers};
  CHECK(encode_announce_response(listed, peer_form::dictionaries) == "d8:intervali60e5:peersld2:ip7:fd00::24:porti80eeee");
}

TEST_CASE("UDP answers over IPv6 carry 18-byte peers (BEP 15)", "[tracker][udp][ipv6]") {
  // announce: action 1, transaction 8, interval 1800 (0x708), leechers 3, seeders 1, then
  // [fd00::2]:6881 (0x1AE1).
  const std::string head = "\x00\x00\x00\x01"s + "\x00\x00\x00\x08"s + "\x00\x00\x07\x08"s + "\x00\x00\x00\x03"s +
                           "\x00\x00\x00\x01"s;
  const std::string peer6 = "\xFD"s + std::string(14, '\0') + "\x02"s + "\x1A\xE1"s;
  udp_announce_response a{.transaction_id = 8, .ipv6 = true};
  a.response.interval = std::chrono::seconds(1800);
  a.response.incomplete = 3;
  a.response.complete = 1;
  // An IPv4 peer cannot be told apart from IPv6 ones in this packet: it is left out.
  a.response.peers = {{.ip = {10, 0, 0, 1}, .port = 80}, {.ip = fd00(2), .port = 6881}};
  CHECK(encode_udp_response(a) == head + peer6);
  const auto parsed = parse_udp_response(head + peer6, true);
  REQUIRE(parsed.has_value());
  REQUIRE(std::holds_alternative<udp_announce_response>(*parsed));
  const auto& back = std::get<udp_announce_response>(*parsed);
  CHECK(back.ipv6);
  CHECK(back.response.peers == std::vector<peer_endpoint>{{.ip = fd00(2), .port = 6881}});
  // Over IPv4 the same 18 bytes are three 6-byte peers; 19 bytes are refused either way.
  const auto as_v4 = parse_udp_response(head + peer6, false);
  REQUIRE(as_v4.has_value());
  CHECK(std::get<udp_announce_response>(*as_v4).response.peers.size() == 3);
  CHECK(parse_udp_response(head + peer6 + "x", true).error() == udp_error{udp_errc::bad_length, 38});
  // And an IPv4 answer leaves IPv6 peers out.
  a.ipv6 = false;
  CHECK(encode_udp_response(a) == head + "\x0A\x00\x00\x01\x00\x50"s);
}
