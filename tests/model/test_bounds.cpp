// Bounds, with every expected value worked out by hand in the comment beside it.
#include "model/bounds.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <stdexcept>

using namespace p2pdist::model;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
}

TEST_CASE("contract example: N=10, F=15 Gbit, u_s=30 Mbps, u=300 kbps, d=2 Mbps", "[bounds]") {
  const auto p = swarm_params::homogeneous(10, 15e9, 30e6, 300e3, 2e6);
  // CS: N·F/u_s = 10·15e9/30e6 = 5000 s; F/d_min = 15e9/2e6 = 7500 s -> 7500, download binds.
  const auto cs = client_server_bound(p);
  CHECK(cs.seconds == Approx(7500.0));
  CHECK(cs.binding == binding_term::slowest_download);
  CHECK(cs.server_upload_seconds == Approx(5000.0));
  // P2P: F/u_s = 500 s; F/d_min = 7500 s; N·F/(u_s+Σu) = 1.5e11/(30e6+3e6) = 4545.45 s.
  const auto pp = p2p_bound(p);
  CHECK(pp.seconds == Approx(7500.0));
  CHECK(pp.binding == binding_term::slowest_download);
  CHECK(pp.server_upload_seconds == Approx(500.0));
  CHECK(pp.aggregate_upload_seconds == Approx(1.5e11 / 33e6));
}

TEST_CASE("textbook Figure 2.23: F/u = 1 hour, u_s = 10u, d_min >= u_s", "[bounds]") {
  // u = 1 bit/s, F = 3600 bits (F/u = 1 h), u_s = 10 bit/s, downloads unlimited.
  const auto at = [](std::size_t n) { return swarm_params::homogeneous(n, 3600, 10, 1, inf); };
  // CS grows linearly: N·F/u_s = 360·N s: N=10 -> 3600 s (1 h), N=30 -> 10800 s (3 h).
  CHECK(client_server_bound(at(10)).seconds == Approx(3600.0));
  CHECK(client_server_bound(at(30)).seconds == Approx(10800.0));
  CHECK(client_server_bound(at(30)).binding == binding_term::server_upload);
  // P2P: max(F/u_s = 360, N·3600/(10+N)): N=10 -> 36000/20 = 1800 s; N=30 -> 108000/40 = 2700 s.
  CHECK(p2p_bound(at(10)).seconds == Approx(1800.0));
  CHECK(p2p_bound(at(30)).seconds == Approx(2700.0));
  CHECK(p2p_bound(at(30)).binding == binding_term::aggregate_upload);
  // N=1: 3600/11 = 327.3 s < F/u_s = 360 s, so the server's upload binds.
  CHECK(p2p_bound(at(1)).seconds == Approx(360.0));
  CHECK(p2p_bound(at(1)).binding == binding_term::server_upload);
  // P2P stays under F/u = 1 hour for every N: N·3600/(10+N) < 3600.
  for (std::size_t n = 1; n <= 1000; ++n) CHECK(p2p_bound(at(n)).seconds < 3600.0);
}

TEST_CASE("textbook table: N = 1000, u = 300 kbps", "[bounds]") {
  const auto p = swarm_params::homogeneous(1000, 15e9, 30e6, 300e3, 2e6);
  // CS: 1000·15e9/30e6 = 500000 s, above F/d = 7500 s.
  CHECK(client_server_bound(p).seconds == Approx(500000.0));
  CHECK(client_server_bound(p).binding == binding_term::server_upload);
  // P2P: 1.5e13/(30e6 + 1000·300e3) = 1.5e13/3.3e8 = 45454.5 s.
  CHECK(p2p_bound(p).seconds == Approx(45454.545).epsilon(1e-6));
  CHECK(p2p_bound(p).binding == binding_term::aggregate_upload);
}

TEST_CASE("the server's upload belongs in the aggregate denominator", "[bounds]") {
  // N=4, F=100, u_s=50, u = 0,10,20,30 (Σ=60), downloads unlimited.
  swarm_params p{.n = 4, .file_bits = 100, .server_up_bps = 50,
                 .peer_up_bps = {0, 10, 20, 30}, .peer_down_bps = {inf, inf, inf, inf}};
  // Right: 400/(50+60) = 3.636 s. The wrong form 400/60 = 6.667 s must not appear.
  const auto b = p2p_bound(p);
  CHECK(b.seconds == Approx(400.0 / 110.0));
  CHECK(b.binding == binding_term::aggregate_upload);
  CHECK(b.seconds != Approx(400.0 / 60.0));
  // CS: 400/50 = 8 s.
  CHECK(client_server_bound(p).seconds == Approx(8.0));
}

