// The HTTP tracker server's swarms, on real loopback sockets: announces (compact and list
// peers, keys, numwant, stopped, expiry, malformed requests), scrape, and floods from one
// address. Connections, HTTP errors and garbage are tested in test_tracker_server_http.cpp;
// the helpers (a server on its own thread, a client with bounded waits) are in
// tracker_testing.hpp.

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/net/tracker_server.hpp"

#include "tracker_testing.hpp"

using namespace std::chrono_literals;
using namespace p2pdist::bt;
using namespace p2pdist::bt::test;

TEST_CASE("announce: compact peers are exact 6-byte entries, requester excluded", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  REQUIRE(port != 0);

  const bvalue first = announce(port, {.peer = 1, .port = 6881, .left_bytes = 100});
  CHECK(int_at(first, "interval") == 5);
  CHECK(string_at(first, "peers").empty());
  CHECK(int_at(first, "complete") == 0);
  CHECK(int_at(first, "incomplete") == 1);

  // A seed from 127.0.0.7, port 51413 = 0xC8D5: sees the leecher at 127.0.0.1:6881 = 0x1AE1.
  const bvalue second = announce(port, {.peer = 2, .port = 51413, .left_bytes = 0, .from = {127, 0, 0, 7}});
  CHECK(string_at(second, "peers") == std::string("\x7f\x00\x00\x01\x1a\xe1", 6));
  CHECK(int_at(second, "complete") == 1);
  CHECK(int_at(second, "incomplete") == 1);

  const bvalue again = announce(port, {.peer = 1, .port = 6881, .left_bytes = 50, .event = announce_event::none});
  CHECK(string_at(again, "peers") == std::string("\x7f\x00\x00\x07\xc8\xd5", 6));
  CHECK(tracker.stats().peers_held == 2);
  CHECK(tracker.stats().torrents == 1);
  CHECK(tracker.stats().announces == 3);
}

TEST_CASE("announce: list form with compact=0 holds ip, port and peer id", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  announce(tracker.port(), {.peer = 1, .port = 7001, .from = {127, 0, 0, 21}});
  const bvalue r = announce(tracker.port(), {.peer = 2, .port = 7002, .compact = false});
  const bvalue* peers = r.find("peers");
  REQUIRE(peers != nullptr);
  REQUIRE(peers->is_list());
  REQUIRE(peers->as_list()->size() == 1);
  const bvalue& p = peers->as_list()->front();
  CHECK(string_at(p, "ip") == "127.0.0.21");
  CHECK(int_at(p, "port") == 7001);
  CHECK(string_at(p, "peer id") == id_string(id_of(1)));
}

TEST_CASE("announce: the address is the connection's, ip= is ignored", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  announce(tracker.port(), {.peer = 1, .port = 7001, .ip = "10.1.2.3", .from = {127, 0, 0, 9}});
  const bvalue r = announce(tracker.port(), {.peer = 2, .port = 7002});
  CHECK(compact_peers(r) == std::set<std::string>{entry({127, 0, 0, 9}, 7001)});
}

TEST_CASE("announce: peers are kept by (address, port)", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  announce(port, {.peer = 2, .port = 7001, .from = {127, 0, 0, 2}});  // same port, other address
  announce(port, {.peer = 3, .port = 7002});                          // same address, other port
  announce(port, {.peer = 4, .port = 7001});  // (127.0.0.1, 7001) again, with a new id: replaces
  CHECK(tracker.stats().peers_held == 3);
  const bvalue r = announce(port, {.peer = 9, .port = 7009, .compact = false});
  std::set<std::string> ids;
  for (const bvalue& p : *r.find("peers")->as_list()) ids.insert(string_at(p, "peer id"));
  CHECK(ids == std::set<std::string>{id_string(id_of(2)), id_string(id_of(3)), id_string(id_of(4))});
}

TEST_CASE("announce: numwant and max_peers_returned bound the peers, chosen at random",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_returned = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  std::set<std::string> everyone;
  for (int i = 0; i < 6; ++i) {
    const auto p = static_cast<std::uint16_t>(7001 + i);
    announce(port, {.peer = i, .port = p});
    everyone.insert(entry({127, 0, 0, 1}, p));
  }
  const announce_args me{.peer = 99, .port = 7099, .event = announce_event::none};
  const std::string self = entry({127, 0, 0, 1}, 7099);

  auto with_numwant = [&](std::optional<int> n) {
    announce_args a = me;
    a.numwant = n;
    return compact_peers(announce(port, a));
  };
  const auto two = with_numwant(2);
  CHECK(two.size() == 2);
  for (const auto& e : two) CHECK(everyone.count(e) == 1);
  CHECK(with_numwant(0).empty());
  CHECK(with_numwant(std::nullopt).size() == 3);  // default 50, capped at 3
  CHECK(with_numwant(100).size() == 3);

  // One peer out of six, 30 times: a fixed choice would give one peer every time.
  std::set<std::string> seen;
  for (int i = 0; i < 30; ++i) {
    const auto one = with_numwant(1);
    REQUIRE(one.size() == 1);
    CHECK(one.count(self) == 0);
    seen.insert(*one.begin());
  }
  CHECK(seen.size() >= 3);
}

