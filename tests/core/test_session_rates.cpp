// The sans-IO session under rates and round trips, scripted by hand: how many requests it
// keeps in flight, how an upload the unchoked peers cannot take hands on a slot, and the
// end game while the download binds. Helpers in session_script.hpp.

#include "loopback/core/session.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "session_script.hpp"

namespace {

using namespace p2pdist;
using namespace std::chrono_literals;
using test::script;
using test::started;

// The peer answers the oldest request in flight (zeros); our new requests join the list.
void answer_oldest(script& sc, bt::peer_key key, std::vector<bt::msg::request>& in_flight) {
  const auto r = in_flight.front();
  in_flight.erase(in_flight.begin());
  const auto p = test::zero_block(r);
  CHECK(sc.s.handle_block(key, p, sc.now));
  sc.drain();
  for (const auto& more : sc.sent<bt::msg::request>(key)) in_flight.push_back(more);
  (void)sc.take<bt::out::check_piece>();
}

}  // namespace

TEST_CASE("over a long round trip a peer keeps at least the fixed depth of requests", "[session]") {
  // 40 pieces of two blocks. Adaptive requests (30 ms of the peer's rate, at least 2): with
  // no rate measured yet, two requests on a loopback's 100 us round trip. Over a 100 ms
  // round trip, longer than the queue time, the fixed depth (16) is the least from the
  // unchoke on: the rate measured there is our own requests' echo. Blocks answered 10 ms
  // apart (1.6 MB/s) keep it at 16 (1.6 MB/s over 130 ms is 13 blocks); on the loopback's
  // round trip at three or four (1.6 MB/s over 30 ms: three blocks).
  const auto torrent = test::small_torrent(40, true);
  for (const auto rtt : {bt::duration(100ms), bt::duration(100us)}) {
    INFO("round trip " << std::chrono::duration<double>(rtt).count() << " s");
    const bool far = rtt == bt::duration(100ms);
    auto sc = started(torrent, false, {.picker = {.request_queue_time = 30ms}});
    const auto key = sc.accept_peer(2, 0xBB);
    sc.s.handle_round_trip(key, rtt, sc.now);
    sc.message(key, bt::msg::bitfield{bt::bitfield(40, true)});
    sc.message(key, bt::msg::unchoke{});
    std::vector<bt::msg::request> in_flight = sc.sent<bt::msg::request>(key);
    CHECK(in_flight.size() == (far ? 16u : 2u));
    for (int k = 1; k <= 20; ++k) {
      // The oldest request is answered 10 ms later.
      sc.now += 10ms;
      answer_oldest(sc, key, in_flight);
      if (far)
        CHECK(in_flight.size() == 16);
      else
        CHECK(in_flight.size() <= 4);
    }
  }
}

TEST_CASE("an upload the unchoked peers cannot take hands a slot from one that takes nothing to one that waits",
          "[session]") {
  // A leecher holding piece 0 with a 1 MB/s upload limit, and ten interested peers. Four
  // regular slots and the optimistic one fill at once; the idle unchokes add four more
  // (idle_extra_slots) while our upload stays below 90 % of its limit. Only the first peer
  // asks for anything: a block every 100 ms, 164 kB/s. Once all nine places are taken, each
  // 200 ms step of an upload still underused hands the slot of a peer that took nothing
  // for 400 ms (below 6 % of the limit) to the one that waited longest; the peer we serve
  // keeps its slot. With the swap off (swap_below_fraction 0) the tenth peer waits for the
  // rechoke (10 s, after this test's 3 s).
  for (const double fraction : {0.06, 0.0}) {
    INFO("swap_below_fraction " << fraction);
    const auto torrent = test::small_torrent();
    script sc(bt::session_config{.torrent = torrent,
                                 .upload_bytes_per_s = 1'000'000,
                                 .choker = {.swap_below_fraction = fraction}});
    sc.s_torrent = torrent;
    bt::bitfield mine(4, false);
    mine.set(0);
    sc.s.start(mine, 6881, sc.now);
    sc.drain();
    std::vector<bt::peer_key> peers;
    for (std::uint8_t i = 0; i < 10; ++i) {
      peers.push_back(sc.accept_peer(static_cast<std::uint8_t>(10 + i), static_cast<std::uint8_t>(0x10 + i)));
      sc.message(peers.back(), bt::msg::interested{});
    }
    std::map<bt::peer_key, int> unchokes, chokes;
    auto count = [&] {
      for (const auto& o : sc.take<bt::out::send>()) {
        if (std::holds_alternative<bt::msg::unchoke>(o.message)) ++unchokes[o.conn];
        if (std::holds_alternative<bt::msg::choke>(o.message)) ++chokes[o.conn];
      }
    };
    count();
    int most_unchoked = 0;
    for (int step = 0; step < 30; ++step) {
      sc.now += 100ms;
      sc.message(peers[0], bt::msg::request{.index = 0, .begin = static_cast<std::uint32_t>((step % 2) * 16384), .length = 16384});
      const auto b = sc.s.take_upload(peers[0], sc.now);
      REQUIRE(b);
      sc.s.handle_block_sent(peers[0], *b, sc.now);
      sc.drain();
      count();
      int unchoked = 0;
      for (const auto k : peers) unchoked += unchokes[k] - chokes[k];
      most_unchoked = std::max(most_unchoked, unchoked);
    }
    CHECK(most_unchoked == 9);  // 4 regular + 1 optimistic + 4 idle extras, never more
    CHECK(chokes[peers[0]] == 0);
    CHECK(chokes[peers[4]] == 0);  // the optimistic unchoke keeps its turn
    if (fraction > 0) {
      CHECK(unchokes[peers[9]] >= 1);
      int swapped_out = 0;
      for (const auto k : peers) swapped_out += chokes[k];
      CHECK(swapped_out >= 3);  // a swap each 200 ms once the extras are taken, after 400 ms held
    } else {
      CHECK(unchokes[peers[9]] == 0);
      for (const auto k : peers) CHECK(chokes[k] == 0);
    }
  }
}

