// Wire codec speed: decoding MB/s of a stream of 16 KiB piece messages and of a stream of
// small messages (have/request), fed in 64 KiB chunks as a socket would deliver them; and
// encoding of requests. Run e.g.  build/bench/bench_wire --benchmark_min_time=0.2
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "loopback/protocol/wire.hpp"

namespace bt = p2pdist::bt;

namespace {

constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr std::uint64_t piece_bytes = 256 * 1024;
constexpr std::uint64_t total_bytes = 256ull << 20;  // 256 MiB, 1024 pieces

const bt::wire_config config{.piece_bytes = piece_bytes, .total_bytes = total_bytes};

std::vector<std::byte> with_handshake() {
  std::vector<std::byte> stream;
  bt::wire_append(bt::handshake{}, stream);
  return stream;
}

/// Feeds `stream` in 64 KiB chunks to a fresh decoder, draining it; returns the event count.
std::size_t decode_stream(std::span<const std::byte> stream) {
  bt::wire_decoder decoder(config);
  std::size_t events = 0;
  for (std::size_t pos = 0; pos < stream.size(); pos += chunk_bytes) {
    decoder.feed(stream.subspan(pos, std::min(chunk_bytes, stream.size() - pos)));
    for (;;) {
      auto r = decoder.next();
      if (!r || !*r) break;
      if (const auto* p = std::get_if<bt::msg::piece>(&**r)) benchmark::DoNotOptimize(p->data.data());
      ++events;
    }
  }
  return events;
}

void BM_decode_piece_messages(benchmark::State& state) {
  // 4 MiB of 16 KiB blocks: 256 piece messages.
  std::vector<std::byte> stream = with_handshake();
  const std::vector<std::byte> block(bt::block_bytes, std::byte{0x5a});
  for (std::uint32_t i = 0; i < 256; ++i) {
    bt::wire_append(bt::msg::piece{.index = i / 16, .begin = (i % 16) * bt::block_bytes, .data = block}, stream);
  }
  std::size_t events = 0;
  for (auto _ : state) events += decode_stream(stream);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
}
BENCHMARK(BM_decode_piece_messages);

void BM_decode_small_messages(benchmark::State& state) {
  // 1 MiB or so of alternating have (9 bytes) and request (17 bytes) messages.
  std::vector<std::byte> stream = with_handshake();
  for (std::uint32_t i = 0; stream.size() < (1u << 20); ++i) {
    bt::wire_append(bt::msg::have{.index = i % 1024}, stream);
    bt::wire_append(bt::msg::request{.index = i % 1024, .begin = (i % 16) * bt::block_bytes, .length = bt::block_bytes},
                    stream);
  }
  std::size_t events = 0;
  for (auto _ : state) events += decode_stream(stream);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
}
BENCHMARK(BM_decode_small_messages);

void BM_encode_requests(benchmark::State& state) {
  // A pipeline's worth of requests appended to a reused buffer.
  std::vector<std::byte> out;
  out.reserve(1024 * 17);
  for (auto _ : state) {
    out.clear();
    for (std::uint32_t i = 0; i < 1024; ++i) {
      bt::wire_append(bt::msg::request{.index = i / 16, .begin = (i % 16) * bt::block_bytes, .length = bt::block_bytes},
                      out);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 1024 * 17));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1024));
}
BENCHMARK(BM_encode_requests);

void BM_piece_header(benchmark::State& state) {
  std::uint32_t i = 0;
  for (auto _ : state) {
    auto header = bt::piece_header(i / 16, (i % 16) * bt::block_bytes, bt::block_bytes);
    benchmark::DoNotOptimize(header);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_piece_header);

}  // namespace
