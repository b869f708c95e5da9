// The sans-IO session scripted by hand: inputs with the time, outputs checked one by one.
// Torrent: 4 pieces, 32 KiB each (two 16 KiB blocks) but the last, 16 KiB (one block).

#include "loopback/core/session.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <tuple>

#include "session_script.hpp"

namespace {

using namespace p2pdist;
using namespace std::chrono_literals;
using test::script;
using test::started;

// Delivers every request outstanding on `conn` (as the peer would answer them), returning
// the check_piece outputs they caused.
std::vector<bt::out::check_piece> answer_requests(script& sc, bt::peer_key conn, std::vector<bt::msg::request> requests) {
  for (const auto& r : requests) {
    const auto p = test::zero_block(r);
    CHECK(sc.s.handle_block(conn, p, sc.now));
    sc.drain();
  }
  return sc.take<bt::out::check_piece>();
}

}  // namespace

TEST_CASE("a seed greets a peer, unchokes it when interested and queues what it asks", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true);
  const auto key = sc.accept_peer(10, 0xAA);
  const auto hs = sc.sent<bt::handshake>(key);
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].info_hash == torrent->info_hash);
  CHECK(hs[0].id == sc.s.id());
  const auto bf = sc.sent<bt::msg::bitfield>(key);
  REQUIRE(bf.size() == 1);
  CHECK(bf[0].pieces.all());
  CHECK(sc.events(bt::client_event_kind::peer_connected).size() == 1);

  sc.message(key, bt::msg::interested{});
  CHECK(sc.sent<bt::msg::unchoke>(key).size() == 1);  // four regular slots, all free

  sc.message(key, bt::msg::request{.index = 1, .begin = 16384, .length = 16384});
  CHECK(sc.take<bt::out::upload_changed>().size() == 1);
  CHECK(sc.s.upload_queued_bytes(key) == 16384 + 13);  // a piece message: 13-byte header + block
  const auto b = sc.s.take_upload(key, sc.now);
  REQUIRE(b);
  CHECK(*b == bt::block_request{.piece = 1, .begin = 16384, .length = 16384});
  CHECK(sc.s.upload_queued_bytes(key) == 0);
  sc.s.handle_block_sent(key, *b, sc.now);
  CHECK(sc.s.stats().payload_up_bytes == 16384);
}

TEST_CASE("requests from a choked peer, and for pieces we lack, are ignored", "[session]") {
  const auto torrent = test::small_torrent();
  auto seed = started(torrent, true);
  for (std::uint8_t i = 0; i < 4; ++i)  // the four slots
    (void)seed.accept_peer(static_cast<std::uint8_t>(20 + i), static_cast<std::uint8_t>(0xC0 + i));
  const auto a = seed.accept_peer(10, 0xAA);
  REQUIRE(seed.sent<bt::msg::unchoke>(a).empty());
  seed.message(a, bt::msg::request{.index = 0, .begin = 0, .length = 16384});  // we choke it
  CHECK(seed.s.upload_queued_bytes(a) == 0);
  CHECK(seed.take<bt::out::upload_changed>().empty());

  auto leecher = started(torrent, false);
  const auto b = leecher.accept_peer(11, 0xBB);
  leecher.message(b, bt::msg::interested{});
  CHECK(leecher.sent<bt::msg::unchoke>(b).size() == 1);
  leecher.message(b, bt::msg::request{.index = 0, .begin = 0, .length = 16384});  // we have nothing
  CHECK(leecher.s.upload_queued_bytes(b) == 0);
}

TEST_CASE("the first peers are unchoked before they are interested, within the regular slots", "[session]") {
  // Each would otherwise wait a round trip more at the start: `interested` out, `unchoke` back.
  const auto torrent = test::small_torrent();
  auto seed = started(torrent, true);
  std::vector<bt::peer_key> peers;
  for (std::uint8_t i = 0; i < 6; ++i)
    peers.push_back(seed.accept_peer(static_cast<std::uint8_t>(20 + i), static_cast<std::uint8_t>(0xC0 + i)));
  for (std::size_t i = 0; i < peers.size(); ++i) {
    INFO("peer " << i);
    CHECK(seed.sent<bt::msg::unchoke>(peers[i]).size() == (i < 4 ? 1u : 0u));  // four regular slots
  }
  // One unchoked ahead asks at once; the fifth, interested, takes a slot (the four are not
  // interested, so they hold none): at most the slots plus the optimistic one serve.
  seed.message(peers[0], bt::msg::interested{});
  seed.message(peers[0], bt::msg::request{.index = 0, .begin = 0, .length = 16384});
  CHECK(seed.s.upload_queued_bytes(peers[0]) == 16384 + 13);
  seed.message(peers[4], bt::msg::interested{});
  CHECK(seed.sent<bt::msg::unchoke>(peers[4]).size() == 1);
}

