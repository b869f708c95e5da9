// The latency bound (round trips of at least r on every path, the BitTorrent exchange over
// TCP). Every expected value is worked out by hand in the comment beside it, in bits, bits/s
// and seconds with round numbers.
#include "model/latency_bound.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "swarms.hpp"

using namespace p2pdist::model;

using test::inf;
using test::swarm;

namespace {
constexpr auto p2p = distribution_mode::p2p;
constexpr auto cs = distribution_mode::client_server;
}  // namespace

TEST_CASE("latency bound: client-server, peers dial the server they know", "[latency_bound]") {
  // N = 2, F = 8, u_s = 8, d unlimited, r = 0.1, direct: a peer's SYN at 0, its handshake
  // at 0.1, the server's bitfield at 0.15 (its side open), the request back at 0.25 = t_s.
  // L1 = 0.25 + 8/8 + 0.05 = 1.3; L2 = 0.25 + 0.05 + 0 = 0.3;
  // L3 = 0.25 + 2·8/8 + 0.05 = 2.3; L0 = D_cs = 2·8/8 = 2.  → 2.3, the server's upload.
  const auto b = latency_bound(swarm(8, 8, {0, 0}, {inf, inf}), 8, cs, 0.1, discovery::direct);
  CHECK(b.first_send_seconds == Approx(0.25));
  CHECK(b.piece_seconds == Approx(2.0));
  CHECK(b.first_copy_seconds == Approx(1.3));
  CHECK(b.download_seconds == Approx(0.3));
  CHECK(b.upload_seconds == Approx(2.3));
  CHECK(b.seconds == Approx(2.3));
  CHECK(b.binding == latency_binding::upload_ramp);
  CHECK(b.rtt_seconds == 0.1);
}

TEST_CASE("latency bound: P2P, two peers, one piece, found through the tracker", "[latency_bound]") {
  // N = 2, F = σ = 8, u_s = u = 8, d unlimited, r = 0.1, tracker: t_s = 3r = 0.3.
  // h_1: the server sends 8 by 0.3 + 1 = 1.3, it arrives at 1.35; the first holder uploads
  //   from 1.35 + r = 1.45.
  // h_2: 16 sent: 8 by 1.3, 8 + 8·0.15 = 9.2 by 1.45, then 16 a second: 6.8/16 = 0.425
  //   more → 1.875, arriving 1.925.
  // L3: N·F = 16 sent by 1.875 → 1.925. L1 = 0.3 + 1 + 0.05 = 1.35 for the first copies,
  //   then the piece to the other peer: min(1.5r = 0.15, 1·8/8 = 1) → 1.5; L2 = 0.35;
  // L0 = 1.5 (the piece bound's spread: 8/8 + 8/16). → 1.925, the upload's ramp.
  const auto b = latency_bound(swarm(8, 8, {8, 8}, {inf, inf}), 8, p2p, 0.1, discovery::tracker);
  CHECK(b.first_send_seconds == Approx(0.3));
  CHECK(b.piece_seconds == Approx(1.5));
  CHECK(b.first_copy_seconds == Approx(1.5));
  CHECK(b.download_seconds == Approx(0.35));
  CHECK(b.upload_seconds == Approx(1.925));
  CHECK(b.seconds == Approx(1.925));
  CHECK(b.binding == latency_binding::upload_ramp);
}

TEST_CASE("latency bound: P2P limited by the slower download", "[latency_bound]") {
  // N = 2, F = σ = 8, u_s = 80, u = 0, d = 8 and 4, r = 0.2: t_s = 0.6, arrivals from 0.7.
  // L2 = 0.7 + 8/4 = 2.7. L1 = 0.6 + 8/80 + 0.1 = 0.8, then the piece to the other peer:
  //   min(1.5r = 0.3, 1·8/80 = 0.1) → 0.9.
  // L3: h_1 = max(8 sent by 0.6 + 8/80 = 0.7, arriving 0.8; 0.7 + σ/d_max = 1.7;
  //   0.7 + σ/D = 0.7 + 8/12) = 1.7;
  //   h_2 = max(16 sent by 0.8, arriving 0.9; 0.7 + 16/12 = 2.0333…) = 2.0333…;
  //   T ≥ max(0.9, 0.7 + 16/12) = 2.0333….
  // L0 = the fluid F/d_min = 2. → 2.7: every bit reaches the slow peer after 0.7.
  const auto b = latency_bound(swarm(8, 80, {0, 0}, {8, 4}), 8, p2p, 0.2, discovery::tracker);
  CHECK(b.download_seconds == Approx(2.7));
  CHECK(b.first_copy_seconds == Approx(0.9));
  CHECK(b.upload_seconds == Approx(0.7 + 16.0 / 12));
  CHECK(b.piece_seconds == Approx(2.0));
  CHECK(b.seconds == Approx(2.7));
  CHECK(b.binding == latency_binding::download);
}