namespace {

// A leecher of 20 pieces (40 blocks) with two seeds, A and B, four requests in flight at
// each. Every `step` one block arrives, from A and B in turn (B stops at `b_stops_after`
// blocks of its own); each answers its oldest request. Returns how many blocks were
// asked of both peers, and whether the download completed.
struct end_game_run {
  int asked_twice = 0;
  bool complete = false;
};
end_game_run run_to_end_game(double download_limit, bt::duration step, int b_stops_after) {
  const auto torrent = test::small_torrent(20, true);
  script sc(bt::session_config{.torrent = torrent,
                               .download_bytes_per_s = download_limit,
                               .picker = {.pipeline_depth = 4}});
  sc.s_torrent = torrent;
  sc.s.start(bt::bitfield(20, false), 6881, sc.now);
  sc.drain();
  const std::array<bt::peer_key, 2> peer{sc.accept_peer(2, 0xA0), sc.accept_peer(3, 0xB0)};
  std::array<std::vector<bt::msg::request>, 2> in_flight;
  std::set<std::pair<std::uint32_t, std::uint32_t>> asked[2];
  end_game_run r;
  auto collect = [&] {
    for (int i = 0; i < 2; ++i) {
      for (const auto& q : sc.sent<bt::msg::request>(peer[i])) {
        in_flight[i].push_back(q);
        asked[i].insert({q.index, q.begin});
        if (asked[1 - i].count({q.index, q.begin})) ++r.asked_twice;
      }
      for (const auto& c : sc.sent<bt::msg::cancel>(peer[i]))
        std::erase_if(in_flight[i], [&](const bt::msg::request& q) { return q.index == c.index && q.begin == c.begin; });
    }
  };
  for (int i = 0; i < 2; ++i) {
    sc.message(peer[i], bt::msg::bitfield{bt::bitfield(20, true)});
    sc.message(peer[i], bt::msg::unchoke{});
  }
  collect();
  int from_b = 0;
  for (int k = 0; k < 400 && !r.complete; ++k) {
    sc.now += step;
    int i = k % 2;
    if (i == 1 && from_b >= b_stops_after) i = 0;
    if (in_flight[i].empty()) i = 1 - i;
    if (i == 1 && from_b >= b_stops_after) continue;
    if (in_flight[i].empty()) continue;
    const auto q = in_flight[i].front();
    in_flight[i].erase(in_flight[i].begin());
    if (i == 1) ++from_b;
    const auto p = test::zero_block(q);
    (void)sc.s.handle_block(peer[i], p, sc.now);
    sc.drain();
    for (const auto& check : sc.take<bt::out::check_piece>()) {
      sc.s.handle_piece_checked(check.piece, bt::piece_verdict::passed, {}, sc.now);
      sc.drain();
    }
    collect();
    r.complete = sc.s.complete();
  }
  return r;
}

}  // namespace

TEST_CASE("the end game asks a second peer only for blocks it would bring much sooner, or that a silent peer holds",
          "[session]") {
  // A and B answer a block every 20 ms each (1.6 MB/s together). Once every block is asked,
  // the classic end game hands each peer with room in its pipeline the other's blocks too;
  // here a block goes to a second peer only when that one would bring it at least twice as
  // soon, so with two equal peers none does, whether our download binds (a 1 MB/s limit)
  // or not (no limit). (The classic end game asked 4 or more twice in this run.)
  const auto unlimited = run_to_end_game(0, 10ms, 1000);
  const auto binding = run_to_end_game(1e6, 10ms, 1000);
  REQUIRE(unlimited.complete);
  REQUIRE(binding.complete);
  CHECK(unlimited.asked_twice == 0);
  CHECK(binding.asked_twice == 0);
  // B stops sending after 15 blocks: its rate decays, and the blocks it holds are asked of
  // A, which brings them all: the download completes without B, limited or not.
  for (const double limit : {0.0, 1e6}) {
    const auto stalled = run_to_end_game(limit, 10ms, 15);
    CHECK(stalled.complete);
    CHECK(stalled.asked_twice >= 1);
  }
}

