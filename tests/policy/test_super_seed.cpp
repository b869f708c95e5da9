// Tests of an initial seed's super-seeding choices (loopback/policy/super_seed.hpp): the
// piece to announce next (pick_offer) and the peer to announce it to (pick_recipient).

#include "loopback/policy/super_seed.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using namespace p2pdist::bt;

/// What simulate_shares saw.
struct share_run {
  std::vector<std::uint32_t> pieces;  ///< pieces given to each peer
  std::uint64_t max_owed = 0;         ///< the most any peer owed right after a pick
};

/// A seed that gives one piece per tick to pick_recipient's choice; that peer then owes
/// `others` copies, and peer k passes on pays[k] copies per tick.
share_run simulate_shares(const std::vector<std::uint64_t>& pays, std::uint64_t others, std::uint64_t ticks) {
  std::vector<offer_candidate> c;
  for (std::uint32_t k = 0; k < pays.size(); ++k) c.push_back({.id = peer_key{k}});
  share_run r{.pieces = std::vector<std::uint32_t>(pays.size(), 0)};
  for (std::uint64_t t = 1; t <= ticks; ++t) {
    const auto got = pick_recipient(c);
    REQUIRE(got.has_value());
    auto& x = c[static_cast<std::uint32_t>(*got)];
    x.owed += others;
    x.last_served = t;
    ++r.pieces[static_cast<std::uint32_t>(*got)];
    for (const auto& y : c) r.max_owed = std::max(r.max_owed, y.owed);
    for (std::size_t k = 0; k < c.size(); ++k) c[k].owed -= std::min(c[k].owed, pays[k]);
  }
  return r;
}

}  // namespace

// ----- pick_offer -----

TEST_CASE("pick_offer takes the least spread piece before a less offered one", "[super_seed]") {
  std::mt19937_64 rng(7);
  const std::vector<std::uint32_t> spread{2, 1, 0, 1};
  const std::vector<std::uint32_t> offered{0, 0, 5, 0};
  const std::vector<std::uint8_t> excluded(4, 0);
  for (int k = 0; k < 20; ++k) {
    const auto got = pick_offer({.spread = spread, .offered = offered, .excluded = excluded}, rng);
    REQUIRE(got == std::optional<std::uint32_t>{2});
  }
}

TEST_CASE("pick_offer breaks equal spread by fewer offers", "[super_seed]") {
  std::mt19937_64 rng(8);
  const std::vector<std::uint32_t> spread{0, 0, 0, 1};
  const std::vector<std::uint32_t> offered{2, 1, 3, 0};
  const std::vector<std::uint8_t> excluded(4, 0);
  for (int k = 0; k < 20; ++k)
    REQUIRE(pick_offer({.spread = spread, .offered = offered, .excluded = excluded}, rng) ==
            std::optional<std::uint32_t>{1});
}

TEST_CASE("pick_offer never returns an excluded piece", "[super_seed]") {
  std::mt19937_64 rng(9);
  const std::vector<std::uint32_t> spread{0, 3, 0, 2};
  const std::vector<std::uint32_t> offered{0, 0, 0, 0};
  const std::vector<std::uint8_t> excluded{1, 0, 1, 0};
  for (int k = 0; k < 20; ++k)
    REQUIRE(pick_offer({.spread = spread, .offered = offered, .excluded = excluded}, rng) ==
            std::optional<std::uint32_t>{3});
  const std::vector<std::uint8_t> all(4, 1);
  REQUIRE_FALSE(pick_offer({.spread = spread, .offered = offered, .excluded = all}, rng).has_value());
}

TEST_CASE("pick_offer refuses spans of different lengths and empty input", "[super_seed]") {
  std::mt19937_64 rng(10);
  const std::vector<std::uint32_t> three{0, 0, 0};
  const std::vector<std::uint32_t> two{0, 0};
  const std::vector<std::uint8_t> ex3(3, 0);
  REQUIRE_FALSE(pick_offer({.spread = three, .offered = two, .excluded = ex3}, rng).has_value());
  REQUIRE_FALSE(pick_offer({.spread = {}, .offered = {}, .excluded = {}}, rng).has_value());
}

TEST_CASE("pick_offer spreads ties over every tied piece", "[super_seed]") {
  // Pieces 0, 2, 4 and 5 tie at the minimum; 1 and 3 are spread more. Over many draws
  // each tied piece must come up (a fixed scan order would always give 0) and no other.
  std::mt19937_64 rng(11);
  const std::vector<std::uint32_t> spread{0, 1, 0, 1, 0, 0};
  const std::vector<std::uint32_t> offered(6, 0);
  const std::vector<std::uint8_t> excluded(6, 0);
  std::set<std::uint32_t> seen;
  for (int k = 0; k < 400; ++k) {
    const auto got = pick_offer({.spread = spread, .offered = offered, .excluded = excluded}, rng);
    REQUIRE(got.has_value());
    seen.insert(*got);
  }
  REQUIRE(seen == std::set<std::uint32_t>{0, 2, 4, 5});
}