TEST_CASE("a choke voids our requests there, and each gets a cancel behind it", "[session]") {
  // A peer that chokes us and unchokes us again before our requests reach it would serve
  // them: the cancels, sent behind the requests on the same connection, stop that.
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false);
  const auto key = sc.accept_peer(2, 0xBB);
  sc.message(key, bt::msg::bitfield{bt::bitfield(4, true)});
  sc.message(key, bt::msg::unchoke{});
  const auto requests = sc.sent<bt::msg::request>(key);
  REQUIRE(requests.size() == 7);  // every block: 3 pieces of 2 blocks and the last of 1

  // One block arrives before the choke: 6 requests are still out when it comes.
  const auto first = test::zero_block(requests[0]);
  CHECK(sc.s.handle_block(key, first, sc.now));
  sc.drain();
  (void)sc.sent<bt::msg::request>(key);  // the pipeline's refill, if any
  sc.message(key, bt::msg::choke{});
  const auto cancels = sc.sent<bt::msg::cancel>(key);
  CHECK(cancels.size() == 6);
  std::set<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> asked, cancelled;
  for (std::size_t i = 1; i < requests.size(); ++i) asked.insert({requests[i].index, requests[i].begin, requests[i].length});
  for (const auto& c : cancels) cancelled.insert({c.index, c.begin, c.length});
  CHECK(cancelled == asked);

  // Choked, we ask nothing; a block of a voided request that comes anyway is not used.
  CHECK(sc.sent<bt::msg::request>(key).empty());
  const auto late = test::zero_block(requests[1]);
  CHECK_FALSE(sc.s.handle_block(key, late, sc.now));
  // Unchoked again, the blocks are asked for anew, and a second choke cancels only those.
  sc.message(key, bt::msg::unchoke{});
  const auto again = sc.sent<bt::msg::request>(key);
  CHECK(again.size() == 6);
  sc.message(key, bt::msg::choke{});
  CHECK(sc.sent<bt::msg::cancel>(key).size() == again.size());
  sc.message(key, bt::msg::choke{});  // a repeated choke has nothing left to cancel
  CHECK(sc.sent<bt::msg::cancel>(key).empty());
}

TEST_CASE("a leecher asks for every block once unchoked, a peer silent for request_timeout is snubbed",
          "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false, {.request_timeout = 20s});
  const auto key = sc.accept_peer(2, 0xBB);
  sc.message(key, bt::msg::bitfield{bt::bitfield(4, true)});
  CHECK(sc.sent<bt::msg::interested>(key).size() == 1);
  CHECK(sc.sent<bt::msg::request>(key).empty());  // still choked

  sc.message(key, bt::msg::unchoke{});
  const auto requests = sc.sent<bt::msg::request>(key);
  CHECK(requests.size() == 7);  // 3 × 2 + 1 blocks, within the pipeline of 16
  std::set<std::pair<std::uint32_t, std::uint32_t>> distinct;
  for (const auto& r : requests) distinct.insert({r.index, r.begin});
  CHECK(distinct.size() == 7);

  sc.advance(19s);
  CHECK(sc.sent<bt::msg::cancel>(key).empty());
  sc.advance(2s);  // 21 s without a block
  CHECK(sc.sent<bt::msg::cancel>(key).size() == 7);
  CHECK(sc.s.stats().snubs == 1);
  CHECK(sc.sent<bt::msg::request>(key).size() == 1);  // a snubbed peer keeps one request
}

