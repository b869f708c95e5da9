#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/policy/choker.hpp"

// The choker is driven from value snapshots over simulated time: a vector of peer_stats,
// decisions applied to it as the network layer would, `now` advanced by hand.

namespace {

using namespace std::chrono_literals;
using p2pdist::bt::choke_decision;
using p2pdist::bt::choker_config;
using p2pdist::bt::choker_role;
using p2pdist::bt::choker_state;
using p2pdist::bt::duration;
using p2pdist::bt::interest_action;
using p2pdist::bt::on_interested;
using p2pdist::bt::peer_key;
using p2pdist::bt::peer_stats;
using p2pdist::bt::rechoke;
using p2pdist::bt::seed_policy;
using p2pdist::bt::time_point;

peer_key key(std::uint32_t v) { return peer_key{v}; }
time_point at(duration d) { return time_point(d); }

/// An interested peer, connected long ago, with the given rates.
peer_stats interested_peer(std::uint32_t id, double rate_from = 0, double rate_to = 0) {
  return peer_stats{.id = key(id),
                    .interested = true,
                    .rate_from_bytes_per_s = rate_from,
                    .rate_to_bytes_per_s = rate_to,
                    .connected_at = at(0s)};
}

/// Peers and a choker, with decisions applied to the snapshots as the network layer does.
struct sim {
  std::vector<peer_stats> peers;
  choker_config cfg{};
  choker_state state{};
  std::mt19937_64 rng{1};

  peer_stats& peer(peer_key id) {
    auto it = std::find_if(peers.begin(), peers.end(), [&](const peer_stats& p) { return p.id == id; });
    REQUIRE(it != peers.end());
    return *it;
  }
  void apply(const choke_decision& d, time_point now) {
    for (auto id : d.to_unchoke) peer(id).unchoked = true;
    for (auto id : d.to_choke) {
      peer(id).unchoked = false;
      peer(id).last_unchoked = now;
    }
  }
  choke_decision step(time_point now, choker_role role = choker_role::leecher) {
    auto d = rechoke(state, peers, cfg, role, now, rng);
    apply(d, now);
    return d;
  }
  std::set<peer_key> unchoked_ids() const {
    std::set<peer_key> out;
    for (const auto& p : peers) {
      if (p.unchoked) out.insert(p.id);
    }
    return out;
  }
};

std::vector<peer_key> keys(std::initializer_list<std::uint32_t> ids) {
  std::vector<peer_key> out;
  for (auto i : ids) out.push_back(key(i));
  return out;
}

}  // namespace

TEST_CASE("scaled() multiplies every interval and nothing else", "[choker]") {
  const choker_config base{};
  CHECK(base.regular_slots == 4);
  CHECK(base.rechoke_interval == 10s);
  CHECK(base.optimistic_interval == 30s);

  const auto fast = p2pdist::bt::scaled(base, 0.1);
  CHECK(fast.rechoke_interval == 1s);
  CHECK(fast.optimistic_interval == 3s);
  CHECK(fast.new_peer_age == 6s);
  CHECK(fast.regular_slots == 4);
  CHECK(fast.new_peer_weight == 3);
  CHECK(fast.as_seed == base.as_seed);

  CHECK(p2pdist::bt::scaled(base, 2.5).optimistic_interval == 75s);
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    CHECK(p2pdist::bt::scaled(base, bad).rechoke_interval == base.rechoke_interval);
  }
}

TEST_CASE("a rechoke is due first at once, then every rechoke_interval", "[choker]") {
  sim s;
  s.peers = {interested_peer(1)};
  CHECK(p2pdist::bt::rechoke_due(s.state, s.cfg, at(5s)));
  (void)s.step(at(5s));
  CHECK_FALSE(p2pdist::bt::rechoke_due(s.state, s.cfg, at(5s)));
  CHECK_FALSE(p2pdist::bt::rechoke_due(s.state, s.cfg, at(15s) - 1ns));
  CHECK(p2pdist::bt::rechoke_due(s.state, s.cfg, at(15s)));
  CHECK(p2pdist::bt::next_rechoke_at(s.state, s.cfg, at(7s)) == at(15s));
}

