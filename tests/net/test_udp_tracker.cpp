// The UDP tracker (BEP 15) on real loopback sockets. The server: connect, announce and
// scrape from 127.0.0.x sources, connection ids that another source or a forger cannot
// use, garbage answered no longer than it came or not at all. The client (udp_announce):
// against our server, and against a fake tracker on the test thread that drops, misdirects
// and refuses, to see the retransmission schedule and the transaction checks. Every wait
// is bounded (poll(2), io_context::run_for).

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/strand.hpp>
#include <catch2/catch.hpp>

#include "loopback/net/tracker_client.hpp"
#include "loopback/net/tracker_server.hpp"
#include "loopback/protocol/udp_tracker_codec.hpp"

#include "tracker_testing.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

using namespace std::chrono_literals;
using namespace p2pdist::bt;
using namespace p2pdist::bt::test;
using udp = asio::ip::udp;

namespace {

/// A UDP socket of the test thread, bound to `from`, with bounded receives.
class udp_peer {
 public:
  explicit udp_peer(ipv4_bytes from = {127, 0, 0, 1}, std::uint16_t port = 0) : socket_(io_) {
    socket_.open(udp::v4());
    socket_.bind(udp::endpoint(asio::ip::address_v4(from), port));
    socket_.non_blocking(true);
  }
  std::uint16_t port() const { return socket_.local_endpoint().port(); }
  void send_to(std::string_view packet, std::uint16_t port, ipv4_bytes to = {127, 0, 0, 1}) {
    socket_.send_to(asio::buffer(packet.data(), packet.size()), udp::endpoint(asio::ip::address_v4(to), port));
  }
  /// The next datagram within `limit`, or nullopt; `sender` gets its source.
  std::optional<std::string> receive(std::chrono::milliseconds limit = wait_limit, udp::endpoint* sender = nullptr) {
    pollfd p{.fd = socket_.native_handle(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
    std::array<char, 4096> buf{};
    udp::endpoint from;
    std::error_code ec;
    const auto n = socket_.receive_from(asio::buffer(buf), from, 0, ec);
    if (ec) return std::nullopt;
    if (sender != nullptr) *sender = from;
    return std::string(buf.data(), n);
  }
  /// Sends `request` to the tracker and parses its answer (which must come).
  udp_response exchange(std::string_view request, std::uint16_t port) {
    send_to(request, port);
    const auto answer = receive();
    REQUIRE(answer.has_value());
    auto parsed = parse_udp_response(*answer);
    REQUIRE(parsed.has_value());
    return std::move(parsed).value();
  }
  /// A connection id from the tracker at `port`.
  std::uint64_t connect(std::uint16_t port, std::uint32_t tid = 77) {
    const auto r = exchange(encode_udp_request(udp_connect_request{tid}), port);
    REQUIRE(std::holds_alternative<udp_connect_response>(r));
    CHECK(std::get<udp_connect_response>(r).transaction_id == tid);
    return std::get<udp_connect_response>(r).connection_id;
  }

 private:
  asio::io_context io_;
  udp::socket socket_;
};

tracker_config udp_config() {
  auto c = test_config();
  c.udp = true;
  return c;
}

std::string announce_packet(std::uint64_t cid, std::uint32_t tid, int peer, std::uint16_t port, std::uint64_t left,
                            sha1_digest hash = hash_of('u')) {
  udp_announce_request r{.connection_id = cid, .transaction_id = tid};
  r.request.info_hash = hash;
  r.request.id = id_of(peer);
  r.request.port = port;
  r.request.left_bytes = left;
  r.request.event = announce_event::started;
  return encode_udp_request(r);
}

}  // namespace

TEST_CASE("udp tracker server: connect, then announce, and peers see each other's source address", "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer a({127, 0, 0, 1});
  udp_peer b({127, 0, 0, 7});

  const auto first = a.exchange(announce_packet(a.connect(tracker.port()), 1, 1, 6881, 100), tracker.port());
  REQUIRE(std::holds_alternative<udp_announce_response>(first));
  CHECK(std::get<udp_announce_response>(first).transaction_id == 1);
  CHECK(std::get<udp_announce_response>(first).response.peers.empty());
  CHECK(std::get<udp_announce_response>(first).response.interval == 5s);

  // b, a seed at 127.0.0.7 port 51413, is told of a at 127.0.0.1:6881, and a of b.
  const auto second = b.exchange(announce_packet(b.connect(tracker.port()), 2, 2, 51413, 0), tracker.port());
  REQUIRE(std::holds_alternative<udp_announce_response>(second));
  const auto& r = std::get<udp_announce_response>(second).response;
  REQUIRE(r.peers.size() == 1);
  CHECK(r.peers[0].ip == ipv4_bytes{127, 0, 0, 1});
  CHECK(r.peers[0].port == 6881);
  CHECK(r.complete == 1);
  CHECK(r.incomplete == 1);
  const auto again = a.exchange(announce_packet(a.connect(tracker.port()), 3, 1, 6881, 50), tracker.port());
  REQUIRE(std::holds_alternative<udp_announce_response>(again));
  REQUIRE(std::get<udp_announce_response>(again).response.peers.size() == 1);
  CHECK(std::get<udp_announce_response>(again).response.peers[0].ip == ipv4_bytes{127, 0, 0, 7});
  CHECK(std::get<udp_announce_response>(again).response.peers[0].port == 51413);

  // The HTTP side shares the same swarm: a scrape over HTTP counts both.
  const auto files = scrape_files(tracker.port(), "/scrape");
  REQUIRE(files.size() == 1);
  CHECK(int_at(files.begin()->second, "complete") == 1);
  CHECK(tracker.stats().announces == 3);
  CHECK(tracker.stats().udp_packets == 6);
}

TEST_CASE("udp tracker server: a connection id works only for the source it was given to", "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer honest({127, 0, 0, 1});
  udp_peer other({127, 0, 0, 2});
  const auto cid = honest.connect(tracker.port());

  // Another address with the honest peer's id, and a made-up id: an error each, no peer held.
  // (The id belongs to the address: another port of it may use it, as a new socket does.)
  for (const auto& [sender, id] : {std::pair{&other, cid}, std::pair{&honest, cid ^ 1}}) {
    const auto packet = announce_packet(id, 5, 9, 7000, 10);
    const auto r = sender->exchange(packet, tracker.port());
    REQUIRE(std::holds_alternative<udp_error_response>(r));
    CHECK(std::get<udp_error_response>(r).transaction_id == 5);
    CHECK(std::get<udp_error_response>(r).message.find("connection id") != std::string::npos);
  }
  CHECK(tracker.stats().udp_bad_connection_ids == 2);
  CHECK(tracker.stats().peers_held == 0);
  // The same id from its own source is taken.
  const auto ok = honest.exchange(announce_packet(cid, 6, 9, 7000, 10), tracker.port());
  CHECK(std::holds_alternative<udp_announce_response>(ok));
  CHECK(tracker.stats().peers_held == 1);
}

TEST_CASE("udp tracker server: scrape answers each hash asked, in order", "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer a({127, 0, 0, 1});
  udp_peer b({127, 0, 0, 3});
  REQUIRE(std::holds_alternative<udp_announce_response>(
      a.exchange(announce_packet(a.connect(tracker.port()), 1, 1, 6881, 100), tracker.port())));
  REQUIRE(std::holds_alternative<udp_announce_response>(
      b.exchange(announce_packet(b.connect(tracker.port()), 2, 2, 6882, 0), tracker.port())));
  const udp_scrape_request s{.connection_id = a.connect(tracker.port()),
                             .transaction_id = 40,
                             .info_hashes = {hash_of('z'), hash_of('u'), hash_of('u')}};
  const auto r = a.exchange(encode_udp_request(s), tracker.port());
  REQUIRE(std::holds_alternative<udp_scrape_response>(r));
  const auto& e = std::get<udp_scrape_response>(r).entries;
  REQUIRE(e.size() == 3);
  CHECK(e[0] == udp_scrape_counts{0, 0, 0});  // unknown torrent
  CHECK(e[1] == udp_scrape_counts{.seeders = 1, .completed = 0, .leechers = 1});
  CHECK(e[2] == e[1]);
  CHECK(tracker.stats().scrapes == 1);
}

TEST_CASE("udp tracker server: garbage gets no answer longer than itself, or none", "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer p;
  // Shorter than any request: nothing to answer to.
  p.send_to("hello", tracker.port());
  CHECK_FALSE(p.receive(200ms).has_value());
  // 16 bytes with an unknown action: an error for its transaction, cut to 16 bytes.
  const std::string junk = std::string("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x09\xAB\xCD\x00\x01", 16);
  p.send_to(junk, tracker.port());
  const auto answer = p.receive();
  REQUIRE(answer.has_value());
  CHECK(answer->size() == 16);
  const auto parsed = parse_udp_response(*answer);
  REQUIRE(parsed.has_value());
  REQUIRE(std::holds_alternative<udp_error_response>(*parsed));
  CHECK(std::get<udp_error_response>(*parsed).transaction_id == 0xABCD0001);
  CHECK(std::get<udp_error_response>(*parsed).message == "bad requ");
  // A connect answer is exactly as long as the connect (16 bytes).
  p.send_to(encode_udp_request(udp_connect_request{3}), tracker.port());
  const auto c = p.receive();
  REQUIRE(c.has_value());
  CHECK(c->size() == 16);
  CHECK(tracker.stats().udp_malformed == 2);
  // The HTTP side is still up.
  CHECK(get(tracker.port(), "/scrape").status == 200);
}

// ---------------------------------------------------------------------------------------
// The client

namespace {

/// Runs one udp_announce to 127.0.0.1:`port` on its own io_context (bounded) and returns
/// the outcome and how long it took.
struct client_run {
  announce_outcome outcome;
  std::chrono::milliseconds took{};
  bool finished = false;  ///< the coroutine ended within its time (checked by the caller's thread)
};

client_run run_udp_announce(std::uint16_t port, duration timeout, duration base, udp_tracker_state& state,
                            int peer = 4) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto socket = std::make_shared<udp::socket>(strand);
  announce_request request;
  request.info_hash = hash_of('u');
  request.id = id_of(peer);
  request.port = 9000;
  request.left_bytes = 10;
  request.event = announce_event::started;
  const tracker_url url{.scheme = tracker_scheme::udp, .host = "127.0.0.1", .address = {127, 0, 0, 1}, .port = port};
  client_run out;
  const auto start = steady::now();
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        out.outcome = co_await udp_announce(strand, socket, {127, 0, 0, 1}, url, request, timeout, base, state);
        out.finished = true;
      },
      asio::detached);
  io.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + 5s);
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
  return out;
}

}  // namespace