TEST_CASE("announce: stopped removes the peer", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  announce(port, {.peer = 2, .port = 7002});
  REQUIRE(tracker.stats().peers_held == 2);
  const bvalue bye = announce(port, {.peer = 1, .port = 7001, .event = announce_event::stopped});
  CHECK(string_at(bye, "peers").empty());
  CHECK(tracker.stats().peers_held == 1);
  const bvalue r = announce(port, {.peer = 2, .port = 7002, .event = announce_event::none});
  CHECK(string_at(r, "peers").empty());
  CHECK(int_at(r, "incomplete") == 1);
  announce(port, {.peer = 2, .port = 7002, .event = announce_event::stopped});
  CHECK(tracker.stats().peers_held == 0);
  CHECK(tracker.stats().torrents == 0);
}

TEST_CASE("announce: two torrents are kept apart", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.info_hash = hash_of('a'), .peer = 1, .port = 7001});
  announce(port, {.info_hash = hash_of('b'), .peer = 2, .port = 7002});
  const bvalue a = announce(port, {.info_hash = hash_of('a'), .peer = 3, .port = 7003});
  const bvalue b = announce(port, {.info_hash = hash_of('b'), .peer = 4, .port = 7004});
  CHECK(compact_peers(a) == std::set<std::string>{entry({127, 0, 0, 1}, 7001)});
  CHECK(compact_peers(b) == std::set<std::string>{entry({127, 0, 0, 1}, 7002)});
  CHECK(tracker.stats().torrents == 2);
}

TEST_CASE("announce: a peer not heard from for peer_expiry is dropped", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.peer_expiry = 400ms;
  running_tracker tracker(config);
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  const bvalue fresh = announce(port, {.peer = 2, .port = 7002});
  CHECK(compact_peers(fresh) == std::set<std::string>{entry({127, 0, 0, 1}, 7001)});

  // Peer 2 keeps announcing; peer 1 falls silent and must disappear from its answers.
  const announce_args refresh{.peer = 2, .port = 7002, .event = announce_event::none};
  CHECK(eventually([&] { return compact_peers(announce(port, refresh)).empty(); }));
  const bvalue third = announce(port, {.peer = 3, .port = 7003});
  CHECK(compact_peers(third) == std::set<std::string>{entry({127, 0, 0, 1}, 7002)});
  // With nobody announcing, the periodic sweep empties the tracker.
  CHECK(eventually([&] { return tracker.stats().peers_held == 0 && tracker.stats().torrents == 0; }));
}

TEST_CASE("announce: a malformed request gets a bencoded failure reason", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const std::string good = target_for({.peer = 1});

  auto failure_of = [&](const std::string& target) {
    const http_reply reply = get(port, target);
    REQUIRE(reply.status == 200);
    auto body = bdecode(reply.body);
    REQUIRE(body.has_value());
    CHECK(body->find("peers") == nullptr);
    return string_at(*body, "failure reason");
  };

  // Drop info_hash: the target without its first parameter.
  const std::size_t amp = good.find('&');
  REQUIRE(good.rfind("/announce?info_hash=", 0) == 0);
  CHECK_THAT(failure_of("/announce?" + good.substr(amp + 1)), Catch::Contains("missing info_hash"));
  CHECK_THAT(failure_of(good + "&port=%zz"), Catch::Contains("invalid percent escape"));
  CHECK_THAT(failure_of("/announce?info_hash=%zz"), Catch::Contains("invalid percent escape"));
  CHECK_THAT(failure_of("/announce"), Catch::Contains("missing info_hash"));
  std::string bad_compact = good;
  const std::size_t compact_at = bad_compact.find("compact=1");
  REQUIRE(compact_at != std::string::npos);
  bad_compact[compact_at + 8] = '2';
  CHECK_THAT(failure_of(bad_compact), Catch::Contains("compact is not 0 or 1"));
  CHECK_THAT(failure_of(good + "&port=1"), Catch::Contains("parameter given twice"));
  CHECK(tracker.stats().failures == 6);
  CHECK(tracker.stats().peers_held == 0);

  // Parameters the tracker does not know are ignored; key, ip and event are not required.
  const http_reply ok = get(port, good + "&supportcrypto=1&no_peer_id=1&corrupt=0");
  REQUIRE(ok.status == 200);
  auto body = bdecode(ok.body);
  REQUIRE(body.has_value());
  CHECK(body->find("failure reason") == nullptr);
  CHECK(int_at(*body, "interval") == 5);
  CHECK(tracker.stats().peers_held == 1);
}