TEST_CASE("offering in turn announces every piece once before any twice", "[super_seed]") {
  // A seed offering to peers in turn (counting each offer) must cover all P pieces in the
  // first P offers and then start a second round.
  std::mt19937_64 rng(12);
  constexpr std::uint32_t pieces = 37;
  const std::vector<std::uint32_t> spread(pieces, 0);
  std::vector<std::uint32_t> offered(pieces, 0);
  const std::vector<std::uint8_t> excluded(pieces, 0);
  std::set<std::uint32_t> first_round;
  for (std::uint32_t k = 0; k < pieces; ++k) {
    const auto got = pick_offer({.spread = spread, .offered = offered, .excluded = excluded}, rng);
    REQUIRE(got.has_value());
    ++offered[*got];
    first_round.insert(*got);
  }
  REQUIRE(first_round.size() == pieces);
  REQUIRE(std::all_of(offered.begin(), offered.end(), [](std::uint32_t n) { return n == 1; }));
}

// ----- pick_recipient -----

TEST_CASE("pick_recipient prefers the peer that owes the fewest copies", "[super_seed]") {
  // Peer 1 was served long ago but still owes one copy: peer 2, served more
  // recently with nothing pending, goes first (BEP 16's rule).
  const std::vector<offer_candidate> c{{.id = peer_key{1}, .owed = 1, .last_served = 1},
                                       {.id = peer_key{2}, .owed = 0, .last_served = 9}};
  REQUIRE(pick_recipient(c) == std::optional<peer_key>{peer_key{2}});
}

TEST_CASE("pick_recipient serves in turn among equals, never-served first", "[super_seed]") {
  const std::vector<offer_candidate> c{{.id = peer_key{4}, .owed = 0, .last_served = 7},
                                       {.id = peer_key{5}, .owed = 0, .last_served = 0},
                                       {.id = peer_key{6}, .owed = 0, .last_served = 3}};
  REQUIRE(pick_recipient(c) == std::optional<peer_key>{peer_key{5}});
  const std::vector<offer_candidate> served{c[0], c[2]};
  REQUIRE(pick_recipient(served) == std::optional<peer_key>{peer_key{6}});
}

TEST_CASE("pick_recipient breaks a full tie by the smaller id, and has none to give for none", "[super_seed]") {
  const std::vector<offer_candidate> c{{.id = peer_key{9}, .owed = 2, .last_served = 4},
                                       {.id = peer_key{3}, .owed = 2, .last_served = 4}};
  REQUIRE(pick_recipient(c) == std::optional<peer_key>{peer_key{3}});
  REQUIRE_FALSE(pick_recipient({}).has_value());
}

TEST_CASE("pick_recipient gives pieces in proportion to how fast peers pass them on", "[super_seed]") {
  // Each piece leaves its recipient 4 times (N - 1 = 4 other leechers). Peer 0 passes on 3
  // copies per tick, peer 1 one: together exactly the 4 the seed's one piece per tick
  // creates, so the only schedule that keeps up gives them 3 : 1, i.e. 300 and 100 of 400
  // pieces. What is owed stays bounded: the first ticks by hand (owed after each pick) are
  // (4,0) (1,4) (4,3) (5,2) (2,5) (4,4) (5,3) (2,6); a peer is picked only while it owes
  // no more than the other, so neither owes more than one pick (4) above the other's level.
  const auto r = simulate_shares({3, 1}, 4, 400);
  REQUIRE(r.pieces[0] + r.pieces[1] == 400);
  REQUIRE(r.pieces[0] >= 295);
  REQUIRE(r.pieces[0] <= 305);
  REQUIRE(r.max_owed <= 8);
  // Equal peers get equal shares: 4 peers paying 1 each against 4 owed per tick, 100 each.
  const auto eq = simulate_shares({1, 1, 1, 1}, 4, 400);
  REQUIRE(eq.pieces == std::vector<std::uint32_t>{100, 100, 100, 100});
  REQUIRE(eq.max_owed <= 4);
}

TEST_CASE("serving the picked peer each time goes round every peer before any twice", "[super_seed]") {
  // Simulated seed: each pick is served with the next sequence number; with nothing
  // owed, the first K picks among K peers must be K distinct peers, and pick K+1 the first again.
  std::vector<offer_candidate> c;
  for (std::uint32_t k = 0; k < 7; ++k) c.push_back({.id = peer_key{100 - k}});
  std::set<std::uint32_t> first_round;
  std::optional<peer_key> first;
  for (std::uint64_t seq = 1; seq <= 7; ++seq) {
    const auto got = pick_recipient(c);
    REQUIRE(got.has_value());
    if (!first) first = got;
    first_round.insert(static_cast<std::uint32_t>(*got));
    for (auto& x : c)
      if (x.id == *got) x.last_served = seq;
  }
  REQUIRE(first_round.size() == 7);
  REQUIRE(pick_recipient(c) == first);
}
