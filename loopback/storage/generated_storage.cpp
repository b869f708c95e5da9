#include "loopback/storage/generated_storage.hpp"

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

namespace p2pdist::bt {

namespace {

// Word w of the content: a mix of the seed and the word's index (one multiply, xor-shifts
// on both sides), so that any word is computed on its own — no state, any offset, any order —
// at several GB/s. Not a cryptographic generator, and it need not be: the SHA-1 of every
// piece is what a peer checks.
constexpr std::uint64_t word(std::uint64_t seed, std::uint64_t w) noexcept {
  std::uint64_t z = (seed ^ 0xD1B54A32D192ED03ULL) + w * 0x9E3779B97F4A7C15ULL;
  z ^= z >> 31;
  z *= 0xBF58476D1CE4E5B9ULL;
  return z ^ (z >> 29);
}

void check_range(std::uint64_t size, std::uint64_t offset, std::size_t bytes) {
  if (offset > size || bytes > size - offset)
    throw std::out_of_range("generated storage: bytes " + std::to_string(offset) + "+" + std::to_string(bytes) +
                            " outside its " + std::to_string(size));
}

}  // namespace

void generated_storage::fill(std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out) noexcept {
  std::size_t i = 0;
  // A first partial word, then whole words, then a last partial word.
  while (i < out.size() && (offset + i) % 8 != 0) {
    const auto at = offset + i;
    out[i++] = static_cast<std::byte>(word(seed, at / 8) >> (8 * (at % 8)));
  }
  for (; i + 8 <= out.size(); i += 8) {
    const std::uint64_t v = word(seed, (offset + i) / 8);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out.data() + i, &v, 8);  // the byte order the loops above and below write
    } else {
      for (std::size_t k = 0; k < 8; ++k) out[i + k] = static_cast<std::byte>(v >> (8 * k));
    }
  }
  while (i < out.size()) {
    const auto at = offset + i;
    out[i++] = static_cast<std::byte>(word(seed, at / 8) >> (8 * (at % 8)));
  }
}

void generated_storage::read(std::uint64_t offset, std::span<std::byte> out) {
  check_range(size_bytes_, offset, out.size());
  fill(seed_, offset, out);
}

void generated_storage::write(std::uint64_t offset, std::span<const std::byte> data) {
  check_range(size_bytes_, offset, data.size());
}

std::shared_ptr<generated_storage> make_generated_storage(std::uint64_t size_bytes, std::uint64_t seed) {
  return std::make_shared<generated_storage>(size_bytes, seed);
}

}  // namespace p2pdist::bt
