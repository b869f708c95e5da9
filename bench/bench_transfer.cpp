// One seed → one leecher on loopback, through the harness (our tracker, memory storage,
// real sockets), with manual timing: the time of an iteration is the harness's
// distribution time (from the leecher's release to its last verified piece), not the
// set-up. Two groups:
// - unthrottled 64 MiB and 256 MiB: MB/s (bytes_per_second) and seconds, beside memcpy
//   and SHA-1 of the same bytes in the same run (the transfer hashes every piece once);
// - throttled 2 MB/s and 8 MB/s (16 and 32 MiB): the achieved payload and wire rates
//   against the setting (counters payload_ratio, wire_ratio; 1.0 is exact).
//   build-X/bench/bench_transfer --benchmark_min_time=0.1
// Few iterations on purpose (each is a whole transfer): Iterations(2) / (1) below.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>

#include "loopback/harness/harness.hpp"
#include "loopback/protocol/sha1.hpp"

namespace {

using p2pdist::loopback::run_swarm;
using p2pdist::loopback::swarm_config;
using p2pdist::loopback::swarm_result;

constexpr std::uint64_t mib = 1024 * 1024;

std::vector<std::byte> make_input(std::uint64_t size_bytes) {
  std::vector<std::byte> v(size_bytes);
  std::mt19937_64 rng(3);
  for (std::size_t i = 0; i + 8 <= v.size(); i += 8) {
    const std::uint64_t x = rng();
    std::memcpy(v.data() + i, &x, 8);
  }
  return v;
}

swarm_result run_one(std::uint64_t file_bytes, double rate_bytes_per_s) {
  swarm_config c;
  c.leechers = 1;
  c.file_bytes = file_bytes;
  c.server_up_bytes_per_s = rate_bytes_per_s;  // 0: unlimited
  c.peer_up_bytes_per_s = {0};
  c.peer_down_bytes_per_s = {0};
  c.timeout = std::chrono::minutes(5);
  c.sample_interval = std::chrono::milliseconds(5);  // completion is exact; this bounds the wait
  auto r = run_swarm(c);
  if (!r.distribution_seconds || !r.data_ok) throw std::runtime_error("transfer failed: " + r.failure);
  return r;
}

/// Unthrottled seed → leecher, memory storage; bytes_per_second is the payload rate.
void bm_transfer_unlimited(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0)) * mib;
  double total_seconds = 0;
  for (auto _ : state) {
    const auto r = run_one(size, 0);
    state.SetIterationTime(*r.distribution_seconds);
    total_seconds += *r.distribution_seconds;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.counters["seconds"] = total_seconds / static_cast<double>(state.iterations());
  state.counters["MB_per_s"] =
      static_cast<double>(size) * static_cast<double>(state.iterations()) / total_seconds / 1e6;
}
BENCHMARK(bm_transfer_unlimited)->Arg(64)->Arg(256)->Iterations(2)->UseManualTime()->Unit(benchmark::kSecond);

/// Reference: memcpy of the same number of bytes (one copy, as the leecher's store does).
void bm_reference_memcpy(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0)) * mib;
  const auto src = make_input(size);
  std::vector<std::byte> dst(size);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), size);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(bm_reference_memcpy)->Arg(256)->Unit(benchmark::kMillisecond);

/// Reference: SHA-1 of the same bytes in 256 KiB pieces, as the leecher verifies them.
void bm_reference_sha1(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0)) * mib;
  const auto data = make_input(size);
  p2pdist::bt::sha1_hasher h;
  constexpr std::size_t piece = 256 * 1024;
  for (auto _ : state) {
    for (std::size_t off = 0; off < size; off += piece) {
      auto d = h.digest(std::span<const std::byte>(data).subspan(off, piece));
      benchmark::DoNotOptimize(d);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(bm_reference_sha1)->Arg(256)->Unit(benchmark::kMillisecond);

/// Throttled seed (upload limit in MB/s = range(0)), file range(1) MiB: achieved rates
/// over the setting. payload_ratio counts file bytes only; wire_ratio all bytes the leecher
/// read (the limiter counts wire bytes). The time includes the start: the announce,
/// connect and handshake, and the first request's round trip.
void bm_transfer_throttled(benchmark::State& state) {
  const double rate = static_cast<double>(state.range(0)) * 1e6;
  const auto size = static_cast<std::uint64_t>(state.range(1)) * mib;
  double seconds = 0, wire = 0;
  for (auto _ : state) {
    const auto r = run_one(size, rate);
    state.SetIterationTime(*r.distribution_seconds);
    seconds += *r.distribution_seconds;
    wire += static_cast<double>(r.leechers.front().wire_bytes_down);
  }
  const auto n = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.counters["setting_MB_per_s"] = rate / 1e6;
  state.counters["payload_MB_per_s"] = static_cast<double>(size) * n / seconds / 1e6;
  state.counters["wire_MB_per_s"] = wire / seconds / 1e6;
  state.counters["payload_ratio"] = static_cast<double>(size) * n / seconds / rate;
  state.counters["wire_ratio"] = wire / seconds / rate;
}
BENCHMARK(bm_transfer_throttled)
    ->Args({2, 16})
    ->Args({8, 32})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
