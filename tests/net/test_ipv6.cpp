// IPv6 on the loopback (::1): the tracker server over HTTP (peers6, BEP 7) and UDP (18-byte
// peers, BEP 15), and client instances that find each other through it, dial and accept
// IPv6 connections and move a file whole. Skipped, with the reason, where this host has no
// ::1. Every wait bounded (client_testing.hpp).
#include <asio/ip/udp.hpp>

#include "client_testing.hpp"
#include "loopback/net/swarm_table.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/net/tracker_server.hpp"

using namespace client_testing;

namespace {

const ip_address ipv6_loopback = *parse_ipv6("::1");

/// True when a socket can bind ::1 here (a host or container may run without IPv6).
bool have_ipv6_loopback() {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io);
  std::error_code ec;
  probe.open(asio::ip::tcp::v6(), ec);
  if (!ec) probe.bind({asio::ip::address_v6::loopback(), 0}, ec);
  return !ec;
}

/// One announce to `url` from ::1 (port `port`), on its own io_context, bounded.
announce_outcome announce_from_ipv6(const tracker_url& url, std::uint16_t port, char torrent) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  announce_request request;
  request.info_hash.fill(static_cast<std::byte>(torrent));
  request.id.fill(static_cast<std::byte>(port & 0xff));
  request.port = port;
  request.left_bytes = 1;
  request.event = announce_event::started;
  announce_outcome out;
  udp_tracker_state state;
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        if (url.scheme == tracker_scheme::udp) {
          out = co_await udp_announce(strand, std::make_shared<asio::ip::udp::socket>(strand), ipv6_loopback, url,
                                      request, std::chrono::seconds(5), std::chrono::seconds(15), state);
        } else {
          out = co_await http_announce(strand, std::make_shared<tcp::socket>(strand), ipv6_loopback, url, request,
                                       std::chrono::seconds(5));
        }
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  return out;
}

}  // namespace

TEST_CASE("tracker on [::1]: HTTP and UDP announces list IPv6 peers by their source address", "[loopback][tracker][ipv6]") {
  if (!have_ipv6_loopback()) {
    WARN("skipped: this host has no IPv6 loopback (::1 cannot be bound)");
    return;
  }
  asio::io_context io;
  tracker_server tracker(io, {.listen = {.ip = ipv6_loopback, .port = 0}, .udp = true});
  tracker.start();
  std::thread runner([&] { io.run_for(std::chrono::seconds(30)); });
  const std::string where = "[::1]:" + std::to_string(tracker.port());
  const auto http = parse_tracker_url("http://" + where + "/announce").value();
  const auto udp = parse_tracker_url("udp://" + where).value();

  // Three peers of one torrent announce, over HTTP, UDP, HTTP: each hears of those before.
  const auto first = announce_from_ipv6(http, 7001, 'a');
  REQUIRE(first.response.has_value());
  INFO(first.error);
  CHECK(first.response->peers.empty());
  const auto second = announce_from_ipv6(udp, 7002, 'a');
  INFO(second.error);
  REQUIRE(second.response.has_value());
  // The UDP answer went over IPv6: its peer is 18 bytes, address ::1, port 7001.
  CHECK(second.response->peers == std::vector<peer_endpoint>{{.ip = ipv6_loopback, .port = 7001}});
  const auto third = announce_from_ipv6(http, 7003, 'a');
  REQUIRE(third.response.has_value());
  REQUIRE(third.response->peers.size() == 2);
  for (const auto& p : third.response->peers) {
    CHECK(p.ip == ipv6_loopback);  // from "peers6"
    CHECK((p.port == 7001 || p.port == 7002));
  }
  CHECK(tracker.stats().peers_held == 3);
  tracker.stop();
  io.stop();
  runner.join();
}

