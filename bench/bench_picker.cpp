// Piece picker speed: 10 000 pieces of 256 KiB (16 blocks each), 64 peers each holding a
// random ~50% of the pieces, and we hold a random ~50%. Items are calls (picks, haves).
//
//   bench_picker --benchmark_min_time=0.2

#include <algorithm>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "loopback/protocol/bitfield.hpp"
#include "loopback/policy/piece_picker.hpp"

namespace {

using namespace p2pdist::bt;

constexpr std::uint32_t pieces = 10'000;
constexpr std::uint32_t piece_bytes = 256 * 1024;
constexpr int peer_count = 64;

bitfield random_bitfield(std::mt19937_64& rng, double density) {
  std::bernoulli_distribution has(density);
  bitfield b(pieces);
  for (std::uint32_t p = 0; p < pieces; ++p) {
    if (has(rng)) b.set(p);
  }
  return b;
}

/// The swarm above; peer k has key k and holds masks[k]. `first_peer_density` overrides
/// peer 0's share.
struct swarm {
  piece_picker picker;
  std::vector<bitfield> masks;
};
swarm make_swarm_with_masks(std::mt19937_64& rng, double first_peer_density = 0.5) {
  piece_picker picker(picker_config{.total_bytes = std::uint64_t{pieces} * piece_bytes,
                                    .piece_bytes = piece_bytes,
                                    .random_first_pieces = 4,
                                    .pipeline_depth = 64});
  picker.set_have(random_bitfield(rng, 0.5));
  std::vector<bitfield> masks;
  for (int k = 0; k < peer_count; ++k) {
    masks.push_back(random_bitfield(rng, k == 0 ? first_peer_density : 0.5));
    picker.add_peer(peer_key{static_cast<std::uint32_t>(k)}, masks.back());
  }
  return {std::move(picker), std::move(masks)};
}

piece_picker make_swarm(std::mt19937_64& rng, double first_peer_density = 0.5) {
  return make_swarm_with_masks(rng, first_peer_density).picker;
}

/// One pick of N blocks, then the requests are dropped so that the state stays the same:
/// every pick starts a new piece from the pool (the dearer path: a draw in the rarest
/// buckets, then the piece leaves and re-enters the availability order).
void pick_then_drop(benchmark::State& state) {
  std::mt19937_64 rng(1);
  auto picker = make_swarm(rng);
  const auto blocks_per_pick = static_cast<std::size_t>(state.range(0));
  std::uint32_t k = 0;
  std::int64_t blocks = 0;
  for (auto _ : state) {
    const peer_key peer{k};
    k = (k + 1) % peer_count;
    const auto picked = picker.pick(peer, blocks_per_pick, rng);
    blocks += static_cast<std::int64_t>(picked.size());
    for (const auto& b : picked) picker.request_dropped(peer, b);
    benchmark::DoNotOptimize(picked.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["blocks/pick"] = benchmark::Counter(static_cast<double>(blocks) / static_cast<double>(state.iterations()));
}
BENCHMARK(pick_then_drop)->Arg(1)->Arg(16);

/// As above, but the picking peer holds only 1% of the pieces: random draws in a bucket
/// mostly miss and the pick falls back to scanning buckets.
void pick_sparse_peer(benchmark::State& state) {
  std::mt19937_64 rng(2);
  auto picker = make_swarm(rng, 0.01);
  const auto blocks_per_pick = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const auto picked = picker.pick(peer_key{0}, blocks_per_pick, rng);
    for (const auto& b : picked) picker.request_dropped(peer_key{0}, b);
    benchmark::DoNotOptimize(picked.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pick_sparse_peer)->Arg(1)->Arg(16);

/// A whole download: peers in turn pick N blocks, every block arrives at once, complete
/// pieces pass. Items are picks; "blocks" counts the blocks handed out per second. The
/// swarm is rebuilt (untimed) when the download completes.
void download(benchmark::State& state) {
  std::mt19937_64 rng(3);
  auto picker = make_swarm(rng);
  const auto blocks_per_pick = static_cast<std::size_t>(state.range(0));
  std::uint32_t k = 0;
  std::int64_t blocks = 0;
  int idle = 0;
  for (auto _ : state) {
    const peer_key peer{k};
    k = (k + 1) % peer_count;
    const auto picked = picker.pick(peer, blocks_per_pick, rng);
    blocks += static_cast<std::int64_t>(picked.size());
    for (const auto& b : picked) {
      if (picker.block_received(peer, b).piece_complete) picker.piece_passed(b.piece);
    }
    idle = picked.empty() ? idle + 1 : 0;
    if (picker.is_complete() || idle > peer_count) {
      state.PauseTiming();
      picker = make_swarm(rng);
      idle = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["blocks"] = benchmark::Counter(static_cast<double>(blocks), benchmark::Counter::kIsRate);
}
BENCHMARK(download)->Arg(1)->Arg(16);

/// peer_have for a piece the peer lacked: one availability step in the bucket order.
void peer_have(benchmark::State& state) {
  std::mt19937_64 rng(4);
  auto picker = make_swarm(rng);
  // Every (peer, piece) the peers lack, in random order; rebuilt when used up.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> missing;
  auto refill = [&] {
    auto fresh = make_swarm_with_masks(rng);
    picker = std::move(fresh.picker);
    missing.clear();
    for (std::uint32_t k = 0; k < peer_count; ++k) {
      for (std::uint32_t p = 0; p < pieces; ++p) {
        if (!fresh.masks[k].test(p)) missing.emplace_back(k, p);
      }
    }
    std::shuffle(missing.begin(), missing.end(), rng);
  };
  refill();
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == missing.size()) {
      state.PauseTiming();
      refill();
      next = 0;
      state.ResumeTiming();
    }
    const auto [k, p] = missing[next++];
    benchmark::DoNotOptimize(picker.peer_have(peer_key{k}, p));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(peer_have);

/// A peer with ~50% of the pieces joins and leaves (connection churn; O(pieces)).
void add_remove_peer(benchmark::State& state) {
  std::mt19937_64 rng(5);
  auto picker = make_swarm(rng);
  const auto b = random_bitfield(rng, 0.5);
  for (auto _ : state) {
    picker.add_peer(peer_key{1000}, b);
    picker.remove_peer(peer_key{1000});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(add_remove_peer);

}  // namespace
