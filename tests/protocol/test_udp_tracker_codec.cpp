// Tests of the UDP tracker codec (BEP 15): every packet's bytes written out by hand from
// the BEP's tables (big-endian fields at fixed offsets), both directions, and the refusals.
#include "loopback/protocol/udp_tracker_codec.hpp"

#include <string>
#include <variant>

#include <catch2/catch.hpp>

using namespace p2pdist::bt;
using namespace std::string_literals;

namespace {

/// 20 bytes of `c`.
std::array<std::byte, 20> id20(char c) {
  std::array<std::byte, 20> a{};
  a.fill(static_cast<std::byte>(c));
  return a;
}

template <class T, class V>
const T& as(const V& v) {
  REQUIRE(std::holds_alternative<T>(v));
  return std::get<T>(v);
}

template <class R>
udp_error error_of(const R& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

// A connect request: the magic 0x41727101980, action 0, transaction id 0x01020304.
const std::string connect_bytes = "\x00\x00\x04\x17\x27\x10\x19\x80"s + "\x00\x00\x00\x00"s + "\x01\x02\x03\x04"s;

// An announce: connection id 0x1122334455667788, action 1, transaction 0xCAFEBABE, info-hash
// 20 × 'H', peer id 20 × 'P', downloaded 5, left 0x0100000000 (4 GiB), uploaded 7, event 2
// (started), ip 0, key 0xDEADBEEF, num_want -1, port 6881 = 0x1AE1: 98 bytes.
const std::string announce_bytes = "\x11\x22\x33\x44\x55\x66\x77\x88"s + "\x00\x00\x00\x01"s + "\xCA\xFE\xBA\xBE"s +
                                   std::string(20, 'H') + std::string(20, 'P') + "\x00\x00\x00\x00\x00\x00\x00\x05"s +
                                   "\x00\x00\x00\x01\x00\x00\x00\x00"s + "\x00\x00\x00\x00\x00\x00\x00\x07"s +
                                   "\x00\x00\x00\x02"s + "\x00\x00\x00\x00"s + "\xDE\xAD\xBE\xEF"s +
                                   "\xFF\xFF\xFF\xFF"s + "\x1A\xE1"s;

}  // namespace

TEST_CASE("udp tracker: a connect request is 16 exact bytes and parses back", "[tracker][udp]") {
  REQUIRE(connect_bytes.size() == 16);
  CHECK(encode_udp_request(udp_connect_request{0x01020304}) == connect_bytes);
  const auto parsed = parse_udp_request(connect_bytes);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_connect_request>(*parsed).transaction_id == 0x01020304);
  CHECK(udp_request_transaction(connect_bytes) == 0x01020304u);
  CHECK_FALSE(udp_request_transaction(connect_bytes.substr(0, 15)).has_value());
  // Trailing bytes are ignored (BEP 41 options may follow a request).
  CHECK(parse_udp_request(connect_bytes + "xyz").has_value());
}

TEST_CASE("udp tracker: an announce request's 98 bytes, field by field", "[tracker][udp]") {
  REQUIRE(announce_bytes.size() == 98);
  udp_announce_request r{.connection_id = 0x1122334455667788, .transaction_id = 0xCAFEBABE};
  r.request.info_hash = id20('H');
  r.request.id = id20('P');
  r.request.downloaded_bytes = 5;
  r.request.left_bytes = 0x100000000;
  r.request.uploaded_bytes = 7;
  r.request.event = announce_event::started;
  r.request.key = "\xDE\xAD\xBE\xEF"s;
  r.request.port = 6881;
  CHECK(encode_udp_request(r) == announce_bytes);

  const auto parsed = parse_udp_request(announce_bytes);
  REQUIRE(parsed.has_value());
  const auto& a = as<udp_announce_request>(*parsed);
  CHECK(a.connection_id == 0x1122334455667788);
  CHECK(a.transaction_id == 0xCAFEBABE);
  CHECK(a.request.info_hash == id20('H'));
  CHECK(a.request.id == id20('P'));
  CHECK(a.request.downloaded_bytes == 5);
  CHECK(a.request.left_bytes == 0x100000000);
  CHECK(a.request.uploaded_bytes == 7);
  CHECK(a.request.event == announce_event::started);
  CHECK_FALSE(a.request.ip.has_value());            // 0: none claimed
  CHECK(a.request.key == "\xDE\xAD\xBE\xEF"s);
  CHECK_FALSE(a.request.numwant.has_value());       // -1: the tracker's default
  CHECK(a.request.port == 6881);

  // num_want 30 and the events' codes 0..3: none, completed, started, stopped.
  std::string b = announce_bytes;
  b.replace(92, 4, "\x00\x00\x00\x1E"s);
  const announce_event events[] = {announce_event::none, announce_event::completed, announce_event::started,
                                   announce_event::stopped};
  for (char code = 0; code < 4; ++code) {
    b[83] = code;
    const auto p = parse_udp_request(b);
    REQUIRE(p.has_value());
    CHECK(as<udp_announce_request>(*p).request.event == events[static_cast<int>(code)]);
    CHECK(as<udp_announce_request>(*p).request.numwant == 30);
  }
}