TEST_CASE("udp_announce: against our tracker, then again with the kept connection id", "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer other({127, 0, 0, 9});
  REQUIRE(std::holds_alternative<udp_announce_response>(
      other.exchange(announce_packet(other.connect(tracker.port()), 1, 1, 6881, 0), tracker.port())));
  udp_tracker_state state;
  const auto first = run_udp_announce(tracker.port(), 5s, 15s, state);
  REQUIRE(first.finished);
  REQUIRE(first.outcome.response.has_value());
  CHECK(first.outcome.error.empty());
  REQUIRE(first.outcome.response->peers.size() == 1);
  CHECK(first.outcome.response->peers[0].ip == ipv4_bytes{127, 0, 0, 9});
  CHECK(first.outcome.response->peers[0].port == 6881);
  REQUIRE(state.connection_id.has_value());
  const auto packets = tracker.stats().udp_packets;  // 2 of the other peer, connect and announce of ours
  CHECK(packets == 4);
  const auto second = run_udp_announce(tracker.port(), 5s, 15s, state);
  REQUIRE(second.outcome.response.has_value());
  CHECK(tracker.stats().udp_packets == packets + 1);  // the announce alone: the id was kept

  // A tracker that no longer takes the id (restarted, a new secret): one error, then a new
  // connect and the announce again, within the same call.
  running_tracker restarted(udp_config());
  const auto third = run_udp_announce(restarted.port(), 5s, 15s, state);
  REQUIRE(third.outcome.response.has_value());
  CHECK(restarted.stats().udp_bad_connection_ids == 1);
  CHECK(restarted.stats().udp_packets == 3);
}