TEST_CASE("two pieces failed by one sender: struck twice, banned, its connection closed", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false, {.max_hash_failures = 2});
  const auto liar = sc.accept_peer(7, 0xCC);
  sc.message(liar, bt::msg::bitfield{bt::bitfield(4, true)});
  sc.message(liar, bt::msg::unchoke{});
  const auto checks = answer_requests(sc, liar, sc.sent<bt::msg::request>(liar));
  REQUIRE(checks.size() == 4);
  const std::array<std::uint64_t, 2> prints{1, 1};
  sc.s.handle_piece_checked(checks[0].piece, bt::piece_verdict::failed, prints, sc.now);
  sc.drain();
  CHECK(sc.events(bt::client_event_kind::hash_failed).size() == 1);
  CHECK(sc.events(bt::client_event_kind::peer_banned).empty());
  sc.s.handle_piece_checked(checks[1].piece, bt::piece_verdict::failed, prints, sc.now);
  sc.drain();
  CHECK(sc.events(bt::client_event_kind::peer_banned).size() == 1);
  const auto closes = sc.take<bt::out::close>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].conn == liar);
  CHECK(sc.s.stats().hash_failures == 2);
  CHECK(sc.s.stats().peers_banned == 1);
  // A banned address cannot come back.
  CHECK_FALSE(sc.s.handle_accept({.ip = {127, 0, 0, 7}, .port = 50001}, sc.now));
}

TEST_CASE("a piece failed by two senders is fetched from one alone, the check then names the liar",
          "[session]") {
  const auto torrent = test::small_torrent(1, true);  // one piece of two blocks
  bt::session_config c{.max_hash_failures = 1};
  c.picker.pipeline_depth = 1;
  auto sc = started(torrent, false, c);
  const auto honest = sc.accept_peer(7, 0xA1);
  const auto liar = sc.accept_peer(8, 0xB2);
  for (const auto k : {honest, liar}) sc.message(k, bt::msg::bitfield{bt::bitfield(1, true)});
  // The driver's view of the bytes: the honest peer's blocks hash to 1, the liar's to 90 + block.
  std::vector<std::uint64_t> prints(2, 0);
  auto answer = [&](bt::peer_key k) {
    for (const auto& r : sc.sent<bt::msg::request>(k)) {
      const auto p = test::zero_block(r);
      if (sc.s.handle_block(k, p, sc.now))  // false: an end-game duplicate, cancelled meanwhile
        prints[r.begin / bt::block_bytes] = k == honest ? 1 : 90 + r.begin / bt::block_bytes;
      sc.drain();
    }
    return sc.take<bt::out::check_piece>();
  };
  auto verdict = [&] {
    return prints == std::vector<std::uint64_t>{1, 1} ? bt::piece_verdict::passed : bt::piece_verdict::failed;
  };
  sc.message(honest, bt::msg::unchoke{});
  sc.message(liar, bt::msg::unchoke{});  // the begun piece's other block goes to the liar
  CHECK(answer(honest).empty());
  auto checks = answer(liar);
  REQUIRE(checks.size() == 1);
  sc.s.handle_piece_checked(0, verdict(), prints, sc.now);
  sc.drain();
  CHECK(sc.s.stats().hash_failures == 1);
  CHECK(sc.s.stats().peers_banned == 0);  // two senders: nobody can be blamed yet
  // Now one peer fetches the whole piece; whichever it is, the next check settles it.
  for (int round = 0; round < 4 && sc.s.stats().peers_banned == 0; ++round) {
    for (const auto k : {honest, liar}) {
      for (const auto& c2 : answer(k)) {
        sc.s.handle_piece_checked(c2.piece, verdict(), prints, sc.now);
        sc.drain();
      }
    }
  }
  CHECK(sc.s.stats().peers_banned == 1);
  const auto closes = sc.take<bt::out::close>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].conn == liar);
}

