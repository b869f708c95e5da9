// Rate limiter speed: one refill() shared among N eager consumers (every consumer has
// demand queued, so every refill runs the max-min split), and the try_acquire() fast path.
// Items are refills (or acquisitions). The chunk-level simulator runs one upload and one
// download limiter per peer, so refill cost × peers × refills per simulated second bounds it.
//
//   bench_limiter --benchmark_min_time=0.1

#include <chrono>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "loopback/policy/rate_limiter.hpp"

namespace {

using namespace p2pdist::bt;
using namespace std::chrono_literals;

// N consumers asking for whole piece messages, topped up after every refill; 10 ms steps at
// 10 MB/s (100 kB per refill, so a refill completes several blocks).
void BM_refill_eager_consumers(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  rate_limiter lim({.rate_bytes_per_s = 10'000'000});
  for (std::uint32_t i = 0; i < n; ++i) (void)lim.request(consumer_id{i}, 4 * block_message_bytes);
  std::uint64_t granted = 0;
  for (auto _ : state) {
    for (const auto& g : lim.refill(10ms)) {
      granted += g.bytes;
      if (g.pending_bytes < 2 * block_message_bytes) (void)lim.request(g.consumer, 2 * block_message_bytes);
    }
  }
  benchmark::DoNotOptimize(granted);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_refill_eager_consumers)->Arg(1)->Arg(8)->Arg(50)->Arg(500);

// The path of an idle limiter: refill, then a whole block taken at once.
void BM_try_acquire_block(benchmark::State& state) {
  rate_limiter lim({.rate_bytes_per_s = 100'000'000});
  std::uint64_t ok = 0;
  for (auto _ : state) {
    (void)lim.refill(1ms);  // 100 kB
    ok += lim.try_acquire(consumer_id{1}, block_message_bytes) ? 1 : 0;
  }
  benchmark::DoNotOptimize(ok);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_try_acquire_block);

}  // namespace
