// The piece bound (store and forward, a piece's blocks from several senders allowed).
// Every expected value is worked out by hand in the comment beside it; units are bits and
// bits/s with small round numbers, so the times come out as exact fractions.
#include "model/piece_bound.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <vector>

#include "model/chunked.hpp"

#include "swarms.hpp"

using namespace p2pdist::model;

using test::inf;
using test::swarm;

namespace {
constexpr auto p2p = distribution_mode::p2p;
}  // namespace

TEST_CASE("piece bound: two peers, one piece", "[piece_bound]") {
  // F = 1, u_s = u = 1, one piece (σ = 1), downloads unlimited.
  // fluid = max(F/u_s = 1, N·F/(u_s+U) = 2/3) = 1.
  // spread = F/u_s + σ/min(u_s + U_(1), 1·d) = 1 + 1/2 = 1.5: the server sends A the piece,
  //   then the server and A each send B half of it at once (B receives at 2).
  // ramp: τ1 = 1/1 = 1, τ2 = 1 + 1/2 = 1.5; the server alone delivers 1 by τ1, then it and
  //   A deliver 2 a second: 1 more by 1.5 → 1.5.
  // The round schedule takes 2 (A, then B, one sender a round): better than rounds.
  const auto r = piece_bound(swarm(1, 1, {1, 1}, {inf, inf}), 1, p2p);
  CHECK(r.pieces == 1);
  CHECK(r.fluid_seconds == Approx(1.0));
  CHECK(r.spread_seconds == Approx(1.5));
  CHECK(r.ramp_seconds == Approx(1.5));
  CHECK(r.seconds == Approx(1.5));
  CHECK(r.binding == piece_binding::spread);  // ties go to the first term
  REQUIRE(r.round_schedule_seconds);
  CHECK(*r.round_schedule_seconds == Approx(2.0));
}

TEST_CASE("piece bound: with downloads at u, one sender at a time, the round optimum", "[piece_bound]") {
  // As above with d = 1: B receives at most 1, so after A has the piece B needs 1 more:
  // spread = 1 + 1/min(2, 1·1) = 2 = the round schedule (M + ⌊log₂2⌋ = 2 rounds).
  // ramp: τ1 = 1/min(1, 2·1) = 1, τ2 = 1 + 1/min(2, 1) = 2; 1 delivered by τ1, then
  //   min(2, D = 2) = 2 a second: 1 more by 1.5 → 1.5.
  const auto r = piece_bound(swarm(1, 1, {1, 1}, {1, 1}), 1, p2p);
  CHECK(r.spread_seconds == Approx(2.0));
  CHECK(r.ramp_seconds == Approx(1.5));
  CHECK(r.seconds == Approx(2.0));
  CHECK(*r.round_schedule_seconds == Approx(2.0));
}

TEST_CASE("piece bound: eight equal peers, sixteen pieces", "[piece_bound]") {
  // F = 16, σ = 1, u_s = u = 1: spread = 16 + Σ_{k=0}^{6} 1/(k+2) = 16 + (H_8 − 1)
  //   = 16 + 1/2 + 1/3 + 1/4 + 1/5 + 1/6 + 1/7 + 1/8 = 16 + 1.717857142857 = 17.717857142857.
  // ramp: τ_k = H_k; (128 + Σ H_k)/9 with all τ passed: Σ_{k=1}^{8} H_k = 16.460714285714
  //   → 16.051190476190 (≤ spread). fluid = 16. Round schedule: (16 + 3)·1 = 19.
  const auto r = piece_bound(swarm(16, 1, std::vector<double>(8, 1), std::vector<double>(8, inf)), 1, p2p);
  CHECK(r.pieces == 16);
  CHECK(r.spread_seconds == Approx(17.717857142857));
  CHECK(r.ramp_seconds == Approx(16.051190476190));
  CHECK(r.seconds == Approx(17.717857142857));
  CHECK(*r.round_schedule_seconds == Approx(19.0));
}

TEST_CASE("piece bound: unequal uploads, the fastest assumed to help first", "[piece_bound]") {
  // N = 3, u_s = 2, u = {1, 3, 2} (U_(1) = 3, U_(2) = 5, U = 6), F = 4, σ = 1, d unlimited.
  // fluid = max(4/2, 3·4/8) = 2. spread = 2 + 1/(2+3) + 1/(2+5) = 2.342857142857.
  // ramp: τ = 0.5, 0.7, 0.842857142857; delivered 2·0.5 = 1 by τ1, + 5·0.2 = 2 by τ2,
  //   + 7·0.142857142857 = 3 by τ3, then 8 a second: (12 − 3)/8 = 1.125 more
  //   → 0.842857142857 + 1.125 = 1.967857142857.
  const auto r = piece_bound(swarm(4, 2, {1, 3, 2}, {inf, inf, inf}), 1, p2p);
  CHECK(r.fluid_seconds == Approx(2.0));
  CHECK(r.spread_seconds == Approx(2.342857142857));
  CHECK(r.ramp_seconds == Approx(1.967857142857));
  CHECK(r.seconds == Approx(2.342857142857));
  CHECK_FALSE(r.round_schedule_seconds);  // uploads differ: no round schedule
}