TEST_CASE("while our download binds, the requests in flight cover binding_queue_time", "[session]") {
  // One seed answers the oldest request every 10 ms (1.6 MB/s). Adaptive requests over 30 ms
  // of that rate: about three in flight. With a download limit of 1.5 MB/s the rate is
  // above 80 % of it: the requests cover 45 ms instead, five. A limit of 10 MB/s does not
  // bind: three again.
  const auto torrent = test::small_torrent(40, true);
  auto depth_with = [&](double limit) {
    auto sc = started(torrent, false,
                      {.download_bytes_per_s = limit, .picker = {.request_queue_time = 30ms}});
    const auto key = sc.accept_peer(2, 0xBB);
    sc.message(key, bt::msg::bitfield{bt::bitfield(40, true)});
    sc.message(key, bt::msg::unchoke{});
    std::vector<bt::msg::request> in_flight = sc.sent<bt::msg::request>(key);
    std::size_t most = 0;
    for (int k = 1; k <= 30; ++k) {
      sc.now += 10ms;
      REQUIRE_FALSE(in_flight.empty());
      answer_oldest(sc, key, in_flight);
      if (k > 20) most = std::max(most, in_flight.size());  // the rate has settled
    }
    return most;
  };
  const auto free = depth_with(0);
  const auto binding = depth_with(1.5e6);
  const auto loose = depth_with(10e6);
  CHECK(free >= 3);
  CHECK(free <= 4);
  CHECK(binding >= 5);
  CHECK(loose == free);
}

TEST_CASE("a peer that floods messages moving no data is cut and banned, an honest burst is not",
          "[session]") {
  const auto torrent = test::small_torrent();
  // A seed with a limit of 100 idle messages a second (a rate decayed over one second: the
  // 101st at one instant is past it).
  auto sc = started(torrent, true, {.upload_bytes_per_s = 50'000, .max_idle_messages_per_s = 100});
  const auto honest = sc.accept_peer(10, 0x10);
  const auto chatty = sc.accept_peer(11, 0x11);
  for (const auto k : {honest, chatty}) sc.message(k, bt::msg::bitfield{bt::bitfield(4, false)});
  // The honest peer's burst, all of it idle: 40 requests while we choke it (ignored), 50
  // cancels of blocks we never queued, 5 keep-alives, a `have` twice. 96 in all.
  for (std::uint32_t i = 0; i < 40; ++i) sc.message(honest, bt::msg::request{.index = i % 4, .begin = 0, .length = 16384});
  for (std::uint32_t i = 0; i < 50; ++i) sc.message(honest, bt::msg::cancel{.index = i % 4, .begin = 0, .length = 16384});
  for (int i = 0; i < 5; ++i) sc.message(honest, bt::msg::keep_alive{});
  sc.message(honest, bt::msg::have{.index = 1});
  sc.message(honest, bt::msg::have{.index = 1});
  CHECK(sc.take<bt::out::close>().empty());
  CHECK(sc.events(bt::client_event_kind::peer_banned).empty());
  // The chatty one: interest toggles and keep-alives, 101 at one instant.
  for (int i = 0; i < 100; ++i) {
    if (i % 2 == 0) sc.message(chatty, bt::msg::interested{});
    else sc.message(chatty, bt::msg::not_interested{});
  }
  CHECK(sc.take<bt::out::close>().empty());  // 100: at the limit
  sc.message(chatty, bt::msg::keep_alive{});
  const auto closed = sc.take<bt::out::close>();
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].conn == chatty);
  CHECK_THAT(closed[0].reason, Catch::Contains("flooding"));
  const auto banned = sc.events(bt::client_event_kind::peer_banned);
  REQUIRE(banned.size() == 1);
  CHECK(banned[0].peer_ip == std::array<std::uint8_t, 4>{127, 0, 0, 11});
  CHECK(sc.s.stats().peers_banned == 1);
  // It may not come back; the honest peer stays, and two seconds later its rate has decayed
  // to 96 / e^2, about 13: 60 more are well under the limit.
  CHECK_FALSE(sc.s.handle_accept({.ip = {127, 0, 0, 11}, .port = 50001}, sc.now));
  sc.advance(2s);
  for (int i = 0; i < 60; ++i) sc.message(honest, bt::msg::keep_alive{});
  CHECK(sc.take<bt::out::close>().empty());
}
