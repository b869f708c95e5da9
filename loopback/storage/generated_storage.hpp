#pragma once
// generated_storage: a torrent's bytes as a pure function of (seed, offset), so that a swarm
// of N peers holds no copy of the file: every 8-byte word w of the file is mix(seed, w).
// Reads regenerate the bytes; writes are dropped — a peer writes a piece only once it has
// passed its SHA-1 check (piece_store), and a verified piece can always be regenerated, so
// a peer that serves it later serves exactly the bytes it verified. Nothing is faked: every
// received piece is still hashed against the metainfo, made from the same function.

#include <cstdint>
#include <memory>
#include <span>

#include "loopback/storage/storage.hpp"

namespace p2pdist::bt {

/// A storage whose content is generated (see the file comment). Thread-safe (no state).
class generated_storage final : public storage {
 public:
  generated_storage(std::uint64_t size_bytes, std::uint64_t seed) : size_bytes_(size_bytes), seed_(seed) {}

  std::uint64_t size_bytes() const noexcept override { return size_bytes_; }
  /// Fills `out` with the content at `offset`. Precondition as storage::read.
  void read(std::uint64_t offset, std::span<std::byte> out) override;
  /// Checks the range and drops the bytes (they can be regenerated).
  void write(std::uint64_t offset, std::span<const std::byte> data) override;
  /// The seed the content is made from.
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

  /// The content of a generated file with this seed, `out.size()` bytes from `offset`.
  static void fill(std::uint64_t seed, std::uint64_t offset, std::span<std::byte> out) noexcept;

 private:
  std::uint64_t size_bytes_;
  std::uint64_t seed_;
};

/// A generated storage of `size_bytes` made from `seed`.
std::shared_ptr<generated_storage> make_generated_storage(std::uint64_t size_bytes, std::uint64_t seed);

}  // namespace p2pdist::bt