TEST_CASE("scrape: complete, downloaded and incomplete per torrent", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001, .left_bytes = 10});
  announce(port, {.peer = 2, .port = 7002, .left_bytes = 0});  // a seed from the start
  announce(port, {.peer = 3, .port = 7003, .left_bytes = 10});
  announce(port, {.peer = 3, .port = 7003, .left_bytes = 0, .event = announce_event::completed});
  announce(port, {.info_hash = hash_of('b'), .peer = 4, .port = 7004});

  auto files_of = [&](const std::string& target) { return scrape_files(port, target); };
  const std::string a(20, 'a'), b(20, 'b'), z(20, 'z');
  const auto one = files_of("/scrape?info_hash=" + percent_encode(a) + "&info_hash=" + percent_encode(z));
  REQUIRE(one.size() == 2);
  CHECK(int_at(one.at(a), "complete") == 2);
  CHECK(int_at(one.at(a), "incomplete") == 1);
  CHECK(int_at(one.at(a), "downloaded") == 1);
  CHECK(int_at(one.at(z), "complete") == 0);
  CHECK(int_at(one.at(z), "incomplete") == 0);

  const auto all = files_of("/scrape");
  REQUIRE(all.size() == 2);
  CHECK(int_at(all.at(b), "incomplete") == 1);
  CHECK(int_at(all.at(b), "downloaded") == 0);
  CHECK(tracker.stats().scrapes == 2);

  const http_reply bad = get(port, "/scrape?info_hash=%zz");
  REQUIRE(bad.status == 200);
  CHECK(bad.body.find("failure reason") != std::string::npos);
}

// ---- flood: announces from one address ---------------------------------------------------

TEST_CASE("flood: an address past max_peers_per_address replaces its own oldest peers", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_address = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66}, honest{127, 0, 0, 2};
  announce(port, {.peer = 50, .port = 7100, .from = honest});
  for (int i = 1; i <= 5; ++i) {
    announce(port, {.peer = i, .port = static_cast<std::uint16_t>(7000 + i), .from = flooder});
  }
  // 7001 and 7002 were the flooder's least recently announced when 7004 and 7005 came.
  CHECK(tracker.stats().peers_held == 4);
  CHECK(tracker.stats().peers_evicted == 2);
  const bvalue fresh = announce(port, {.peer = 60, .port = 7200, .from = {127, 0, 0, 3}});
  CHECK(compact_peers(fresh) == std::set<std::string>{entry(honest, 7100), entry(flooder, 7003),
                                                      entry(flooder, 7004), entry(flooder, 7005)});
  // A re-announce refreshes: 7003 is now the flooder's newest, so 7004 goes next.
  announce(port, {.peer = 3, .port = 7003, .event = announce_event::none, .from = flooder});
  announce(port, {.peer = 6, .port = 7006, .from = flooder});
  const bvalue after = announce(port, {.peer = 60, .port = 7200, .event = announce_event::none,
                                       .from = {127, 0, 0, 3}});
  CHECK(compact_peers(after) == std::set<std::string>{entry(honest, 7100), entry(flooder, 7003),
                                                      entry(flooder, 7005), entry(flooder, 7006)});
  // Other addresses are untouched by the cap.
  CHECK(tracker.stats().peers_held == 5);
}

TEST_CASE("flood: announces for random torrents from one address keep the tables bounded",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_address = 4;
  running_tracker tracker(config);
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66};
  announce(port, {.info_hash = hash_of('a'), .peer = 1, .port = 7001, .from = {127, 0, 0, 2}});
  for (int i = 0; i < 20; ++i) {
    announce(port, {.info_hash = hash_of(static_cast<char>('A' + i)), .peer = 2 + i, .port = 7002, .from = flooder});
  }
  // The honest torrent and the flooder's last four remain; each evicted peer took its
  // (otherwise empty) torrent with it.
  CHECK(tracker.stats().torrents == 5);
  CHECK(tracker.stats().peers_held == 5);
  CHECK(tracker.stats().peers_evicted == 16);
  const auto files = scrape_files(port, "/scrape?info_hash=" + percent_encode(std::string(20, 'a')) +
                                             "&info_hash=" + percent_encode(std::string(20, 'A')) +
                                             "&info_hash=" + percent_encode(std::string(20, 'A' + 19)));
  CHECK(int_at(files.at(std::string(20, 'a')), "incomplete") == 1);
  CHECK(int_at(files.at(std::string(20, 'A')), "incomplete") == 0);
  CHECK(int_at(files.at(std::string(20, 'A' + 19)), "incomplete") == 1);
}