TEST_CASE("announces: started at once, backoff after a failure, the tracker's interval, stopped on stop",
          "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false, {.has_tracker = true, .tracker_retry_min = 1s, .tracker_retry_max = 60s});
  auto a = sc.take<bt::out::announce>();
  REQUIRE(a.size() == 1);
  CHECK(a[0].request.event == bt::announce_event::started);
  CHECK(a[0].request.left_bytes == torrent->total_bytes);
  CHECK(a[0].request.port == 6881);

  sc.s.handle_announce(std::nullopt, "timeout", sc.now);
  sc.drain();
  CHECK(sc.events(bt::client_event_kind::tracker_failed).size() == 1);
  sc.advance(900ms);
  CHECK(sc.take<bt::out::announce>().empty());
  sc.advance(100ms);  // the first backoff: 1 s
  a = sc.take<bt::out::announce>();
  REQUIRE(a.size() == 1);
  CHECK(a[0].request.event == bt::announce_event::started);  // still not announced

  const bt::announce_response reply{.interval = 30s, .peers = {{.ip = {127, 0, 0, 9}, .port = 7000}}};
  sc.s.handle_announce(reply, {}, sc.now);
  sc.drain();
  CHECK(sc.events(bt::client_event_kind::tracker_announced).size() == 1);
  const auto dials = sc.take<bt::out::dial>();
  REQUIRE(dials.size() == 1);
  CHECK(dials[0].remote == bt::endpoint{.ip = {127, 0, 0, 9}, .port = 7000});
  sc.advance(29s);
  CHECK(sc.take<bt::out::announce>().empty());
  sc.advance(1s);
  a = sc.take<bt::out::announce>();
  REQUIRE(a.size() == 1);
  CHECK(a[0].request.event == bt::announce_event::none);
  sc.s.handle_announce(reply, {}, sc.now);
  sc.drain();

  sc.s.stop(sc.now);
  sc.drain();
  a = sc.take<bt::out::announce>();
  REQUIRE(a.size() == 1);
  CHECK(a[0].request.event == bt::announce_event::stopped);
  CHECK(sc.take<bt::out::close>().size() == 1);  // the dialed connection
}

namespace {

// A leecher with a tracker (its `started` answered) that one seed completes: the seed's key.
bt::peer_key complete_from_one_seed(script& sc) {
  (void)sc.take<bt::out::announce>();
  sc.s.handle_announce(bt::announce_response{.interval = 60s}, {}, sc.now);
  sc.drain();
  const auto seed = sc.accept_peer(2, 0xDD);
  sc.message(seed, bt::msg::bitfield{bt::bitfield(4, true)});
  sc.message(seed, bt::msg::unchoke{});
  for (const auto& c : answer_requests(sc, seed, sc.sent<bt::msg::request>(seed)))
    sc.s.handle_piece_checked(c.piece, bt::piece_verdict::passed, {}, sc.now);
  sc.drain();
  return seed;
}

}  // namespace

TEST_CASE("a download that completes announces `completed` at once and stops wanting", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, false, {.has_tracker = true});
  const auto seed = complete_from_one_seed(sc);
  CHECK(sc.s.complete());
  CHECK(sc.events(bt::client_event_kind::piece_verified).size() == 4);
  CHECK(sc.events(bt::client_event_kind::completed).size() == 1);
  CHECK(sc.sent<bt::msg::have>(seed).empty());  // it holds every piece: no `have` is of use to it
  CHECK(sc.sent<bt::msg::not_interested>(seed).size() == 1);
  const auto a = sc.take<bt::out::announce>();
  REQUIRE(a.size() == 1);
  CHECK(a[0].request.event == bt::announce_event::completed);
  CHECK(a[0].request.left_bytes == 0);
  CHECK(a[0].request.downloaded_bytes == torrent->total_bytes);
}

namespace {

// A leecher that leaves once complete (seed_when_complete false), completed by one seed;
// the stop it asks for is not carried out yet.
script completed_leaver(const std::shared_ptr<const bt::metainfo>& torrent) {
  auto sc = started(torrent, false, {.has_tracker = true, .seed_when_complete = false});
  (void)complete_from_one_seed(sc);
  REQUIRE(sc.s.complete());
  REQUIRE(sc.take<bt::out::stop>().size() == 1);
  REQUIRE(sc.take<bt::out::announce>().empty());  // `completed` comes with the stop
  return sc;
}

// The one announce out now: its event.
std::optional<bt::announce_event> next_announce(script& sc) {
  const auto a = sc.take<bt::out::announce>();
  if (a.size() != 1) return std::nullopt;
  return a[0].request.event;
}

}  // namespace

TEST_CASE("a download that leaves once complete announces `completed`, then `stopped`", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = completed_leaver(torrent);
  sc.s.stop(sc.now);  // the driver carries out the stop
  sc.drain();
  CHECK(next_announce(sc) == bt::announce_event::completed);
  SECTION("answered") { sc.s.handle_announce(bt::announce_response{.interval = 60s}, {}, sc.now); }
  SECTION("failed: not tried again") { sc.s.handle_announce(std::nullopt, "timeout", sc.now); }
  sc.drain();
  CHECK(next_announce(sc) == bt::announce_event::stopped);
  sc.s.handle_announce(bt::announce_response{.interval = 60s}, {}, sc.now);
  sc.drain();
  CHECK(sc.take<bt::out::announce>().empty());  // nothing after `stopped`
}