TEST_CASE("as a leecher, the fastest uploaders to us get the regular slots", "[choker]") {
  sim s;
  // ids 1..8 upload to us at these rates; id 9 is the fastest but not interested and was
  // unchoked before; id 10 is interested and unchoked but slow.
  const double rates[] = {5, 80, 20, 70, 10, 60, 30, 1};
  for (std::uint32_t i = 0; i < 8; ++i) s.peers.push_back(interested_peer(i + 1, rates[i]));
  s.peers.push_back(peer_stats{.id = key(9), .interested = false, .unchoked = true, .rate_from_bytes_per_s = 1000});
  s.peers.push_back(peer_stats{.id = key(10), .interested = true, .unchoked = true, .rate_from_bytes_per_s = 0.5});

  const auto d = s.step(at(100s));
  CHECK(d.regular == keys({2, 4, 6, 7}));  // rates 80, 70, 60, 30
  REQUIRE(d.optimistic);
  const std::set<peer_key> others = {key(1), key(3), key(5), key(8), key(10)};
  CHECK(others.count(*d.optimistic) == 1);
  // The uninterested peer is choked; the slow one too unless it is the optimistic pick.
  CHECK(std::count(d.to_choke.begin(), d.to_choke.end(), key(9)) == 1);
  CHECK(std::count(d.to_choke.begin(), d.to_choke.end(), key(10)) == (*d.optimistic == key(10) ? 0 : 1));
  std::set<peer_key> want = {key(2), key(4), key(6), key(7), *d.optimistic};
  CHECK(s.unchoked_ids() == want);

  SECTION("snubbed peers rank below all others") {
    s.peer(key(2)).snubbed = true;  // the fastest stops sending
    const auto d2 = s.step(at(110s));
    CHECK(d2.regular == keys({3, 4, 6, 7}));  // 70, 60, 30, 20
  }
  SECTION("...but fill slots that would otherwise stay empty, by rate") {
    for (auto& p : s.peers) p.snubbed = true;
    s.peer(key(4)).snubbed = false;
    s.peer(key(8)).snubbed = false;
    const auto d2 = s.step(at(110s));
    // Not snubbed: 4 (70) and 8 (1); then snubbed by rate: 2 (80), 6 (60).
    CHECK(d2.regular == keys({2, 4, 6, 8}));
  }
  SECTION("rates that are not numbers count as zero") {
    s.peer(key(1)).rate_from_bytes_per_s = std::numeric_limits<double>::quiet_NaN();
    s.peer(key(3)).rate_from_bytes_per_s = -500;
    s.peer(key(5)).rate_from_bytes_per_s = std::numeric_limits<double>::infinity();
    const auto d2 = s.step(at(110s));
    CHECK(d2.regular == keys({2, 4, 6, 7}));
  }
}

TEST_CASE("as a seed by rate to the peer, the fastest downloaders get the regular slots", "[choker]") {
  sim s;
  s.cfg.as_seed = seed_policy::by_rate_to_peer;
  const double to[] = {300, 100, 900, 50, 700, 800, 200};
  for (std::uint32_t i = 0; i < 7; ++i) s.peers.push_back(interested_peer(i + 1, /*rate_from=*/1000 - i, to[i]));
  const auto d = s.step(at(10s), choker_role::seed);
  CHECK(d.regular == keys({1, 3, 5, 6}));  // 300, 900, 700, 800: rate_from is ignored
}

