// Bencode decode and encode throughput (bytes of bencoded text per second) on the two
// inputs the engine meets: a .torrent file and a tracker response.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "loopback/protocol/bencode.hpp"

namespace {

using p2pdist::bt::bvalue;

// A single-file torrent of 1 GiB in 256 KiB pieces: 4096 SHA-1 hashes (80 KiB of `pieces`).
std::string torrent_like() {
  constexpr std::int64_t piece_bytes = 256 * 1024;
  constexpr std::int64_t pieces = 4096;
  std::mt19937_64 rng(1);
  std::string hashes(20 * pieces, '\0');
  for (auto& c : hashes) c = static_cast<char>(rng() & 0xff);
  const bvalue info = bvalue::dict{
      {"length", bvalue{piece_bytes * pieces}},
      {"name", "ubuntu-like-image.iso"},
      {"piece length", bvalue{piece_bytes}},
      {"pieces", std::move(hashes)},
  };
  return p2pdist::bt::bencode(bvalue::dict{
      {"announce", "http://127.0.0.1:6969/announce"},
      {"comment", "bench"},
      {"created by", "p2pdist 0.1.0"},
      {"creation date", bvalue{std::int64_t{1'700'000'000}}},
      {"info", info},
  });
}

// A tracker response in the list form (compact=0) with 200 peers.
std::string tracker_like() {
  bvalue::list peers;
  for (int i = 0; i < 200; ++i) {
    std::string id = "-PD0001-";
    id += std::to_string(100'000'000'000 + i);  // 12 digits
    bvalue::dict peer;
    peer["ip"] = "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    peer["peer id"] = std::move(id);
    peer["port"] = 6881 + i;
    peers.emplace_back(std::move(peer));
  }
  return p2pdist::bt::bencode(bvalue::dict{
      {"complete", 37},
      {"incomplete", 163},
      {"interval", 1800},
      {"min interval", 900},
      {"peers", std::move(peers)},
  });
}

void decode(benchmark::State& state, const std::string& input) {
  for (auto _ : state) {
    auto r = p2pdist::bt::bdecode(input);
    if (!r.has_value()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(input.size()));
  state.counters["input_bytes"] = static_cast<double>(input.size());
}

void encode(benchmark::State& state, const std::string& input) {
  const auto value = p2pdist::bt::bdecode(input);
  if (!value.has_value()) {
    state.SkipWithError("decode failed");
    return;
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    p2pdist::bt::bencode_append(*value, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(input.size()));
}

void bm_decode_torrent(benchmark::State& state) { decode(state, torrent_like()); }
void bm_decode_tracker_response(benchmark::State& state) { decode(state, tracker_like()); }
void bm_encode_torrent(benchmark::State& state) { encode(state, torrent_like()); }
void bm_encode_tracker_response(benchmark::State& state) { encode(state, tracker_like()); }

}  // namespace

BENCHMARK(bm_decode_torrent);
BENCHMARK(bm_decode_tracker_response);
BENCHMARK(bm_encode_torrent);
BENCHMARK(bm_encode_tracker_response);