TEST_CASE("udp_announce: sends again after base, then 2 x base, and ignores other transactions", "[loopback][tracker][udp]") {
  udp_peer fake;
  udp_tracker_state state;
  std::vector<steady::time_point> arrivals;
  client_run run;
  std::jthread client([&] { run = run_udp_announce(fake.port(), 10s, 100ms, state); });  // no Catch2 macro in it
  // Three connects: the first two dropped, the third answered.
  udp::endpoint from;
  std::optional<std::string> packet;
  for (int i = 0; i < 3; ++i) {
    packet = fake.receive(3s, &from);
    REQUIRE(packet.has_value());
    arrivals.push_back(steady::now());
  }
  const auto connect = parse_udp_request(*packet);
  REQUIRE(connect.has_value());
  const auto tid = std::get<udp_connect_request>(*connect).transaction_id;
  fake.send_to(encode_udp_response(udp_connect_response{tid, 0xABCDEF}), from.port());
  // The announce carries that id; an answer for another transaction and a runt are
  // ignored, an error for this one ends the announce.
  packet = fake.receive(3s, &from);
  REQUIRE(packet.has_value());
  const auto announce = parse_udp_request(*packet);
  REQUIRE(announce.has_value());
  const auto& a = std::get<udp_announce_request>(*announce);
  CHECK(a.connection_id == 0xABCDEF);
  CHECK(a.request.port == 9000);
  CHECK(a.transaction_id != tid);
  fake.send_to(encode_udp_response(udp_error_response{a.transaction_id + 1, "not yours"}), from.port());
  fake.send_to("\x00\x00", from.port());
  fake.send_to("\x00\x00\x00\x09\x00\x00\x00\x00" + std::string(8, '\0'), from.port());  // no action 9, not ours
  fake.send_to(encode_udp_response(udp_error_response{a.transaction_id, "torrent not registered"}), from.port());
  client.join();
  CHECK(run.finished);
  CHECK_FALSE(run.outcome.response.has_value());
  CHECK(run.outcome.error == "tracker: torrent not registered");
  CHECK_FALSE(state.connection_id.has_value());  // forgotten after an error
  // 100 ms, then 200 ms between the sends (the BEP's 15 s, 30 s, scaled); generous upper bounds.
  const auto gap1 = std::chrono::duration_cast<std::chrono::milliseconds>(arrivals[1] - arrivals[0]);
  const auto gap2 = std::chrono::duration_cast<std::chrono::milliseconds>(arrivals[2] - arrivals[1]);
  CHECK(gap1 >= 95ms);
  CHECK(gap1 < 1000ms);
  CHECK(gap2 >= 195ms);
  CHECK(gap2 < 2000ms);
  CHECK(udp_retransmit_wait(15s, 0) == 15s);
  CHECK(udp_retransmit_wait(15s, 8) == 3840s);
  CHECK(udp_retransmit_wait(15s, 20) == 3840s);  // n stops at 8
}