TEST_CASE("flood: an answer spreads its peers over addresses, so fake ports cannot crowd others out",
          "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66}, seed{127, 0, 0, 2}, leecher{127, 0, 0, 3};
  announce(port, {.peer = 1, .port = 7100, .left_bytes = 0, .from = seed});
  announce(port, {.peer = 2, .port = 7200, .from = leecher});
  std::set<std::string> fakes;
  for (int i = 0; i < 200; ++i) {
    const auto p = static_cast<std::uint16_t>(20000 + i);
    announce(port, {.peer = 100 + i, .port = p, .from = flooder});
    fakes.insert(entry(flooder, p));
  }
  REQUIRE(tracker.stats().peers_held == 202);
  // Three addresses besides the asker's: a round gives one peer of each, so five peers are
  // the seed, the leecher and three fakes (drawn uniformly, one of 202 would hold the
  // seed and the leecher together with probability 5 * 4 / (202 * 201), about 0.05 %).
  for (int round = 0; round < 5; ++round) {
    const bvalue r = announce(port, {.peer = 9, .port = 7300, .numwant = 5, .from = {127, 0, 0, 4}});
    const auto got = compact_peers(r);
    CHECK(got.size() == 5);
    CHECK(got.count(entry(seed, 7100)) == 1);
    CHECK(got.count(entry(leecher, 7200)) == 1);
    std::size_t fake = 0;
    for (const auto& e : got) fake += fakes.count(e);
    CHECK(fake == 3);
  }
}

// ---- flood: announces from many addresses ------------------------------------------------

TEST_CASE("flood: many addresses of one range replace that range's own oldest peers", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_range = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  const ipv4_bytes honest{127, 0, 0, 2};
  announce(port, {.peer = 50, .port = 7100, .from = honest});
  // Five addresses of 127.0.9.0/24, one peer each: the range holds three, the newest.
  for (std::uint8_t i = 1; i <= 5; ++i) announce(port, {.peer = i, .port = 7000, .from = {127, 0, 9, i}});
  CHECK(tracker.stats().peers_held == 4);
  CHECK(tracker.stats().peers_evicted == 2);
  const bvalue fresh = announce(port, {.peer = 60, .port = 7200, .from = {127, 0, 0, 3}});
  CHECK(compact_peers(fresh) == std::set<std::string>{entry(honest, 7100), entry({127, 0, 9, 3}, 7000),
                                                      entry({127, 0, 9, 4}, 7000), entry({127, 0, 9, 5}, 7000)});
}

TEST_CASE("flood: a full torrent takes a newcomer in place of its least recently announced peer",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_torrent = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  // Three peers from three ranges fill the torrent; the first re-announces, so the second
  // is now the least recently announced.
  for (std::uint8_t r = 1; r <= 3; ++r) announce(port, {.peer = r, .port = 7000, .from = {127, 0, r, 1}});
  announce(port, {.peer = 1, .port = 7000, .event = announce_event::none, .from = {127, 0, 1, 1}});
  const bvalue newcomer = announce(port, {.peer = 4, .port = 7000, .from = {127, 0, 4, 1}});
  CHECK(newcomer.find("failure reason") == nullptr);
  CHECK(compact_peers(newcomer) == std::set<std::string>{entry({127, 0, 1, 1}, 7000), entry({127, 0, 3, 1}, 7000)});
  CHECK(tracker.stats().peers_held == 3);
  CHECK(tracker.stats().peers_evicted == 1);
}

TEST_CASE("flood: max_peers bounds the whole table whatever ranges announce", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers = 5;
  running_tracker tracker(config);
  const auto port = tracker.port();
  // Twenty torrents from twenty /24 ranges (each under every per-address, per-range and
  // per-torrent cap): the table keeps the five newest peers, and only their torrents.
  for (int i = 0; i < 20; ++i) {
    const auto r = static_cast<std::uint8_t>(10 + i);
    announce(port, {.info_hash = hash_of(static_cast<char>('A' + i)), .peer = 1 + i, .port = 7000,
                    .from = {127, 0, r, 1}});
  }
  CHECK(tracker.stats().peers_held == 5);
  CHECK(tracker.stats().torrents == 5);
  CHECK(tracker.stats().peers_evicted == 15);
  const auto files = scrape_files(port, "/scrape");
  CHECK(files.size() == 5);
  for (int i = 15; i < 20; ++i) CHECK(files.count(std::string(20, static_cast<char>('A' + i))) == 1);
}
