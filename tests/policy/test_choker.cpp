// Tests of the choker (loopback/policy/choker.hpp): the regular slots as a leecher and as a
// seed, interest, long random runs, on_upload_idle. The optimistic unchoke is tested in
// test_choker_optimistic.cpp; the simulation both use is in choker_sim.hpp.

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/policy/choker.hpp"

#include "choker_sim.hpp"

using namespace std::chrono_literals;
using p2pdist::bt::choke_decision;
using p2pdist::bt::choker_config;
using p2pdist::bt::choker_role;
using p2pdist::bt::duration;
using p2pdist::bt::interest_action;
using p2pdist::bt::on_interested;
using p2pdist::bt::peer_key;
using p2pdist::bt::peer_stats;
using p2pdist::bt::rechoke;
using p2pdist::bt::seed_policy;
using namespace p2pdist::bt::test;

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

// ----- on_upload_underused -----

using p2pdist::bt::on_upload_underused;
using p2pdist::bt::choker_state;

// Upload limit 1 MB/s, default swap_below_fraction 0.06: a peer that takes less than
// 60 kB/s of it gives up its slot once it has held it 400 ms (swap_after).
constexpr double limit = 1e6;

std::vector<peer_stats> swap_swarm() {
  std::vector<peer_stats> peers;
  for (std::uint32_t id = 1; id <= 4; ++id) {  // unchoked at 1 s, each taking 200 kB/s
    auto p = interested_peer(id);
    p.unchoked = true;
    p.unchoked_since = at(1s);
    p.recent_rate_to_bytes_per_s = 200e3;
    peers.push_back(p);
  }
  for (std::uint32_t id = 5; id <= 6; ++id) peers.push_back(interested_peer(id));  // waiting
  peers[5].last_unchoked = at(500ms);  // peer 6 choked at 0.5 s; peer 5 waits since 0 s
  return peers;
}

TEST_CASE("on_upload_underused hands the slot of the peer that takes least to the one that waited longest",
          "[choker][idle]") {
  auto peers = swap_swarm();
  const choker_state state{};
  // Everyone takes 200 kB/s (20 % of the limit): nothing to hand over.
  REQUIRE_FALSE(on_upload_underused(state, peers, choker_config{}, limit, at(2s)).has_value());
  // Peer 3 takes 50 kB/s and peer 2 10 kB/s, both below 60 kB/s: the least, peer 2, goes;
  // peer 5 (waiting since it connected at 0 s) comes before peer 6 (choked at 0.5 s).
  peers[2].recent_rate_to_bytes_per_s = 50e3;
  peers[1].recent_rate_to_bytes_per_s = 10e3;
  const auto swap = on_upload_underused(state, peers, choker_config{}, limit, at(2s));
  REQUIRE(swap.has_value());
  CHECK(swap->choke == key(2));
  CHECK(swap->unchoke == key(5));
  // Just below the threshold counts, exactly at it does not.
  peers[1].recent_rate_to_bytes_per_s = 200e3;
  peers[2].recent_rate_to_bytes_per_s = 60e3;
  CHECK_FALSE(on_upload_underused(state, peers, choker_config{}, limit, at(2s)).has_value());
  peers[2].recent_rate_to_bytes_per_s = 59.9e3;
  CHECK(on_upload_underused(state, peers, choker_config{}, limit, at(2s))->choke == key(3));
}

TEST_CASE("on_upload_underused spares a fresh unchoke, the optimistic peer and uninterested peers", "[choker][idle]") {
  auto peers = swap_swarm();
  for (auto& p : peers)
    if (p.unchoked) p.recent_rate_to_bytes_per_s = 0;  // all four take nothing
  // Unchoked at 1 s: at 1.3 s none has held its slot 400 ms; at 1.4 s all have.
  CHECK_FALSE(on_upload_underused(choker_state{}, peers, choker_config{}, limit, at(1300ms)).has_value());
  REQUIRE(on_upload_underused(choker_state{}, peers, choker_config{}, limit, at(1400ms)).has_value());
  CHECK(on_upload_underused(choker_state{}, peers, choker_config{}, limit, at(1400ms))->choke == key(1));
  // The optimistic holder (peer 1) keeps its turn; an uninterested peer (2) is no candidate
  // (the rechoke chokes it); peer 3 was unchoked only just now.
  choker_state state;
  state.optimistic = key(1);
  peers[1].interested = false;
  peers[2].unchoked_since = at(1900ms);
  CHECK(on_upload_underused(state, peers, choker_config{}, limit, at(2s))->choke == key(4));
  peers[3].recent_rate_to_bytes_per_s = 100e3;
  CHECK_FALSE(on_upload_underused(state, peers, choker_config{}, limit, at(2s)).has_value());
}

TEST_CASE("on_upload_underused needs a waiting peer, a limit and a threshold", "[choker][idle]") {
  auto peers = swap_swarm();
  peers[0].recent_rate_to_bytes_per_s = 0;
  REQUIRE(on_upload_underused(choker_state{}, peers, choker_config{}, limit, at(2s)).has_value());
  // No limit (unlimited upload, or a NaN): nothing is underused against it.
  CHECK_FALSE(on_upload_underused(choker_state{}, peers, choker_config{}, 0, at(2s)).has_value());
  CHECK_FALSE(on_upload_underused(choker_state{}, peers, choker_config{}, std::nan(""), at(2s)).has_value());
  // swap_below_fraction 0 turns it off.
  CHECK_FALSE(on_upload_underused(choker_state{}, peers, choker_config{.swap_below_fraction = 0}, limit, at(2s))
                  .has_value());
  // Nobody waits: the waiting peers lost interest.
  peers[4].interested = peers[5].interested = false;
  CHECK_FALSE(on_upload_underused(choker_state{}, peers, choker_config{}, limit, at(2s)).has_value());
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