TEST_CASE("a stop waits for the announce in flight, then sends what it owes", "[session]") {
  const auto torrent = test::small_torrent();
  SECTION("a regular announce in flight: then `stopped`") {
    auto sc = started(torrent, true, {.has_tracker = true});
    (void)sc.take<bt::out::announce>();
    sc.s.handle_announce(bt::announce_response{.interval = 1s}, {}, sc.now);
    sc.advance(1s);
    REQUIRE(next_announce(sc) == bt::announce_event::none);
    sc.s.stop(sc.now);
    sc.drain();
    CHECK(sc.take<bt::out::announce>().empty());  // one announce at a time
    sc.s.handle_announce(std::nullopt, "abandoned", sc.now);  // the driver abandoned it
    sc.drain();
    CHECK(next_announce(sc) == bt::announce_event::stopped);
  }
  SECTION("`started` in flight and never answered: nothing (the tracker never listed us)") {
    auto sc = started(torrent, true, {.has_tracker = true});
    REQUIRE(next_announce(sc) == bt::announce_event::started);
    sc.s.stop(sc.now);
    sc.s.handle_announce(std::nullopt, "abandoned", sc.now);
    sc.drain();
    CHECK(sc.take<bt::out::announce>().empty());
  }
  SECTION("a seeding leecher's `completed` in flight: then `stopped`, `completed` not again") {
    auto sc = completed_leaver(torrent);
    sc.s.stop(sc.now);
    sc.drain();
    REQUIRE(next_announce(sc) == bt::announce_event::completed);
    sc.s.stop(sc.now);  // a second stop changes nothing
    sc.drain();
    CHECK(sc.take<bt::out::announce>().empty());
    sc.s.handle_announce(bt::announce_response{.interval = 60s}, {}, sc.now);
    sc.drain();
    CHECK(next_announce(sc) == bt::announce_event::stopped);
  }
}

TEST_CASE("wake-ups: the first rechoke at once, then the housekeeping tick", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true, {.tick_interval = 250ms});
  REQUIRE(sc.s.poll_timeout());
  CHECK(*sc.s.poll_timeout() == sc.now);  // never rechoked: due now
  sc.advance(0s);
  CHECK(*sc.s.poll_timeout() == sc.now + 250ms);
  sc.s.stop(sc.now);
  CHECK_FALSE(sc.s.poll_timeout());
}

TEST_CASE("at max_peers the oldest connection without a handshake gives way, a busy one never does",
          "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true, {.max_peers = 2});
  const auto silent = sc.s.handle_accept({.ip = {127, 0, 0, 20}, .port = 1}, sc.now);
  REQUIRE(silent);
  const auto busy = sc.accept_peer(21, 0x21);
  sc.message(busy, bt::msg::interested{});
  sc.drain();
  (void)sc.take<bt::out::send>();
  const auto third = sc.s.handle_accept({.ip = {127, 0, 0, 22}, .port = 1}, sc.now);
  sc.drain();
  REQUIRE(third);
  const auto closes = sc.take<bt::out::close>();
  REQUIRE(closes.size() == 1);
  CHECK(closes[0].conn == *silent);
  sc.s.handle_closed(*silent, bt::close_cause::requested, "evicted", sc.now);
  sc.s.handle_handshake(*third, test::their_handshake(*torrent, 0x22), sc.now);
  sc.message(*third, bt::msg::interested{});
  CHECK_FALSE(sc.s.handle_accept({.ip = {127, 0, 0, 23}, .port = 1}, sc.now));  // both in use
}