TEST_CASE("as a seed in round robin, every interested peer is served over a cycle", "[choker]") {
  sim s;
  s.cfg.as_seed = seed_policy::round_robin;
  for (std::uint32_t i = 1; i <= 10; ++i) s.peers.push_back(interested_peer(i, 0, 1e6 * i));

  // Ten peers, four slots: ids 1-4, 5-8, 9 10 1 2, 3-6, ...
  CHECK(s.step(at(0s), choker_role::seed).regular == keys({1, 2, 3, 4}));
  CHECK(s.step(at(10s), choker_role::seed).regular == keys({5, 6, 7, 8}));
  CHECK(s.step(at(20s), choker_role::seed).regular == keys({1, 2, 9, 10}));

  std::map<peer_key, int> turns;
  for (int r = 3; r < 30; ++r) {
    for (auto id : s.step(at(r * 10s), choker_role::seed).regular) ++turns[id];
  }
  // 30 rechokes × 4 slots / 10 peers = 12 regular turns each; the first three gave 1 2 1 2 1 1 1 1 1 1.
  for (std::uint32_t i = 1; i <= 10; ++i) {
    CAPTURE(i);
    CHECK(turns[key(i)] + (i <= 2 ? 2 : 1) == 12);
  }

  SECTION("peers leaving and joining keep the cycle going") {
    std::erase_if(s.peers, [](const peer_stats& p) { return p.id == key(5); });
    s.peers.push_back(interested_peer(11));
    std::set<peer_key> served;
    for (int r = 30; r < 33; ++r) {
      for (auto id : s.step(at(r * 10s), choker_role::seed).regular) served.insert(id);
    }
    CHECK(served.size() == 10);  // 1-4, 6-11: all ten in three rechokes
    CHECK(served.count(key(11)) == 1);
  }
}

TEST_CASE("uninterested peers never get a slot", "[choker]") {
  sim s;
  for (std::uint32_t i = 1; i <= 6; ++i) {
    s.peers.push_back(peer_stats{.id = key(i), .interested = false, .unchoked = i % 2 == 0, .rate_from_bytes_per_s = 100.0 * i});
  }
  s.state.optimistic = key(2);
  const auto d = s.step(at(50s));
  CHECK(d.regular.empty());
  CHECK_FALSE(d.optimistic);
  CHECK_FALSE(s.state.optimistic);
  CHECK(d.to_unchoke.empty());
  CHECK(d.to_choke == keys({2, 4, 6}));
}

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

TEST_CASE("a peer that becomes interested fills a free slot at once", "[choker]") {
  sim s;
  s.peers = {interested_peer(1, 100), interested_peer(2, 50), peer_stats{.id = key(3)}};
  (void)s.step(at(0s));
  CHECK(s.unchoked_ids() == std::set<peer_key>{key(1), key(2)});  // nobody left for the optimistic slot

  s.peer(key(3)).interested = true;
  CHECK(on_interested(s.state, s.peers, s.cfg, key(3), at(1s)) == interest_action::unchoke_regular);
  s.peer(key(3)).unchoked = true;

  SECTION("regular slots full: the free optimistic slot is taken") {
    s.peers.push_back(interested_peer(4));
    s.peer(key(4)).unchoked = true;  // 1 2 3 4 hold the regular slots
    s.peers.push_back(peer_stats{.id = key(5), .interested = true});
    CHECK(on_interested(s.state, s.peers, s.cfg, key(5), at(2s)) == interest_action::unchoke_optimistic);
    CHECK(s.state.optimistic == key(5));
    CHECK(s.state.optimistic_since == at(2s));
    s.peer(key(5)).unchoked = true;

    // Every slot taken: the next one waits for a rechoke.
    s.peers.push_back(peer_stats{.id = key(6), .interested = true});
    CHECK(on_interested(s.state, s.peers, s.cfg, key(6), at(3s)) == interest_action::none);
    CHECK(s.state.optimistic == key(5));

    // A peer still unchoked from before it lost interest must not push the count over
    // regular_slots + 1 when its interest comes back.
    s.peers.push_back(peer_stats{.id = key(7), .interested = true, .unchoked = true});
    CHECK(on_interested(s.state, s.peers, s.cfg, key(7), at(4s)) == interest_action::choke);
  }
  SECTION("an unchoked peer whose interest comes back keeps a free slot") {
    s.peers.push_back(peer_stats{.id = key(7), .interested = true, .unchoked = true});
    CHECK(on_interested(s.state, s.peers, s.cfg, key(7), at(4s)) == interest_action::none);
  }
}

