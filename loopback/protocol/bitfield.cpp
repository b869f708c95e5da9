#include "loopback/protocol/bitfield.hpp"

#include <bit>
#include <cassert>

namespace p2pdist::bt {

namespace {
constexpr std::byte mask(std::size_t i) { return std::byte{static_cast<unsigned char>(0x80u >> (i % 8))}; }
}  // namespace

bitfield::bitfield(std::size_t pieces, bool all_set)
    : bytes_((pieces + 7) / 8, all_set ? std::byte{0xff} : std::byte{0}),
      size_(pieces),
      count_(all_set ? pieces : 0) {
  if (all_set && pieces % 8 != 0) {
    // Clear the spare low bits of the last byte.
    bytes_.back() = std::byte{static_cast<unsigned char>(0xff00u >> (pieces % 8))};
  }
}

std::optional<bitfield> bitfield::from_wire(std::span<const std::byte> bytes, std::size_t pieces) {
  if (bytes.size() != (pieces + 7) / 8) return std::nullopt;
  if (pieces % 8 != 0) {
    const auto spare = static_cast<unsigned>(0xffu >> (pieces % 8));
    if ((std::to_integer<unsigned>(bytes.back()) & spare) != 0) return std::nullopt;
  }
  bitfield b;
  b.bytes_.assign(bytes.begin(), bytes.end());
  b.size_ = pieces;
  for (auto byte : b.bytes_) b.count_ += static_cast<std::size_t>(std::popcount(std::to_integer<unsigned>(byte)));
  return b;
}

bool bitfield::test(std::size_t i) const noexcept {
  assert(i < size_);
  return (bytes_[i / 8] & mask(i)) != std::byte{0};
}

void bitfield::set(std::size_t i) noexcept {
  assert(i < size_);
  if (!test(i)) {
    bytes_[i / 8] |= mask(i);
    ++count_;
  }
}

void bitfield::reset(std::size_t i) noexcept {
  assert(i < size_);
  if (test(i)) {
    bytes_[i / 8] &= ~mask(i);
    --count_;
  }
}

}  // namespace p2pdist::bt