TEST_CASE("udp tracker: a scrape request carries whole info-hashes after its 16 bytes", "[tracker][udp]") {
  const std::string bytes = "\x00\x00\x00\x00\x00\x00\x00\x2A"s + "\x00\x00\x00\x02"s + "\x00\x00\x00\x09"s +
                            std::string(20, 'A') + std::string(20, 'B');
  const udp_scrape_request r{.connection_id = 42, .transaction_id = 9, .info_hashes = {id20('A'), id20('B')}};
  CHECK(encode_udp_request(r) == bytes);
  const auto parsed = parse_udp_request(bytes);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_scrape_request>(*parsed) == r);

  CHECK(error_of(parse_udp_request(bytes.substr(0, 16))) == udp_error{udp_errc::too_short, 16});
  CHECK(error_of(parse_udp_request(bytes.substr(0, 55))) == udp_error{udp_errc::bad_length, 16});
  std::string many = bytes.substr(0, 16);
  for (int i = 0; i < 75; ++i) many += std::string(20, 'C');
  CHECK(error_of(parse_udp_request(many)) == udp_error{udp_errc::too_many_hashes, 16});
  many.resize(16 + 74 * 20);  // 74 is the most
  CHECK(parse_udp_request(many).has_value());
}

TEST_CASE("udp tracker: requests that are refused, with the offset of the fault", "[tracker][udp]") {
  CHECK(error_of(parse_udp_request("")) == udp_error{udp_errc::too_short, 0});
  CHECK(error_of(parse_udp_request(connect_bytes.substr(0, 15))) == udp_error{udp_errc::too_short, 15});
  std::string wrong_magic = connect_bytes;
  wrong_magic[7] = '\x81';
  CHECK(error_of(parse_udp_request(wrong_magic)) == udp_error{udp_errc::bad_protocol_id, 0});
  std::string action = connect_bytes;
  action[11] = 4;  // no action 4
  CHECK(error_of(parse_udp_request(action)) == udp_error{udp_errc::unknown_action, 8});
  action[11] = 3;  // an error is a tracker's packet, not a request
  CHECK(error_of(parse_udp_request(action)) == udp_error{udp_errc::unknown_action, 8});
  CHECK(error_of(parse_udp_request(announce_bytes.substr(0, 97))) == udp_error{udp_errc::too_short, 97});
  std::string event = announce_bytes;
  event[83] = 4;
  CHECK(error_of(parse_udp_request(event)) == udp_error{udp_errc::bad_event, 80});
  std::string port = announce_bytes;
  port[96] = port[97] = 0;
  CHECK(error_of(parse_udp_request(port)) == udp_error{udp_errc::bad_port, 96});
  CHECK(to_string(udp_errc::bad_port) == "announce with port 0");
}