TEST_CASE("slots are respected through a long random run", "[choker]") {
  // 20 peers whose interest, rates and snubbing change at random, every second; the choker
  // reacts with on_interested and rechokes when due, its decisions applied each time.
  const auto slots = GENERATE(0, 1, 4);
  const auto mode = GENERATE(0, 1, 2);  // leecher, seed by rate, seed round robin
  const auto seed = GENERATE(as<std::uint64_t>{}, 7, 8);
  CAPTURE(slots, mode, seed);

  sim s;
  s.rng.seed(seed);
  s.cfg.regular_slots = slots;
  s.cfg.as_seed = mode == 2 ? seed_policy::round_robin : seed_policy::by_rate_to_peer;
  const auto role = mode == 0 ? choker_role::leecher : choker_role::seed;
  std::mt19937_64 world(seed * 1000);
  for (std::uint32_t i = 0; i < 20; ++i) s.peers.push_back(peer_stats{.id = key(i)});

  std::map<peer_key, int> unchoked_seconds;
  std::map<peer_key, int> interested_seconds;
  for (int t = 0; t < 3000; ++t) {
    const auto now = at(t * 1s);
    for (auto& p : s.peers) {
      const auto roll = world() % 100;
      if (roll < 3) {  // interest flips
        p.interested = !p.interested;
        if (p.interested) {
          switch (on_interested(s.state, s.peers, s.cfg, p.id, now)) {
            case interest_action::unchoke_regular:
            case interest_action::unchoke_optimistic: p.unchoked = true; break;
            case interest_action::choke:
              p.unchoked = false;
              p.last_unchoked = now;
              break;
            case interest_action::none: break;
          }
        }
      } else if (roll < 10) {
        p.rate_from_bytes_per_s = static_cast<double>(world() % 100'000);
        p.rate_to_bytes_per_s = static_cast<double>(world() % 100'000);
        p.snubbed = world() % 5 == 0;
      }
    }
    if (p2pdist::bt::rechoke_due(s.state, s.cfg, now)) {
      const auto d = s.step(now, role);
      REQUIRE(d.regular.size() <= static_cast<std::size_t>(slots));
      for (auto id : d.regular) REQUIRE(s.peer(id).interested);
      for (auto id : d.to_unchoke) REQUIRE(s.peer(id).interested);
      if (d.optimistic) {
        REQUIRE(s.peer(*d.optimistic).interested);
        REQUIRE(std::count(d.regular.begin(), d.regular.end(), *d.optimistic) == 0);
      }
      // After a rechoke exactly the target set is unchoked.
      std::set<peer_key> target(d.regular.begin(), d.regular.end());
      if (d.optimistic) target.insert(*d.optimistic);
      REQUIRE(s.unchoked_ids() == target);
    }
    const auto interested_unchoked = std::count_if(
        s.peers.begin(), s.peers.end(), [](const peer_stats& p) { return p.interested && p.unchoked; });
    REQUIRE(interested_unchoked <= slots + 1);
    for (const auto& p : s.peers) {
      if (p.interested) ++interested_seconds[p.id];
      if (p.interested && p.unchoked) ++unchoked_seconds[p.id];
    }
  }
  // Nobody is shut out: every peer that was interested for a good while got unchoked.
  for (const auto& [id, secs] : interested_seconds) {
    if (secs > 1000) CHECK(unchoked_seconds[id] > 0);
  }
}

TEST_CASE("decisions depend only on the snapshots, time and the rng", "[choker]") {
  auto run = [](std::uint64_t seed, int time_divisor) {
    sim s;
    s.rng.seed(seed);
    s.cfg = p2pdist::bt::scaled(s.cfg, 1.0 / time_divisor);
    // Twelve peers, all rates equal: every choice is a tie broken by the rng or a matter of
    // connection and waiting times.
    for (std::uint32_t i = 1; i <= 12; ++i) {
      auto p = interested_peer(i);
      p.connected_at = at(duration(i * 7s) / time_divisor);
      s.peers.push_back(p);
    }
    std::vector<choke_decision> out;
    for (int r = 0; r < 40; ++r) out.push_back(s.step(at(duration(r * 10s) / time_divisor)));
    return out;
  };
  auto same = [](const std::vector<choke_decision>& a, const std::vector<choke_decision>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].regular != b[i].regular || a[i].optimistic != b[i].optimistic || a[i].to_unchoke != b[i].to_unchoke ||
          a[i].to_choke != b[i].to_choke) {
        return false;
      }
    }
    return true;
  };
  const auto base = run(42, 1);
  CHECK(same(base, run(42, 1)));
  // Time ten times faster with the intervals scaled by 0.1: the very same decisions.
  CHECK(same(base, run(42, 10)));
  // Another seed breaks the ties differently somewhere.
  bool any_differs = false;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) any_differs = any_differs || !same(base, run(seed, 1));
  CHECK(any_differs);
}