TEST_CASE("piece bound: large pieces and slow peers, the ramp binds", "[piece_bound]") {
  // N = 4, u_s = 1, u = 0.25 each (U = 1), F = 1, two pieces (σ = 0.5), d unlimited.
  // fluid = max(1, 4·1/2) = 2 (aggregate). spread = 1 + 0.5/1.25 + 0.5/1.5 + 0.5/1.75
  //   = 2.019047619048. ramp: τ = 0.5, 0.9, 1.233333333333, 1.519047619048; the last
  //   segment: (4 + 0.25·(0.5 + 0.9 + 1.233333333333 + 1.519047619048))/2 = 2.519047619048.
  const auto r = piece_bound(swarm(1, 1, {0.25, 0.25, 0.25, 0.25}, {inf, inf, inf, inf}), 0.5, p2p);
  CHECK(r.pieces == 2);
  CHECK(r.fluid_seconds == Approx(2.0));
  CHECK(r.spread_seconds == Approx(2.019047619048));
  CHECK(r.ramp_seconds == Approx(2.519047619048));
  CHECK(r.seconds == Approx(2.519047619048));
  CHECK(r.binding == piece_binding::ramp);
}

TEST_CASE("piece bound: a slow server and slow downloads, both terms above the fluid bound", "[piece_bound]") {
  // N = 4, u_s = 1, u = 4 each, d = 1 each (D = 4), F = 1, σ = 0.5.
  // fluid = max(F/u_s = 1, F/d = 1, 4/17) = 1.
  // ramp: r_0 = min(1, 4·1) = 1, r_1 = max(1, min(5, 3)) = 3, r_2 = max(3, min(9, 2)) = 3,
  //   r_3 = 3: τ = 0.5, 0.666666666667, 0.833333333333, 1.0. Delivered: 1·0.5 = 0.5 by τ1,
  //   then min(5, D) = 4 a second: the rest, 3.5, takes 0.875 → 1.375. (Without the cap D
  //   it would be below 1: after τ1 the downloads, not the uploads, bind.)
  // spread: F/u_s = 1, then r = min(1 + 4, 3·1) = 3 for the three others at once:
  //   3 · 0.5/3 = 0.5 → 1.5 (the last piece reaches the three in parallel, at d each).
  const auto r = piece_bound(swarm(1, 1, {4, 4, 4, 4}, {1, 1, 1, 1}), 0.5, p2p);
  CHECK(r.fluid_seconds == Approx(1.0));
  CHECK(r.ramp_seconds == Approx(1.375));
  CHECK(r.spread_seconds == Approx(1.5));
  CHECK(r.seconds == Approx(1.5));
  CHECK(r.binding == piece_binding::spread);
}

TEST_CASE("piece bound: a short last piece is the one assumed to go last", "[piece_bound]") {
  // F = 2.5, pieces of 1: M = 3, the last 0.5 (σ = 0.5). N = 2, u_s = u = 1, d unlimited.
  // spread = 2.5 + 0.5/2 = 2.75. Pieces differ in size: no round schedule.
  const auto r = piece_bound(swarm(2.5, 1, {1, 1}, {inf, inf}), 1, p2p);
  CHECK(r.pieces == 3);
  CHECK(r.spread_seconds == Approx(2.75));
  CHECK_FALSE(r.round_schedule_seconds);
}

TEST_CASE("piece bound: one peer, and client-server", "[piece_bound]") {
  // N = 1: the spread sum is empty, the bound is F/u_s = 4 (or F/d = 8 with d = 0.5).
  CHECK(piece_bound(swarm(4, 1, {1}, {inf}), 1, p2p).seconds == Approx(4.0));
  const auto slow = piece_bound(swarm(4, 1, {1}, {0.5}), 1, p2p);
  CHECK(slow.seconds == Approx(8.0));
  CHECK(slow.binding == piece_binding::fluid);
  // Client-server: nobody passes pieces on; the bound is D_cs = N·F/u_s = 4·1/1 = 4.
  const auto cs = piece_bound(swarm(1, 1, {1, 1, 1, 1}, {inf, inf, inf, inf}), 0.25, distribution_mode::client_server);
  CHECK(cs.seconds == Approx(4.0));
  CHECK(cs.pieces == 4);
  CHECK(cs.spread_seconds == 0);
}

TEST_CASE("piece bound: tends to the fluid bound as pieces shrink", "[piece_bound]") {
  const auto n = GENERATE(1, 2, 8, 64);
  const auto p = swarm_params::homogeneous(static_cast<std::size_t>(n), 1e6, 10, 2, inf);
  double previous = inf;
  for (double piece : {1e6, 1e5, 1e4, 1e3, 1e2, 1.0}) {
    const auto r = piece_bound(p, piece, p2p);
    CHECK(r.seconds >= r.fluid_seconds);
    CHECK(r.seconds <= previous * (1 + 1e-12));
    previous = r.seconds;
  }
  CHECK(previous == Approx(p2p_bound(p).seconds).epsilon(1e-4));
}

TEST_CASE("piece bound: never above a schedule that is achieved (the round schedule)", "[piece_bound]") {
  // The round schedule is a real schedule for equal peers (d ≥ u), so a lower bound may not
  // exceed it, for every N, M and d ≥ u tried.
  for (double d : {inf, 1.0, 2.5}) {
  for (std::size_t n : {1, 2, 3, 5, 8, 17, 64, 255}) {
    for (std::uint64_t m : {1, 2, 3, 7, 16, 100}) {
      const auto p = swarm_params::homogeneous(n, static_cast<double>(m), 1, 1, d);
      const auto r = piece_bound(p, 1, p2p);
      INFO("N = " << n << ", M = " << m << ", d = " << d);
      REQUIRE(r.round_schedule_seconds);
      CHECK(r.seconds <= *r.round_schedule_seconds + 1e-9);
    }
  }
  }
}

TEST_CASE("piece bound: a bad piece size is refused", "[piece_bound]") {
  const auto p = swarm_params::homogeneous(2, 1, 1, 1, inf);
  CHECK_THROWS_AS(piece_bound(p, 0, p2p), std::invalid_argument);
  CHECK_THROWS_AS(piece_bound(p, inf, p2p), std::invalid_argument);
}
