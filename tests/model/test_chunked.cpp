// The chunked bound: M + floor(log2 N) rounds of F/(M·u) with equal upload rates.
#include "model/chunked.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace p2pdist::model;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
swarm_params equal_swarm(std::size_t n, double u) { return swarm_params::homogeneous(n, 1000, u, u, inf); }
}  // namespace

TEST_CASE("floor_log2", "[chunked]") {
  CHECK(floor_log2(1) == 0);
  CHECK(floor_log2(2) == 1);
  CHECK(floor_log2(3) == 1);
  CHECK(floor_log2(7) == 2);
  CHECK(floor_log2(8) == 3);
  CHECK(floor_log2(1000) == 9);  // 512 <= 1000 < 1024
}

TEST_CASE("chunked bound, equal capacities", "[chunked]") {
  // F = 1000 bits, u = 10 bit/s: F/u = 100 s.
  // N=1, M=1: one round of F/u = 100 s (the server sends the file to its one client).
  auto r = chunked_bound(equal_swarm(1, 10), 1);
  CHECK(r.closed_form);
  CHECK(*r.rounds == 1);
  CHECK(r.seconds == Approx(100.0));
  // N=2, M=1: the server sends to A, then A (or the server) to B: 2 rounds = 200 s.
  CHECK(chunked_bound(equal_swarm(2, 10), 1).seconds == Approx(200.0));
  // N=7, M=10: 10 + 2 = 12 rounds of 1000/(10·10) = 10 s -> 120 s = 1.2·F/u.
  r = chunked_bound(equal_swarm(7, 10), 10);
  CHECK(*r.rounds == 12);
  CHECK(r.seconds == Approx(120.0));
  // N=8, M=4: 4 + 3 = 7 rounds of 25 s = 175 s.
  CHECK(chunked_bound(equal_swarm(8, 10), 4).seconds == Approx(175.0));
  // Fluid bound for equal capacities: max(F/u, N·F/(u+N·u)) = F/u = 100 s.
  CHECK(r.fluid_seconds == Approx(100.0));
}

TEST_CASE("chunked bound approaches the fluid bound from above as M grows", "[chunked]") {
  const auto n = GENERATE(1, 2, 5, 16, 100);
  const auto p = equal_swarm(static_cast<std::size_t>(n), 4);
  double previous = inf;
  for (std::uint64_t m : {1, 2, 4, 16, 256, 65536}) {
    const auto r = chunked_bound(p, m);
    CHECK(r.seconds >= r.fluid_seconds);
    CHECK(r.seconds <= previous);
    previous = r.seconds;
  }
  CHECK(previous == Approx(chunked_bound(p, 1).fluid_seconds).epsilon(1e-3));
}

TEST_CASE("unequal capacities: no closed form, the fluid bound is reported", "[chunked]") {
  const auto p = swarm_params::homogeneous(4, 1000, 10, 5, inf);
  const auto r = chunked_bound(p, 8);
  CHECK_FALSE(r.closed_form);
  CHECK_FALSE(r.rounds.has_value());
  // Fluid: max(1000/10, 4000/(10+20)) = 133.3 s.
  CHECK(r.seconds == Approx(4000.0 / 30));
  CHECK_THAT(r.note, Catch::Contains("no closed form"));
  CHECK_THROWS(chunked_bound(p, 0));
}