// ----- on_upload_idle -----

namespace {

using p2pdist::bt::on_upload_idle;

TEST_CASE("on_upload_idle unchokes the interested choked peer that has waited longest", "[choker][idle]") {
  std::vector<peer_stats> peers{interested_peer(1), interested_peer(2), interested_peer(3),
                                peer_stats{.id = key(4), .interested = false, .connected_at = at(0s)}};
  peers[0].unchoked = true;                   // holds a slot: not a candidate
  peers[1].last_unchoked = at(5s);            // choked at 5 s
  peers[2].last_unchoked = at(2s);            // choked at 2 s: has waited longer
  // peer 4 never unchoked (waits since 0 s) but is not interested: not a candidate
  REQUIRE(on_upload_idle(peers, choker_config{}) == std::optional<peer_key>{key(3)});
  peers[2].unchoked = true;
  REQUIRE(on_upload_idle(peers, choker_config{}) == std::optional<peer_key>{key(2)});
  peers[1].unchoked = true;
  REQUIRE_FALSE(on_upload_idle(peers, choker_config{}).has_value());  // nobody left waiting
}

TEST_CASE("on_upload_idle breaks an equal wait by the smaller id", "[choker][idle]") {
  const std::vector<peer_stats> peers{interested_peer(8), interested_peer(5), interested_peer(6)};
  REQUIRE(on_upload_idle(peers, choker_config{}) == std::optional<peer_key>{key(5)});
}

TEST_CASE("on_upload_idle stops at regular_slots + 1 + idle_extra_slots unchoked interested peers", "[choker][idle]") {
  // 2 regular + 1 optimistic + 2 extra = 5 unchoked interested peers at most. Uninterested
  // unchoked peers do not count.
  const choker_config cfg{.regular_slots = 2, .idle_extra_slots = 2};
  std::vector<peer_stats> peers;
  for (std::uint32_t id = 1; id <= 8; ++id) peers.push_back(interested_peer(id));
  peers.push_back(peer_stats{.id = key(20), .interested = false, .unchoked = true});
  std::size_t granted = 0;
  while (const auto k = on_upload_idle(peers, cfg)) {
    auto it = std::find_if(peers.begin(), peers.end(), [&](const peer_stats& p) { return p.id == *k; });
    REQUIRE(it != peers.end());
    REQUIRE(it->interested);
    REQUIRE_FALSE(it->unchoked);
    it->unchoked = true;
    ++granted;
    REQUIRE(granted <= 8);
  }
  CHECK(granted == 5);
  // The classic choker (no extra slots): 2 + 1.
  for (auto& p : peers)
    if (p.interested) p.unchoked = false;
  granted = 0;
  const choker_config classic{.regular_slots = 2, .idle_extra_slots = 0};
  while (const auto k = on_upload_idle(peers, classic)) {
    for (auto& p : peers)
      if (p.id == *k) p.unchoked = true;
    ++granted;
    REQUIRE(granted <= 8);
  }
  CHECK(granted == 3);
}

TEST_CASE("a rechoke takes back what on_upload_idle granted beyond the slots", "[choker][idle]") {
  // After idle unchokes, the next rechoke keeps regular_slots + 1 unchoked interested peers.
  sim s;
  s.cfg = choker_config{.regular_slots = 2, .idle_extra_slots = 3};
  for (std::uint32_t id = 1; id <= 7; ++id) s.peers.push_back(interested_peer(id, 100.0 * id));
  s.apply(rechoke(s.state, s.peers, s.cfg, choker_role::leecher, at(0s), s.rng), at(0s));
  while (const auto k = on_upload_idle(s.peers, s.cfg)) s.peer(*k).unchoked = true;
  CHECK(std::count_if(s.peers.begin(), s.peers.end(), [](const peer_stats& p) { return p.unchoked; }) == 6);
  s.apply(rechoke(s.state, s.peers, s.cfg, choker_role::leecher, at(10s), s.rng), at(10s));
  CHECK(std::count_if(s.peers.begin(), s.peers.end(), [](const peer_stats& p) { return p.unchoked; }) == 3);
}

}  // namespace
