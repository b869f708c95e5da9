// Tests of the choker's optimistic unchoke: rotation every optimistic_interval, strict
// turns among equal peers, new peers weighted up, no peer left waiting for ever. The rest
// of the choker is tested in test_choker.cpp; the simulation both use is in choker_sim.hpp.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/policy/choker.hpp"

#include "choker_sim.hpp"

using namespace std::chrono_literals;
using p2pdist::bt::peer_key;
using p2pdist::bt::peer_stats;
using p2pdist::bt::rechoke;
using namespace p2pdist::bt::test;

TEST_CASE("the optimistic unchoke rotates every optimistic_interval, checked at rechokes", "[choker]") {
  sim s;
  // Four fast peers hold the regular slots; five slow ones share the optimistic slot.
  for (std::uint32_t i = 1; i <= 4; ++i) s.peers.push_back(interested_peer(i, 1000.0 * i));
  for (std::uint32_t i = 5; i <= 9; ++i) s.peers.push_back(interested_peer(i));

  std::vector<peer_key> optimistic_at;
  for (int r = 0; r <= 9; ++r) {  // rechokes at 0, 10, ..., 90 s
    const auto d = s.step(at(r * 10s));
    CHECK(d.regular == keys({1, 2, 3, 4}));
    REQUIRE(d.optimistic);
    optimistic_at.push_back(*d.optimistic);
  }
  // A new pick at 0, 30, 60, 90 s; the same one in between.
  for (int r = 1; r <= 9; ++r) {
    CAPTURE(r);
    if (r % 3 == 0) CHECK(optimistic_at[r] != optimistic_at[r - 1]);
    else CHECK(optimistic_at[r] == optimistic_at[r - 1]);
  }
  CHECK(s.state.optimistic_since == at(90s));

  SECTION("an optimistic peer that earns a regular slot is replaced at once") {
    const auto lucky = *s.state.optimistic;
    s.peer(lucky).rate_from_bytes_per_s = 1e9;
    const auto d = s.step(at(100s));
    CHECK(std::count(d.regular.begin(), d.regular.end(), lucky) == 1);
    REQUIRE(d.optimistic);
    CHECK(*d.optimistic != lucky);
    CHECK(s.state.optimistic_since == at(100s));
  }
  SECTION("an optimistic peer that loses interest is replaced at once") {
    const auto bored = *s.state.optimistic;
    s.peer(bored).interested = false;
    const auto d = s.step(at(100s));
    REQUIRE(d.optimistic);
    CHECK(*d.optimistic != bored);
    CHECK(std::count(d.to_choke.begin(), d.to_choke.end(), bored) == 1);
  }
}

