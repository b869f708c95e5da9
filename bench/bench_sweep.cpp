// Sweep throughput: the bounds over 10^7 values of N, beside a baseline that only writes
// output arrays of the same size (the sweep is memory bound: a few divisions per point).
//   build/bench/bench_sweep --benchmark_min_time=0.5
// Points per second are reported as items_per_second.

#include <benchmark/benchmark.h>

#include "model/sweep.hpp"

namespace {

using namespace p2pdist::model;

constexpr Eigen::Index points = 10'000'000;

const sweep_base base{.n = 10, .file_bits = 15e9, .server_up_bps = 30e6, .peer_up_bps = 300e3, .d_min_bps = 2e6};

// The kernel the CLI runs: both bounds and both binding codes for every point.
void BM_sweep_bounds_N(benchmark::State& state) {
  const Eigen::ArrayXd n = Eigen::ArrayXd::LinSpaced(points, 1.0, static_cast<double>(points));
  sweep_row row;
  sweep_bounds(sweep_param::n, n, base, row);  // allocate once, outside the timing
  for (auto _ : state) {
    sweep_bounds(sweep_param::n, n, base, row);
    benchmark::DoNotOptimize(row.p2p_seconds.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * points);
}
BENCHMARK(BM_sweep_bounds_N)->Unit(benchmark::kMillisecond);

// Baseline: write the same outputs (two double arrays, two byte arrays of 10^7 points)
// with constants, and nothing else.
void BM_sweep_baseline_write_outputs(benchmark::State& state) {
  sweep_row row;
  row.client_server_seconds.resize(points);
  row.p2p_seconds.resize(points);
  row.client_server_binding.resize(points);
  row.p2p_binding.resize(points);
  double v = 1.0;
  for (auto _ : state) {
    row.client_server_seconds.setConstant(v);
    row.p2p_seconds.setConstant(v);
    row.client_server_binding.setConstant(1);
    row.p2p_binding.setConstant(2);
    v += 1.0;
    benchmark::DoNotOptimize(row.p2p_seconds.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * points);
}
BENCHMARK(BM_sweep_baseline_write_outputs)->Unit(benchmark::kMillisecond);

// The whole run_sweep (axis built, validation, outputs allocated) for 10^7 points.
void BM_sweep_run_full(benchmark::State& state) {
  sweep_spec spec;
  spec.base = base;
  spec.x = {.param = sweep_param::n, .from = 1, .to = static_cast<double>(points),
            .points = static_cast<std::size_t>(points)};
  for (auto _ : state) {
    auto r = run_sweep(spec);
    benchmark::DoNotOptimize(r.series.front().rows.front().p2p_seconds.data());
  }
  state.SetItemsProcessed(state.iterations() * points);
}
BENCHMARK(BM_sweep_run_full)->Unit(benchmark::kMillisecond);

}  // namespace