TEST_CASE("udp tracker: the tracker's four answers, bytes and back", "[tracker][udp]") {
  // connect: action 0, transaction 7, connection id 0x0102030405060708.
  const std::string connect = "\x00\x00\x00\x00"s + "\x00\x00\x00\x07"s + "\x01\x02\x03\x04\x05\x06\x07\x08"s;
  CHECK(encode_udp_response(udp_connect_response{7, 0x0102030405060708}) == connect);
  auto parsed = parse_udp_response(connect);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_connect_response>(*parsed) == udp_connect_response{7, 0x0102030405060708});

  // announce: action 1, transaction 8, interval 1800 = 0x708, leechers 3, seeders 1, then
  // 127.0.0.5:6881 and 10.0.0.1:51413 (0xC8D5).
  const std::string announce = "\x00\x00\x00\x01"s + "\x00\x00\x00\x08"s + "\x00\x00\x07\x08"s + "\x00\x00\x00\x03"s +
                               "\x00\x00\x00\x01"s + "\x7F\x00\x00\x05\x1A\xE1"s + "\x0A\x00\x00\x01\xC8\xD5"s;
  udp_announce_response a{.transaction_id = 8};
  a.response.interval = std::chrono::seconds(1800);
  a.response.incomplete = 3;
  a.response.complete = 1;
  a.response.peers = {{.ip = {127, 0, 0, 5}, .port = 6881}, {.ip = {10, 0, 0, 1}, .port = 51413}};
  CHECK(encode_udp_response(a) == announce);
  parsed = parse_udp_response(announce);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_announce_response>(*parsed) == a);
  CHECK(error_of(parse_udp_response(announce.substr(0, 31))) == udp_error{udp_errc::bad_length, 26});
  CHECK(error_of(parse_udp_response(announce.substr(0, 19))) == udp_error{udp_errc::too_short, 19});
  // An interval of 0, or negative, reads as 1 s; one beyond a week as a week.
  std::string zero = announce;
  zero.replace(8, 4, "\xFF\xFF\xFF\xFF"s);
  CHECK(as<udp_announce_response>(parse_udp_response(zero).value()).response.interval == std::chrono::seconds(1));
  zero.replace(8, 4, "\x7F\xFF\xFF\xFF"s);
  CHECK(as<udp_announce_response>(parse_udp_response(zero).value()).response.interval == max_announce_interval);

  // scrape: action 2, transaction 9, then seeders 4, completed 10, leechers 2.
  const std::string scrape = "\x00\x00\x00\x02"s + "\x00\x00\x00\x09"s + "\x00\x00\x00\x04"s + "\x00\x00\x00\x0A"s +
                             "\x00\x00\x00\x02"s;
  const udp_scrape_response s{.transaction_id = 9, .entries = {{.seeders = 4, .completed = 10, .leechers = 2}}};
  CHECK(encode_udp_response(s) == scrape);
  parsed = parse_udp_response(scrape);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_scrape_response>(*parsed) == s);
  CHECK(error_of(parse_udp_response(scrape.substr(0, 19))) == udp_error{udp_errc::bad_length, 8});

  // error: action 3, transaction 10, then the message as text.
  const std::string error = "\x00\x00\x00\x03"s + "\x00\x00\x00\x0A"s + "no such torrent";
  CHECK(encode_udp_response(udp_error_response{10, "no such torrent"}) == error);
  parsed = parse_udp_response(error);
  REQUIRE(parsed.has_value());
  CHECK(as<udp_error_response>(*parsed) == udp_error_response{10, "no such torrent"});

  CHECK(error_of(parse_udp_response("\x00\x00\x00\x04\x00\x00\x00\x00"s)) == udp_error{udp_errc::unknown_action, 0});
  CHECK(error_of(parse_udp_response("\x00\x00\x00"s)) == udp_error{udp_errc::too_short, 3});
  CHECK(udp_response_transaction(connect) == 7u);
  CHECK(udp_response_transaction("\x00\x00\x00\x04\x00\x00\x00\x2A"s) == 42u);  // unknown action, still read
  CHECK_FALSE(udp_response_transaction("\x00\x00\x00\x01\x00\x00\x00"s).has_value());
  CHECK(error_of(parse_udp_response(connect.substr(0, 12))) == udp_error{udp_errc::too_short, 12});
}