TEST_CASE("one address holds at most max_peers_per_address incoming connections, others still get in",
          "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true, {.max_peers = 10, .max_peers_per_address = 3});
  const std::array<std::uint8_t, 4> flood{127, 0, 0, 66};
  std::vector<bt::peer_key> held;
  for (std::uint16_t port = 1; port <= 3; ++port) {
    const auto k = sc.s.handle_accept({.ip = flood, .port = port}, sc.now);
    REQUIRE(k);
    held.push_back(*k);
  }
  // The fourth from that address is refused, and nothing is evicted for it (the limit is
  // per address, not the max_peers limit: seven slots are free).
  CHECK_FALSE(sc.s.handle_accept({.ip = flood, .port = 4}, sc.now));
  sc.drain();
  CHECK(sc.take<bt::out::close>().empty());
  // Another address is not affected.
  CHECK(sc.s.handle_accept({.ip = {127, 0, 0, 67}, .port = 1}, sc.now));
  // Once one of the three is gone, the address may connect again.
  sc.s.handle_closed(held[0], bt::close_cause::peer, "peer closed", sc.now);
  CHECK(sc.s.handle_accept({.ip = flood, .port = 5}, sc.now));
  CHECK_FALSE(sc.s.handle_accept({.ip = flood, .port = 6}, sc.now));
}

TEST_CASE("the upload queue: a cancel removes a block, a choke clears all, piece-first priority", "[session]") {
  const auto torrent = test::small_torrent();
  auto sc = started(torrent, true, {.upload_order = bt::upload_policy::piece_first});
  const auto key = sc.accept_peer(10, 0xAA);
  sc.message(key, bt::msg::interested{});
  sc.message(key, bt::msg::request{.index = 2, .begin = 0, .length = 16384});
  sc.now += 5ms;
  sc.message(key, bt::msg::request{.index = 0, .begin = 0, .length = 16384});
  sc.message(key, bt::msg::request{.index = 2, .begin = 16384, .length = 16384});
  CHECK(sc.s.upload_queued_bytes(key) == 3 * (16384 + 13));
  // The front block's piece (2) was the first piece asked for: place 1 (piece 0 is 2nd).
  CHECK(sc.s.upload_priority(key) == 1);
  // A second peer asking at the same instant comes after, not beside (no shared place).
  const auto other = sc.accept_peer(11, 0xBB);
  sc.message(other, bt::msg::interested{});
  sc.message(other, bt::msg::request{.index = 1, .begin = 0, .length = 16384});
  REQUIRE(sc.s.upload_queued_bytes(other) == 16384 + 13);
  CHECK(sc.s.upload_priority(other) == 3);
  sc.message(key, bt::msg::cancel{.index = 0, .begin = 0, .length = 16384});
  CHECK(sc.s.upload_queued_bytes(key) == 2 * (16384 + 13));
  CHECK(sc.s.peek_upload(key)->piece == 2);
  sc.message(key, bt::msg::not_interested{});
  sc.advance(11s);  // the rechoke chokes a peer that is not interested
  CHECK(sc.sent<bt::msg::choke>(key).size() == 1);
  CHECK(sc.s.upload_queued_bytes(key) == 0);
}

namespace {

// A leecher holding piece 0, with an upload limit of 50 kB/s, and three peers: `upload`
// (interested, unchoked, served), `choked` (holds piece 0, so wants nothing from us and stays
// choked) and `seed` (has everything and unchokes us).
struct have_batch_swarm {
  std::shared_ptr<const bt::metainfo> torrent = test::small_torrent();
  script sc;
  bt::peer_key upload{}, choked{}, seed{};

  explicit have_batch_swarm(bt::duration batch)
      : sc(bt::session_config{.torrent = torrent,
                              .upload_bytes_per_s = 50'000,
                              .tick_interval = 250ms,
                              .have_batch_interval = batch}) {
    sc.s_torrent = torrent;
    bt::bitfield mine(4, false);
    mine.set(0);
    sc.s.start(mine, 6881, sc.now);
    sc.drain();
    upload = sc.accept_peer(10, 0x10);
    sc.message(upload, bt::msg::interested{});
    REQUIRE(sc.sent<bt::msg::unchoke>(upload).size() == 1);
    choked = sc.accept_peer(11, 0x11);
    sc.message(choked, bt::msg::bitfield{mine});
    seed = sc.accept_peer(12, 0x12);
    sc.message(seed, bt::msg::bitfield{bt::bitfield(4, true)});
    sc.message(seed, bt::msg::unchoke{});
  }
  // `upload` takes a block every 100 ms (164 kB/s, above our 50 kB/s limit) for `d`, always
  // with one more queued: our upload is busy.
  void serve(bt::duration d) {
    for (bt::duration t{}; t < d; t += 100ms) {
      sc.message(upload, bt::msg::request{.index = 0, .begin = 0, .length = 16384});
      const auto b = sc.s.take_upload(upload, sc.now);
      REQUIRE(b);
      sc.s.handle_block_sent(upload, *b, sc.now);
      sc.message(upload, bt::msg::request{.index = 0, .begin = 16384, .length = 16384});
      sc.advance(100ms);
    }
  }
  // The seed's blocks arrive; piece 1 passes its check.
  void pass_piece_1() {
    (void)answer_requests(sc, seed, sc.sent<bt::msg::request>(seed));
    sc.s.handle_piece_checked(1, bt::piece_verdict::passed, {}, sc.now);
    sc.drain();
  }
};

}  // namespace

