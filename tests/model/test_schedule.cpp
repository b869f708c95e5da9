// Schedules, checked by integrating them: no capacity is exceeded, a peer relays only what
// it receives from the server, and every peer holds exactly F bits at the bound's time.
#include "model/schedule.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>

using namespace p2pdist::model;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double tol = 1e-9;

// Checks `s` against the swarm and the bound; every check is relative to the capacity.
void check_feasible_and_tight(const swarm_params& p, const schedule& s, double bound_seconds) {
  REQUIRE(s.n() == p.n);
  CHECK(s.seconds == Approx(bound_seconds).epsilon(tol));
  CHECK(s.server_send_bps() <= p.server_up_bps * (1 + tol));
  for (std::size_t j = 0; j < p.n; ++j) {
    CHECK(s.server_to_peer[j] >= 0);
    CHECK(s.peer_send_bps(j) <= p.peer_up_bps[j] * (1 + tol) + 1e-12);
    CHECK(s.relay[j][j] == 0);
    for (std::size_t i = 0; i < p.n; ++i) {
      CHECK(s.relay[j][i] >= 0);
      // Peer j forwards only content the server streams to it, so never faster.
      CHECK(s.relay[j][i] <= s.server_to_peer[j] * (1 + tol) + 1e-12);
    }
  }
  for (std::size_t i = 0; i < p.n; ++i) {
    const double in = s.peer_receive_bps(i);
    CHECK(in <= p.peer_down_bps[i] * (1 + tol));
    // Integrated over [0, seconds]: exactly F bits.
    CHECK(in * s.seconds == Approx(p.file_bits).epsilon(tol));
  }
}
}  // namespace

TEST_CASE("client-server schedule: r = min(u_s/N, d_min)", "[schedule]") {
  // N=4, u_s=100, d=20: r = min(25, 20) = 20 -> T = F/20 = 5 s for F = 100.
  const auto p = swarm_params::homogeneous(4, 100, 100, 7, 20);
  const auto s = client_server_schedule(p);
  CHECK(s.kind == schedule_case::client_server);
  CHECK(s.server_to_peer[0] == Approx(20.0));
  CHECK(s.seconds == Approx(5.0));
  check_feasible_and_tight(p, s, client_server_bound(p).seconds);
}

TEST_CASE("P2P schedule, shares in proportion to u_i", "[schedule]") {
  // N=3, u_s=10, u_i=10: (N-1)·u_s = 20 <= U = 30. Server -> i at 10·10/30 = 3.333, relayed to
  // 2 others: each peer uploads 6.667 <= 10 and receives 3.333·3 = 10 = u_s. T = F/10.
  const auto p = swarm_params::homogeneous(3, 100, 10, 10, inf);
  const auto s = p2p_schedule(p);
  CHECK(s.kind == schedule_case::proportional_share);
  CHECK(s.server_to_peer[0] == Approx(10.0 / 3));
  CHECK(s.peer_send_bps(0) == Approx(20.0 / 3));
  CHECK(s.seconds == Approx(10.0));
  check_feasible_and_tight(p, s, p2p_bound(p).seconds);
}

TEST_CASE("P2P schedule, relayed streams plus direct streams", "[schedule]") {
  // N=3, u_s=10, u = 1,2,3 (U = 6): (N-1)·u_s = 20 > 6. Relayed: u_i/2 = 0.5, 1, 1.5;
  // direct: (10 - 6/2)/3 = 7/3. Server -> i: 2.833, 3.333, 3.833 (sum 10). Each peer receives
  // U/2 + 7/3 = 16/3 = (u_s+U)/N. T = N·F/(u_s+U) = 300/16 = 18.75 s for F = 100.
  swarm_params p{.n = 3, .file_bits = 100, .server_up_bps = 10,
                 .peer_up_bps = {1, 2, 3}, .peer_down_bps = {inf, inf, inf}};
  const auto s = p2p_schedule(p);
  CHECK(s.kind == schedule_case::relay_plus_direct);
  CHECK(s.server_to_peer[0] == Approx(0.5 + 7.0 / 3));
  CHECK(s.server_to_peer[2] == Approx(1.5 + 7.0 / 3));
  CHECK(s.server_send_bps() == Approx(10.0));
  CHECK(s.peer_receive_bps(1) == Approx(16.0 / 3));
  CHECK(s.seconds == Approx(18.75));
  check_feasible_and_tight(p, s, p2p_bound(p).seconds);
}

TEST_CASE("P2P schedule scaled down by a slow download", "[schedule]") {
  // As the proportional case, but d = 5: every rate halves; each peer receives 5, T = 20 s.
  const auto p = swarm_params::homogeneous(3, 100, 10, 10, 5);
  const auto s = p2p_schedule(p);
  CHECK(s.server_to_peer[0] == Approx(10.0 / 6));
  CHECK(s.seconds == Approx(20.0));
  check_feasible_and_tight(p, s, p2p_bound(p).seconds);
}

TEST_CASE("P2P schedule with one peer, and with peers that upload nothing", "[schedule]") {
  const auto one = swarm_params::homogeneous(1, 100, 10, 0, inf);
  const auto s1 = p2p_schedule(one);
  CHECK(s1.kind == schedule_case::single_peer);
  check_feasible_and_tight(one, s1, p2p_bound(one).seconds);
  // N=4, U=0: the server streams u_s/N = 2.5 to each; T = 40 s = N·F/u_s.
  const auto zero = swarm_params::homogeneous(4, 100, 10, 0, inf);
  const auto s0 = p2p_schedule(zero);
  CHECK(s0.server_to_peer[3] == Approx(2.5));
  check_feasible_and_tight(zero, s0, 40.0);
}

TEST_CASE("schedules reach the bound for random heterogeneous swarms", "[schedule]") {
  const auto seed = GENERATE(range(1, 41));
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  std::uniform_int_distribution<std::size_t> n_dist(1, 40);
  std::uniform_real_distribution<double> rate(0.1, 10.0);
  std::bernoulli_distribution zero(0.15), unlimited(0.3);
  swarm_params p;
  p.n = n_dist(rng);
  p.file_bits = 1000 * rate(rng);
  p.server_up_bps = rate(rng) * 3;
  for (std::size_t i = 0; i < p.n; ++i) {
    p.peer_up_bps.push_back(zero(rng) ? 0.0 : rate(rng));
    p.peer_down_bps.push_back(unlimited(rng) ? inf : rate(rng) * 2);
  }
  validate(p);
  check_feasible_and_tight(p, client_server_schedule(p), client_server_bound(p).seconds);
  check_feasible_and_tight(p, p2p_schedule(p), p2p_bound(p).seconds);
}