TEST_CASE("a due rotation moves the slot even when its holder would rank first again", "[choker]") {
  // The holder is new (weight 3: priority 3 × 30 s = 90 s even with no wait); the only
  // other candidate is old and was just choked (30 s). Rotation must still hand it over.
  sim s;
  s.cfg.regular_slots = 0;
  const auto now = at(10'000s);
  auto holder = interested_peer(1);
  holder.connected_at = now - 31s;
  holder.unchoked = true;
  auto other = interested_peer(2);
  other.last_unchoked = now;
  s.peers = {holder, other};
  s.state.optimistic = key(1);
  s.state.optimistic_since = now - 30s;
  SECTION("to the other candidate") {
    const auto d = s.step(now);
    CHECK(d.optimistic == key(2));
    CHECK(d.to_choke == keys({1}));
    CHECK(d.to_unchoke == keys({2}));
    CHECK(s.state.optimistic_since == now);
  }
  SECTION("but the holder keeps it when nobody else is interested") {
    s.peer(key(2)).interested = false;
    const auto d = s.step(now);
    CHECK(d.optimistic == key(1));
    CHECK(d.to_choke.empty());
    CHECK(d.to_unchoke.empty());
  }
}

TEST_CASE("optimistic rotation among equal peers is a strict round robin", "[choker]") {
  // Seven old peers compete for the optimistic slot (four faster ones hold the regular
  // slots). All have weight 1, so the one that waited longest wins: the first cycle is in
  // random order (all waited equally), then that order repeats, every peer once per seven.
  sim s;
  s.cfg.optimistic_interval = 10s;  // a rotation at every rechoke
  for (std::uint32_t i = 1; i <= 4; ++i) s.peers.push_back(interested_peer(i, 1000.0 * i));
  for (std::uint32_t i = 5; i <= 11; ++i) s.peers.push_back(interested_peer(i));
  const auto start = at(1000s);  // everyone connected at 0: long past new_peer_age

  std::vector<peer_key> picks;
  for (int r = 0; r < 70; ++r) picks.push_back(*s.step(start + r * 10s).optimistic);
  const std::set<peer_key> first_cycle(picks.begin(), picks.begin() + 7);
  CHECK(first_cycle.size() == 7);  // every peer within seven rotations
  for (std::size_t r = 7; r < picks.size(); ++r) CHECK(picks[r] == picks[r - 7]);
}

TEST_CASE("the optimistic pick: weight x (wait + interval), new peers weighted up", "[choker]") {
  // Two candidates for the optimistic slot (no regular slots), defaults: interval 30 s,
  // weight 3 for peers younger than 60 s. A peer that just connected has priority
  // 3 × (0 + 30 s) = 90 s; an old peer that has waited W has W + 30 s.
  sim s;
  s.cfg.regular_slots = 0;
  const auto now = at(10'000s);
  auto old_peer = interested_peer(1);
  auto new_peer = interested_peer(2);
  new_peer.connected_at = now;
  SECTION("an old peer that waited 50 s (80 s) loses to the newcomer (90 s)") {
    old_peer.last_unchoked = now - 50s;
    s.peers = {old_peer, new_peer};
    CHECK(s.step(now).optimistic == key(2));
  }
  SECTION("an old peer that waited 70 s (100 s) wins") {
    old_peer.last_unchoked = now - 70s;
    s.peers = {old_peer, new_peer};
    CHECK(s.step(now).optimistic == key(1));
  }
  SECTION("a newcomer of 20 s (3 × 50 s = 150 s) beats an old peer that waited 110 s (140 s)") {
    old_peer.last_unchoked = now - 110s;
    new_peer.connected_at = now - 20s;
    s.peers = {old_peer, new_peer};
    CHECK(s.step(now).optimistic == key(2));
  }
  SECTION("at 60 s a peer is no longer new: 60 + 30 = 90 s loses to 95 s") {
    old_peer.last_unchoked = now - 65s;
    new_peer.connected_at = now - 60s;
    s.peers = {old_peer, new_peer};
    CHECK(s.step(now).optimistic == key(1));
  }
}

TEST_CASE("over a long run a new peer gets more optimistic turns and old peers still get theirs",
          "[choker]") {
  // No regular slots: everyone shares the optimistic slot, one rotation per rechoke.
  // Five old peers and one that stays new all along (new_peer_age is long).
  sim s;
  s.cfg.regular_slots = 0;
  s.cfg.optimistic_interval = 10s;
  s.cfg.new_peer_age = 1'000'000s;
  const auto start = at(2'000'000s);
  for (std::uint32_t i = 1; i <= 5; ++i) s.peers.push_back(interested_peer(i));  // connected at 0
  auto fresh = interested_peer(6);
  fresh.connected_at = start;
  s.peers.push_back(fresh);

  constexpr int rounds = 800;
  std::map<peer_key, int> turns;
  std::map<peer_key, int> last_turn;
  int worst_old_gap = 0;
  int worst_new_gap = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto d = s.step(start + r * 10s);
    REQUIRE(d.optimistic);
    REQUIRE(s.unchoked_ids().size() == 1);
    const auto id = *d.optimistic;
    ++turns[id];
    if (auto it = last_turn.find(id); it != last_turn.end()) {
      auto& worst = id == key(6) ? worst_new_gap : worst_old_gap;
      worst = std::max(worst, r - it->second);
    }
    last_turn[id] = r;
  }
  // Old peers still get turns: while an old peer waits, each other old peer passes it at
  // most once (then it has waited less), and the new peer never twice in a row (the holder
  // rotates out), so at most 4 + 5 others go first: turns at most 10 rotations apart.
  CHECK(worst_old_gap <= 10);
  // Equal weights take strict turns: the old peers' counts differ by one at most.
  int old_min = rounds, old_max = 0;
  for (std::uint32_t i = 1; i <= 5; ++i) {
    old_min = std::min(old_min, turns[key(i)]);
    old_max = std::max(old_max, turns[key(i)]);
  }
  CHECK(old_max - old_min <= 1);
  // The new peer's priority 3·k after k rotations beats every old peer's (at most the longest
  // old gap G, in rotations) as soon as 3·k > G: its gaps are at most G / 3 + 1.
  CHECK(worst_new_gap <= worst_old_gap / 3 + 1);
  CHECK(turns[key(6)] >= rounds / (worst_old_gap / 3 + 1));
  // And an old peer's cycle holds all five old peers plus at least one new turn (gaps ≤ 4),
  // so old peers get at most one turn per 6 rotations while the new peer gets one per 4.
  CHECK(turns[key(6)] > old_max);
}

TEST_CASE("old peers still get optimistic turns while new peers keep arriving", "[choker]") {
  // Default weights and ages (weight 3 for 60 s, rotation every 30 s, rechoke every 10 s),
  // no regular slots. Four old peers; a new peer arrives every 30 s and leaves at 150 s of age.
  // A new peer's priority is below 3 × (60 s + 30 s) = 270 s and a once-new one's at most
  // 120 s + 30 s, so an old peer that has waited 240 s (8 rotations after its choke) can
  // only be passed by the other three old peers, once each: turns at most 12 rotations apart.
  sim s;
  s.cfg.regular_slots = 0;
  const auto start = at(10'000s);
  for (std::uint32_t i = 1; i <= 4; ++i) s.peers.push_back(interested_peer(i));
  std::uint32_t next_id = 100;
  std::map<peer_key, int> last_turn;
  int worst_old_gap = 0;
  int rotations = 0;
  int new_peer_turns = 0;
  for (int r = 0; r < 3 * 300; ++r) {  // 300 rotations
    const auto now = start + r * 10s;
    if (r % 3 == 0) {
      auto p = interested_peer(next_id++);
      p.connected_at = now;
      s.peers.push_back(p);
      std::erase_if(s.peers, [&](const peer_stats& q) { return q.connected_at != at(0s) && now - q.connected_at > 120s; });
    }
    const auto before = s.state.optimistic;
    const auto d = s.step(now);
    REQUIRE(d.optimistic);
    if (d.optimistic == before) continue;
    ++rotations;
    const auto id = *d.optimistic;
    if (static_cast<std::uint32_t>(id) >= 100) {
      ++new_peer_turns;
      continue;
    }
    if (auto it = last_turn.find(id); it != last_turn.end()) worst_old_gap = std::max(worst_old_gap, rotations - it->second);
    last_turn[id] = rotations;
  }
  CHECK(rotations == 300);  // newcomers leave only at rotation times, so no extra picks
  CHECK(last_turn.size() == 4);
  CHECK(worst_old_gap <= 12);
  CHECK(new_peer_turns > 0);
}