TEST_CASE("udp_announce: an answer of ours that does not parse ends the announce", "[loopback][tracker][udp]") {
  // What opentracker sends for a torrent outside its whitelist: action 1 and our transaction
  // id, nothing more (8 bytes where an announce answer has at least 20).
  udp_peer fake;
  udp_tracker_state state;
  state.connection_id = 5;
  state.obtained = std::chrono::time_point_cast<duration>(steady::now());
  client_run run;
  {
    std::jthread client([&] { run = run_udp_announce(fake.port(), 10s, 15s, state); });
    udp::endpoint from;
    const auto packet = fake.receive(3s, &from);
    REQUIRE(packet.has_value());
    const auto parsed = parse_udp_request(*packet);
    REQUIRE(parsed.has_value());
    const auto tid = std::get<udp_announce_request>(*parsed).transaction_id;
    const std::string runt{'\0', '\0', '\0', '\1', static_cast<char>(tid >> 24), static_cast<char>(tid >> 16),
                           static_cast<char>(tid >> 8), static_cast<char>(tid)};
    fake.send_to(runt, from.port());
  }
  CHECK(run.finished);
  CHECK(run.outcome.error == "bad response: packet too short at byte 8");
  CHECK(run.took < 5s);  // at once, not at the timeout
}

TEST_CASE("udp_announce: silence, or nobody listening, ends at the timeout", "[loopback][tracker][udp]") {
  udp_tracker_state state;
  {
    udp_peer silent;  // receives, never answers
    const auto r = run_udp_announce(silent.port(), 400ms, 100ms, state);
    CHECK_FALSE(r.outcome.response.has_value());
    CHECK(r.outcome.error == "timeout");
    CHECK(r.took >= 390ms);
    // Sent at 0, 100, 300 ms: three connects within 400 ms.
    int seen = 0;
    while (silent.receive(50ms)) ++seen;
    CHECK(seen == 3);
  }
  std::uint16_t closed_port = 0;
  {
    udp_peer gone;
    closed_port = gone.port();
  }
  // ICMP port unreachable comes back at once; the client waits out its schedule all the same.
  const auto r = run_udp_announce(closed_port, 300ms, 100ms, state);
  CHECK(r.outcome.error == "timeout");
  CHECK(r.took >= 290ms);
}

