// Sweeps: the Eigen kernel agrees with the scalar bounds, axes are built as documented.
#include "model/sweep.hpp"

#include <catch2/catch.hpp>

#include <limits>

#include "model/bounds.hpp"

using namespace p2pdist::model;

namespace {
constexpr double inf = std::numeric_limits<double>::infinity();
}

TEST_CASE("N sweep on the textbook case (F/u = 1 h, u_s = 10u)", "[sweep]") {
  sweep_spec spec;
  spec.base = {.n = 1, .file_bits = 3600, .server_up_bps = 10, .peer_up_bps = 1, .d_min_bps = inf};
  spec.x = {.param = sweep_param::n, .from = 1, .to = 35, .points = 35};
  const auto r = run_sweep(spec);
  REQUIRE(r.x_values.size() == 35);
  REQUIRE(r.series.size() == 1);
  const auto& row = r.series[0].rows[0];
  // N=10 is index 9: CS 360·10 = 3600 s; P2P 36000/20 = 1800 s (hand calculation).
  CHECK(r.x_values(9) == 10);
  CHECK(row.client_server_seconds(9) == Approx(3600.0));
  CHECK(row.p2p_seconds(9) == Approx(1800.0));
  // N=30: CS 10800 s; P2P 108000/40 = 2700 s, aggregate upload binds (code 2).
  CHECK(row.client_server_seconds(29) == Approx(10800.0));
  CHECK(row.p2p_seconds(29) == Approx(2700.0));
  CHECK(row.p2p_binding(29) == 2);
  // N=1: P2P 360 s, server upload binds (code 0).
  CHECK(row.p2p_binding(0) == 0);
}

TEST_CASE("the kernel agrees with the scalar bounds for every parameter", "[sweep]") {
  const auto param = GENERATE(sweep_param::n, sweep_param::file_bits, sweep_param::server_up_bps,
                              sweep_param::peer_up_bps, sweep_param::d_min_bps);
  sweep_spec spec;
  spec.base = {.n = 20, .file_bits = 8e8, .server_up_bps = 4e7, .peer_up_bps = 2e6, .d_min_bps = 1e7};
  // Up to 1e8 for rates and sizes; N stops at 1e5 (the scalar check allocates N peers).
  const double to = param == sweep_param::n ? 1e5 : 1e8;
  spec.x = {.param = param, .from = 1, .to = to, .points = 40, .log_steps = true};
  const auto r = run_sweep(spec);
  const auto& row = r.series[0].rows[0];
  for (Eigen::Index i = 0; i < r.x_values.size(); ++i) {
    auto b = spec.base;
    const double x = r.x_values(i);
    switch (param) {
      case sweep_param::n: b.n = x; break;
      case sweep_param::file_bits: b.file_bits = x; break;
      case sweep_param::server_up_bps: b.server_up_bps = x; break;
      case sweep_param::peer_up_bps: b.peer_up_bps = x; break;
      case sweep_param::d_min_bps: b.d_min_bps = x; break;
    }
    const auto p = swarm_params::homogeneous(static_cast<std::size_t>(b.n), b.file_bits, b.server_up_bps,
                                             b.peer_up_bps, b.d_min_bps);
    const auto cs = client_server_bound(p);
    const auto pp = p2p_bound(p);
    CHECK(row.client_server_seconds(i) == Approx(cs.seconds).epsilon(1e-12));
    CHECK(row.p2p_seconds(i) == Approx(pp.seconds).epsilon(1e-12));
    CHECK(row.client_server_binding(i) == static_cast<int>(cs.binding));
    CHECK(row.p2p_binding(i) == static_cast<int>(pp.binding));
  }
}

TEST_CASE("axes: linear, logarithmic, N rounded without duplicates", "[sweep]") {
  auto v = axis_values({.param = sweep_param::peer_up_bps, .from = 0, .to = 4, .points = 5});
  CHECK(v(1) == Approx(1.0));
  CHECK(v(4) == 4.0);
  // log 1..1000 in 4 points: 1, 10, 100, 1000.
  v = axis_values({.param = sweep_param::n, .from = 1, .to = 1000, .points = 4, .log_steps = true});
  REQUIRE(v.size() == 4);
  CHECK(v(1) == 10);
  CHECK(v(2) == 100);
  // log 1..3 in 10 points rounds to 1, 2, 3 only.
  v = axis_values({.param = sweep_param::n, .from = 1, .to = 3, .points = 10, .log_steps = true});
  REQUIRE(v.size() == 3);
  CHECK(v(2) == 3);
}

TEST_CASE("series and grids", "[sweep]") {
  sweep_spec spec;
  spec.base = {.n = 10, .file_bits = 15e9, .server_up_bps = 30e6, .peer_up_bps = 300e3, .d_min_bps = 2e6};
  spec.x = {.param = sweep_param::n, .from = 10, .to = 1000, .points = 3, .log_steps = true};
  spec.series_param = sweep_param::peer_up_bps;
  spec.series_values = {300e3, 700e3, 2e6};
  auto r = run_sweep(spec);
  REQUIRE(r.series.size() == 3);
  // N=1000, u=700 kbps: P2P = 1.5e13/(30e6 + 7e8) = 20547.9 s (hand calculation).
  CHECK(r.series[1].rows[0].p2p_seconds(2) == Approx(1.5e13 / 7.3e8));
  CHECK(r.point_count() == 9);

  spec.y = sweep_axis{.param = sweep_param::server_up_bps, .from = 1e6, .to = 1e8, .points = 3, .log_steps = true};
  r = run_sweep(spec);
  REQUIRE(r.series[0].rows.size() == 3);
  // y = u_s = 10 Mbps (row 1), N = 100 (column 1), u = 300 kbps: CS = 100·15e9/1e7 = 150000 s.
  CHECK(r.series[0].rows[1].client_server_seconds(1) == Approx(150000.0));
  CHECK(r.point_count() == 27);
}

TEST_CASE("invalid sweeps are refused", "[sweep]") {
  sweep_spec spec;
  spec.base = {.n = 10, .file_bits = 1e9, .server_up_bps = 1e7, .peer_up_bps = 1e6, .d_min_bps = 1e7};
  spec.x = {.param = sweep_param::n, .from = 1, .to = 10, .points = 0};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("no points"));
  spec.x = {.param = sweep_param::n, .from = 10, .to = 1, .points = 5};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("empty"));
  spec.x = {.param = sweep_param::n, .from = 0, .to = 10, .points = 5};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("at least 1"));
  spec.x = {.param = sweep_param::peer_up_bps, .from = 0, .to = 10, .points = 5, .log_steps = true};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("above 0"));
  spec.x = {.param = sweep_param::n, .from = 1, .to = 10, .points = 5};
  spec.y = sweep_axis{.param = sweep_param::n, .from = 1, .to = 10, .points = 5};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("same parameter"));
  spec.y.reset();
  spec.series_param = sweep_param::n;
  spec.series_values = {1};
  CHECK_THROWS_WITH(run_sweep(spec), Catch::Contains("also swept"));
  spec.series_param = sweep_param::server_up_bps;
  spec.series_values = {0};
  CHECK_THROWS_AS(run_sweep(spec), std::invalid_argument);
}