TEST_CASE("N = 1: both bounds are max(F/u_s, F/d)", "[bounds]") {
  // F=100, u_s=10, u=5, d=20: CS max(10, 5) = 10; P2P max(10, 5, 100/15 = 6.67) = 10.
  const auto p = swarm_params::homogeneous(1, 100, 10, 5, 20);
  CHECK(client_server_bound(p).seconds == Approx(10.0));
  CHECK(p2p_bound(p).seconds == Approx(10.0));
  CHECK(p2p_bound(p).binding == binding_term::server_upload);
  // With u=0 the third term 100/10 = 10 ties with F/u_s; the tie goes to server_upload.
  CHECK(p2p_bound(swarm_params::homogeneous(1, 100, 10, 0, 20)).binding == binding_term::server_upload);
}

TEST_CASE("peers that upload nothing make P2P equal client-server", "[bounds]") {
  const auto n = GENERATE(1, 2, 3, 7, 100);
  const auto p = swarm_params::homogeneous(static_cast<std::size_t>(n), 100, 10, 0, inf);
  // Both are N·F/u_s = 10·N s.
  CHECK(p2p_bound(p).seconds == Approx(10.0 * n));
  CHECK(client_server_bound(p).seconds == Approx(10.0 * n));
}

TEST_CASE("P2P never exceeds client-server", "[bounds]") {
  const auto n = GENERATE(range(1, 60));
  const auto u = GENERATE(0.0, 1e3, 3e5, 2e6, 1e8);
  const auto p = swarm_params::homogeneous(static_cast<std::size_t>(n), 8e6, 1e6, u, 5e5);
  CHECK(p2p_bound(p).seconds <= client_server_bound(p).seconds);
}

TEST_CASE("the slowest download binds", "[bounds]") {
  // N=2, F=100, u_s=100, u=100 each, d = 50 and 10: d_min = 10.
  swarm_params p{.n = 2, .file_bits = 100, .server_up_bps = 100,
                 .peer_up_bps = {100, 100}, .peer_down_bps = {50, 10}};
  CHECK(p.d_min_bps() == 10);
  // CS max(200/100 = 2, 100/10 = 10) = 10; P2P max(1, 10, 200/300) = 10.
  CHECK(client_server_bound(p).seconds == Approx(10.0));
  CHECK(client_server_bound(p).binding == binding_term::slowest_download);
  CHECK(p2p_bound(p).seconds == Approx(10.0));
  CHECK(p2p_bound(p).binding == binding_term::slowest_download);
}

TEST_CASE("heterogeneous peers: the server binds when peers have plenty", "[bounds]") {
  // N=3, F=120, u_s=10, u = 0,10,20 (Σ=30): P2P max(12, 360/40 = 9) = 12; CS 360/10 = 36.
  swarm_params p{.n = 3, .file_bits = 120, .server_up_bps = 10,
                 .peer_up_bps = {0, 10, 20}, .peer_down_bps = {inf, inf, inf}};
  CHECK(p2p_bound(p).seconds == Approx(12.0));
  CHECK(p2p_bound(p).binding == binding_term::server_upload);
  CHECK(client_server_bound(p).seconds == Approx(36.0));
  CHECK(p.sum_peer_up_bps() == 30);
}

TEST_CASE("binding term names follow the JSON contract", "[bounds]") {
  CHECK(to_string(binding_term::server_upload) == "server_upload");
  CHECK(to_string(binding_term::slowest_download) == "slowest_download");
  CHECK(to_string(binding_term::aggregate_upload) == "aggregate_upload");
}

TEST_CASE("validate refuses impossible swarms", "[bounds]") {
  auto good = swarm_params::homogeneous(3, 100, 10, 1, 5);
  CHECK_NOTHROW(validate(good));
  auto p = good;
  p.n = 0;
  p.peer_up_bps.clear();
  p.peer_down_bps.clear();
  CHECK_THROWS_AS(validate(p), std::invalid_argument);
  p = good;
  p.server_up_bps = 0;
  CHECK_THROWS_AS(validate(p), std::invalid_argument);
  p = good;
  p.file_bits = -1;
  CHECK_THROWS_AS(validate(p), std::invalid_argument);
  p = good;
  p.peer_up_bps.pop_back();
  CHECK_THROWS_WITH(validate(p), Catch::Contains("2 values, N is 3"));
  p = good;
  p.peer_up_bps[1] = -1;
  CHECK_THROWS_WITH(validate(p), Catch::Contains("peer 2"));
  p = good;
  p.peer_down_bps[2] = 0;
  CHECK_THROWS_WITH(validate(p), Catch::Contains("peer 3"));
  p = good;
  p.peer_down_bps[0] = inf;  // unlimited download is fine
  CHECK_NOTHROW(validate(p));
}
