// SHA-1 speed: our wrappers beside raw OpenSSL in the same run, for 256 KiB pieces,
// 16 KiB blocks and 64-byte messages. Bytes/s come from SetBytesProcessed.
//   build/bench/bench_sha1 --benchmark_min_time=0.5

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include "loopback/protocol/sha1.hpp"

namespace {

std::vector<std::byte> make_input(std::size_t size_bytes) {
  std::vector<std::byte> v(size_bytes);
  std::uint32_t x = 2463534242u;
  for (auto& b : v) {  // xorshift32: arbitrary, deterministic bytes
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return v;
}

void set_bytes(benchmark::State& state, std::size_t size_bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size_bytes));
}

/// p2pdist::bt::sha1(): one call per message (context created per call).
void bm_sha1_function(benchmark::State& state) {
  const auto size_bytes = static_cast<std::size_t>(state.range(0));
  const auto input = make_input(size_bytes);
  for (auto _ : state) {
    auto d = p2pdist::bt::sha1(input);
    benchmark::DoNotOptimize(d);
  }
  set_bytes(state, size_bytes);
}

/// p2pdist::bt::sha1_hasher::digest(): one reused context.
void bm_sha1_hasher(benchmark::State& state) {
  const auto size_bytes = static_cast<std::size_t>(state.range(0));
  const auto input = make_input(size_bytes);
  p2pdist::bt::sha1_hasher hasher;
  for (auto _ : state) {
    auto d = hasher.digest(input);
    benchmark::DoNotOptimize(d);
  }
  set_bytes(state, size_bytes);
}

/// Raw OpenSSL: SHA-1 fetched once, one reused context, Init/Update/Final per message.
void bm_openssl_raw(benchmark::State& state) {
  const auto size_bytes = static_cast<std::size_t>(state.range(0));
  const auto input = make_input(size_bytes);
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (md == nullptr || ctx == nullptr) throw std::runtime_error("OpenSSL setup failed");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  for (auto _ : state) {
    EVP_DigestInit_ex2(ctx, md, nullptr);
    EVP_DigestUpdate(ctx, input.data(), input.size());
    EVP_DigestFinal_ex(ctx, out, &out_len);
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  set_bytes(state, size_bytes);
}

/// Raw OpenSSL one-shot EVP_Digest with a pre-fetched md (a context per call inside).
void bm_openssl_evp_digest(benchmark::State& state) {
  const auto size_bytes = static_cast<std::size_t>(state.range(0));
  const auto input = make_input(size_bytes);
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  if (md == nullptr) throw std::runtime_error("OpenSSL setup failed");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  for (auto _ : state) {
    EVP_Digest(input.data(), input.size(), out, &out_len, md, nullptr);
    benchmark::DoNotOptimize(out);
  }
  EVP_MD_free(md);
  set_bytes(state, size_bytes);
}

void sizes(benchmark::internal::Benchmark* b) { b->Arg(256 * 1024)->Arg(16 * 1024)->Arg(64); }

}  // namespace

BENCHMARK(bm_sha1_function)->Apply(sizes);
BENCHMARK(bm_sha1_hasher)->Apply(sizes);
BENCHMARK(bm_openssl_raw)->Apply(sizes);
BENCHMARK(bm_openssl_evp_digest)->Apply(sizes);
