#pragma once
// A choker simulation shared by the choker's tests (test_choker.cpp,
// test_choker_optimistic.cpp): the choker is driven from value snapshots over simulated
// time, a vector of peer_stats, decisions applied to it as the network layer would, `now`
// advanced by hand.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/policy/choker.hpp"

namespace p2pdist::bt::test {

/// The peer key with value v.
inline peer_key key(std::uint32_t v) { return peer_key{v}; }
/// The time point `d` after the simulation's start.
inline time_point at(duration d) { return time_point(d); }

/// An interested peer, connected long ago, with the given rates.
inline peer_stats interested_peer(std::uint32_t id, double rate_from = 0, double rate_to = 0) {
  return peer_stats{.id = key(id),
                    .interested = true,
                    .rate_from_bytes_per_s = rate_from,
                    .rate_to_bytes_per_s = rate_to,
                    .connected_at = at(duration::zero())};
}

/// Peers and a choker, with decisions applied to the snapshots as the network layer does.
struct sim {
  std::vector<peer_stats> peers;
  choker_config cfg{};
  choker_state state{};
  std::mt19937_64 rng{1};

  /// The snapshot of peer `id`; fails the test when there is none.
  peer_stats& peer(peer_key id) {
    auto it = std::find_if(peers.begin(), peers.end(), [&](const peer_stats& p) { return p.id == id; });
    REQUIRE(it != peers.end());
    return *it;
  }
  /// Applies a decision to the snapshots as the network layer does.
  void apply(const choke_decision& d, time_point now) {
    for (auto id : d.to_unchoke) peer(id).unchoked = true;
    for (auto id : d.to_choke) {
      peer(id).unchoked = false;
      peer(id).last_unchoked = now;
    }
  }
  /// A rechoke at `now`, applied.
  choke_decision step(time_point now, choker_role role = choker_role::leecher) {
    auto d = rechoke(state, peers, cfg, role, now, rng);
    apply(d, now);
    return d;
  }
  /// The peers unchoked now.
  std::set<peer_key> unchoked_ids() const {
    std::set<peer_key> out;
    for (const auto& p : peers) {
      if (p.unchoked) out.insert(p.id);
    }
    return out;
  }
};

/// Peer keys from their values.
inline std::vector<peer_key> keys(std::initializer_list<std::uint32_t> ids) {
  std::vector<peer_key> out;
  for (auto i : ids) out.push_back(key(i));
  return out;
}

}  // namespace p2pdist::bt::test