TEST_CASE("udp_scrape and http_scrape: one entry per torrent asked, in order, from the same swarms",
          "[loopback][tracker][udp]") {
  running_tracker tracker(udp_config());
  udp_peer seed({127, 0, 0, 4});
  REQUIRE(std::holds_alternative<udp_announce_response>(
      seed.exchange(announce_packet(seed.connect(tracker.port()), 1, 1, 6881, 0), tracker.port())));
  const std::vector<sha1_digest> asked{hash_of('q'), hash_of('u')};  // unknown, then the seed's
  asio::io_context io;
  auto strand = asio::make_strand(io);
  udp_tracker_state state;
  scrape_outcome over_udp, over_http;
  const tracker_url udp_url{.scheme = tracker_scheme::udp, .host = "127.0.0.1", .address = {127, 0, 0, 1}, .port = tracker.port()};
  const tracker_url http_url{.host = "127.0.0.1", .address = {127, 0, 0, 1}, .port = tracker.port(), .target = "/announce"};
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        over_udp = co_await udp_scrape(strand, std::make_shared<udp::socket>(strand), {127, 0, 0, 1}, udp_url, asked, 5s,
                                       15s, state);
        over_http = co_await http_scrape(strand, std::make_shared<asio::ip::tcp::socket>(strand), {127, 0, 0, 1},
                                         http_url, asked, 5s);
      },
      asio::detached);
  io.run_for(15s);
  for (const auto* o : {&over_udp, &over_http}) {
    CHECK(o->error.empty());
    REQUIRE(o->entries.size() == 2);
    CHECK(o->entries[0].info_hash == hash_of('q'));
    CHECK(o->entries[0].complete == 0);
    CHECK(o->entries[1].info_hash == hash_of('u'));
    CHECK(o->entries[1].complete == 1);
    CHECK(o->entries[1].incomplete == 0);
  }
  CHECK(tracker.stats().scrapes == 2);
}