TEST_CASE("latency bound: server-limited, the first copies bind", "[latency_bound]") {
  // N = 1, F = 8, u_s = 1, u = 100, d unlimited, r = 0.4, one piece: t_s = 1.2.
  // L1 = 1.2 + 8/1 + 0.2 = 9.4. L3: the one peer's upload starts after it holds the file
  // (8 sent by 9.2, held at 9.4): 8 sent by 9.2 → 9.4, a tie with L1 (L1 named first).
  // L0 = F/u_s = 8.
  const auto b = latency_bound(swarm(8, 1, {100}, {inf}), 8, p2p, 0.4, discovery::tracker);
  CHECK(b.first_copy_seconds == Approx(9.4));
  CHECK(b.upload_seconds == Approx(9.4));
  CHECK(b.seconds == Approx(9.4));
  CHECK(b.binding == latency_binding::first_copy);
}

TEST_CASE("latency bound: P2P, the last piece's spread after the first copies", "[latency_bound]") {
  // N = 4, F = 8 in 8 pieces (σ = 1), u_s = 1, u = 100, d unlimited, r = 0.2: t_s = 0.6.
  // The first copies end at 0.6 + 8/1 + 0.1 = 8.7; the last piece then reaches the three
  // others by a relay (a have and a request: 1.5r = 0.3 more) or from the server
  // (3·1/1 = 3 s more): L1 = 8.7 + 0.3 = 9.0.
  // L3 is far lower (the peers upload 100 each from about 1.9 on), and L0 = the piece
  // bound's spread, 8 + Σ_{k=0}^{2} 1/min(1 + 100(k+1), ∞) = 8 + 1/101 + 1/201 + 1/301.
  const auto b = latency_bound(swarm(8, 1, {100, 100, 100, 100}, {inf, inf, inf, inf}), 1, p2p, 0.2,
                               discovery::tracker);
  CHECK(b.first_copy_seconds == Approx(9.0));
  CHECK(b.piece_seconds == Approx(8 + 1.0 / 101 + 1.0 / 201 + 1.0 / 301));
  CHECK(b.upload_seconds < 3.0);
  CHECK(b.seconds == Approx(9.0));
  CHECK(b.binding == latency_binding::first_copy);
  // With u_s = 30 the server sends the last piece to the others in 3/30 = 0.1 < 0.3:
  // t_s + F/u_s + r/2 + 0.1 = 0.6 + 8/30 + 0.1 + 0.1.
  const auto fast = latency_bound(swarm(8, 30, {100, 100, 100, 100}, {inf, inf, inf, inf}), 1, p2p, 0.2,
                                  discovery::tracker);
  CHECK(fast.first_copy_seconds == Approx(0.6 + 8.0 / 30 + 0.1 + 0.1));
}

TEST_CASE("latency bound: with no round trip it is the piece bound, never below it, and it grows with r", "[latency_bound]") {
  // F = 16, σ = 1, u_s = u = 1, eight peers: the piece bound's own case (17.717857…).
  const auto p = swarm(16, 1, std::vector<double>(8, 1), std::vector<double>(8, inf));
  const auto pieces = piece_bound(p, 1, p2p);
  const auto zero = latency_bound(p, 1, p2p, 0, discovery::tracker);
  CHECK(zero.seconds == Approx(pieces.seconds).epsilon(1e-12));
  CHECK(zero.binding == latency_binding::piece);
  double last = zero.seconds;
  for (const double r : {0.001, 0.01, 0.1, 1.0, 3.0}) {
    const auto b = latency_bound(p, 1, p2p, r, discovery::tracker);
    CHECK(b.seconds >= last);
    CHECK(b.seconds >= pieces.seconds);
    // At least the first send and the last arrival: t_s + r/2 more than F/u_s.
    CHECK(b.seconds >= 3 * r + 16 + r / 2 - 1e-9);
    last = b.seconds;
  }
  // Heterogeneous, unlimited uploads (the harness's 1e300) and a short last piece: finite.
  const auto h = swarm(10, 2, {1e300, 0, 3}, {5, inf, 1});
  const auto b = latency_bound(h, 3, p2p, 0.05, discovery::tracker);
  CHECK(std::isfinite(b.seconds));
  CHECK(b.seconds >= piece_bound(h, 3, p2p).seconds);
  // L2 here: 0.15 + 0.025 + 10/1.
  CHECK(b.download_seconds == Approx(10.175));
}

TEST_CASE("latency bound: bad round trips are refused", "[latency_bound]") {
  const auto p = swarm(8, 8, {8}, {inf});
  CHECK_THROWS_AS(latency_bound(p, 8, p2p, -0.1, discovery::tracker), std::invalid_argument);
  CHECK_THROWS_AS(latency_bound(p, 8, p2p, std::numeric_limits<double>::quiet_NaN(), discovery::tracker),
                  std::invalid_argument);
  CHECK_THROWS_AS(latency_bound(p, 8, p2p, inf, discovery::tracker), std::invalid_argument);
  CHECK_THROWS_AS(latency_bound(p, 0, p2p, 0.1, discovery::tracker), std::invalid_argument);
}