TEST_CASE("a `have` for a peer we choke waits while our upload is busy, then leaves batched", "[session]") {
  have_batch_swarm w(1s);
  w.serve(400ms);
  (void)w.sc.take<bt::out::send>();
  w.pass_piece_1();
  // The peer we serve may ask for it at once; the choked one could not, and waits.
  const auto to_upload = w.sc.sent<bt::msg::have>(w.upload);
  REQUIRE(to_upload.size() == 1);
  CHECK(to_upload[0].index == 1);
  CHECK(w.sc.sent<bt::msg::have>(w.choked).empty());
  CHECK(w.sc.sent<bt::msg::have>(w.seed).empty());  // it holds every piece
  w.serve(700ms);  // four ticks, under the 1 s batch interval
  CHECK(w.sc.sent<bt::msg::have>(w.choked).empty());
  w.serve(400ms);  // past it: the tick sends the batch
  const auto to_choked = w.sc.sent<bt::msg::have>(w.choked);
  REQUIRE(to_choked.size() == 1);
  CHECK(to_choked[0].index == 1);
}

TEST_CASE("a batched `have` leaves with the next message to that peer, before it", "[session]") {
  have_batch_swarm w(1s);
  w.serve(400ms);
  w.pass_piece_1();
  (void)w.sc.take<bt::out::send>();
  // The choked peer announces piece 2, which we lack: our `interested` goes to it, and the
  // batched `have` goes just before, in the same write.
  w.sc.message(w.choked, bt::msg::have{.index = 2});
  std::vector<std::uint32_t> order;
  for (const auto& o : w.sc.take<bt::out::send>()) {
    if (o.conn != w.choked) continue;
    if (const auto* h = std::get_if<bt::msg::have>(&o.message)) order.push_back(h->index);
    if (std::holds_alternative<bt::msg::interested>(o.message)) order.push_back(1000);
  }
  CHECK(order == std::vector<std::uint32_t>{1, 1000});
}

TEST_CASE("with our upload idle, or batching off, a `have` leaves at once", "[session]") {
  SECTION("idle upload") {
    have_batch_swarm w(1s);  // nobody is served
    w.pass_piece_1();
    CHECK(w.sc.sent<bt::msg::have>(w.choked).size() == 1);
  }
  SECTION("batching off") {
    have_batch_swarm w(bt::duration::zero());
    w.serve(400ms);
    w.pass_piece_1();
    CHECK(w.sc.sent<bt::msg::have>(w.choked).size() == 1);
  }
}

TEST_CASE("batched haves leave at the next tick once our upload has nothing queued", "[session]") {
  have_batch_swarm w(10s);
  w.serve(400ms);
  w.pass_piece_1();
  CHECK(w.sc.sent<bt::msg::have>(w.choked).empty());
  w.sc.advance(250ms);
  CHECK(w.sc.sent<bt::msg::have>(w.choked).empty());  // still serving: the batch waits
  // The peer we serve withdraws its requests: nothing queued, an idle unchoke may come.
  for (int i = 0; i < 8 && w.sc.s.upload_queued_bytes(w.upload) > 0; ++i) {
    w.sc.message(w.upload, bt::msg::cancel{.index = 0, .begin = 0, .length = 16384});
    w.sc.message(w.upload, bt::msg::cancel{.index = 0, .begin = 16384, .length = 16384});
  }
  REQUIRE(w.sc.s.upload_queued_bytes(w.upload) == 0);
  CHECK(w.sc.sent<bt::msg::have>(w.choked).empty());  // not before the tick
  w.sc.advance(250ms);
  const auto to_choked = w.sc.sent<bt::msg::have>(w.choked);
  REQUIRE(to_choked.size() == 1);
  CHECK(to_choked[0].index == 1);
}