TEST_CASE("a seed and two leechers on ::1 find each other through the tracker and complete", "[loopback][ipv6]") {
  if (!have_ipv6_loopback()) {
    WARN("skipped: this host has no IPv6 loopback (::1 cannot be bound)");
    return;
  }
  const auto data = random_bytes(2 * 1024 * 1024 + 777, 61);
  swarm s;
  tracker_server tracker(s.runner.io,
                         {.listen = {.ip = ipv6_loopback, .port = 0}, .interval = std::chrono::seconds(1), .udp = true});
  tracker.start();
  const std::string where = "[::1]:" + std::to_string(tracker.port());
  const auto t = make_torrent(data, k64, "http://" + where + "/announce");
  std::vector<std::string> seen;  // peers the seed saw connect, as "ADDR:PORT"
  std::mutex seen_mutex;
  auto& seed = s.add({.torrent = t,
                      .store = make_memory_storage(data),
                      .address = ipv6_loopback,
                      .initial = initial_data::assume_complete,
                      .on_event = [&](const client_event& e) {
                        if (e.kind != client_event_kind::peer_connected || !e.peer_ip) return;
                        const std::lock_guard lock(seen_mutex);
                        seen.push_back(to_string(endpoint{.ip = *e.peer_ip, .port = e.peer_port}));
                      }});
  seed.start();
  REQUIRE(s.wait([&] { return seed.stats().announces >= 1; }));
  std::vector<std::shared_ptr<memory_storage>> stores;
  std::vector<client*> ls;
  for (std::uint8_t i = 0; i < 2; ++i) {
    stores.push_back(make_memory_storage(data.size()));
    // One leecher announces over HTTP (the torrent's URL), the other over UDP.
    ls.push_back(&s.add({.torrent = t,
                         .store = stores.back(),
                         .address = ipv6_loopback,
                         .announce_url = i == 0 ? std::nullopt : std::optional<std::string>("udp://" + where),
                         .initial = initial_data::assume_empty,
                         .rng_seed = 40u + i}));
    ls.back()->start();
  }
  REQUIRE(s.wait([&] { return ls[0]->is_complete() && ls[1]->is_complete(); }));
  for (std::size_t i = 0; i < 2; ++i) CHECK(same_bytes(*stores[i], data));
  CHECK(ls[0]->stats().hash_failures + ls[1]->stats().hash_failures == 0);
  {
    const std::lock_guard lock(seen_mutex);
    REQUIRE_FALSE(seen.empty());
    for (const auto& p : seen) CHECK(p.rfind("[::1]:", 0) == 0);
  }
  for (auto* c : ls) REQUIRE(s.stop(*c));
  REQUIRE(s.stop(seed));
  REQUIRE(s.wait([&] { return tracker.stats().peers_held == 0; }));
  tracker.stop();
}

TEST_CASE("swarm table: an answer that carries one family spends its numwant on that family", "[tracker][ipv6]") {
  detail::swarm_table table(tracker_config{});
  std::mt19937_64 rng(7);
  announce_request request;
  request.info_hash.fill(std::byte{'s'});
  request.left_bytes = 1;
  const time_point at{std::chrono::seconds(100)};  // the table only compares times
  // Six IPv4 peers (10.0.0.1..6) and six IPv6 peers (fd00::1..6), port 7000 each.
  for (std::uint8_t i = 1; i <= 6; ++i) {
    request.port = 7000;
    request.id.fill(static_cast<std::byte>(i));
    (void)table.announce(request, ip_address(10, 0, 0, i), at, rng);
    request.id.fill(static_cast<std::byte>(100 + i));
    ip_address::v6_bytes v6{0xfd};
    v6[15] = i;
    (void)table.announce(request, ip_address::from_v6(v6), at, rng);
  }
  // An IPv6 asker wanting 5: over UDP (own family only) all 5 are IPv6; an HTTP answer
  // draws from both families, and with room for all it lists all 12.
  request.id.fill(std::byte{200});
  request.numwant = 5;
  ip_address::v6_bytes asker{0xfd};
  asker[15] = 99;
  const auto udp_answer = table.announce(request, ip_address::from_v6(asker), at, rng, true);
  REQUIRE(udp_answer.peers.size() == 5);
  for (const auto& p : udp_answer.peers) CHECK_FALSE(p.ip.is_v4());
  request.numwant = 50;
  const auto http_answer = table.announce(request, ip_address::from_v6(asker), at, rng);
  CHECK(http_answer.peers.size() == 12);
  const auto v4_count = std::count_if(http_answer.peers.begin(), http_answer.peers.end(),
                                      [](const peer_endpoint& p) { return p.ip.is_v4(); });
  CHECK(v4_count == 6);
  // An IPv4 asker over UDP hears of the six IPv4 peers only.
  request.id.fill(std::byte{201});
  const auto v4_answer = table.announce(request, ip_address(10, 0, 0, 99), at, rng, true);
  CHECK(v4_answer.peers.size() == 6);
  for (const auto& p : v4_answer.peers) CHECK(p.ip.is_v4());
}
