// The simulator's event loop: whole simulated swarms, timed per event. Items are events
// (the counter `events/s` is what `p2pdist simulate` reports as events_per_second). Each
// iteration is a whole run_simulation, the torrent's hashing of the generated file
// included (about 3 ms per MiB).
//
//   bench_sim --benchmark_min_time=1
//
// Arguments: N (leechers), F in MiB; 64 KiB pieces, u_s = 4 MB/s, u_i = 1 MB/s (the
// aggregate-bound regime: every peer uploads, every leecher trades with the others).

#include <chrono>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "loopback/harness/simulate.hpp"

namespace {

using namespace p2pdist::loopback;

void simulated_swarm(benchmark::State& state) {
  swarm_config c;
  c.leechers = static_cast<std::size_t>(state.range(0));
  c.file_bytes = static_cast<std::uint64_t>(state.range(1)) << 20;
  c.piece_bytes = 64 * 1024;
  c.server_up_bytes_per_s = 4e6;
  c.peer_up_bytes_per_s = {1e6};
  c.choker.rechoke_interval = std::chrono::seconds(2);
  c.choker.optimistic_interval = std::chrono::seconds(6);
  std::uint64_t events = 0;
  double simulated = 0;
  for (auto _ : state) {
    const auto r = run_simulation(c);
    events += r.stats.events;
    simulated += r.swarm.distribution_seconds.value_or(0);
    benchmark::DoNotOptimize(r.swarm.distribution_seconds);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
  state.counters["events/s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["simulated_s"] = simulated / static_cast<double>(state.iterations());
}
BENCHMARK(simulated_swarm)->Args({16, 8})->Args({64, 8})->Args({256, 4})->Unit(benchmark::kMillisecond);

}  // namespace
