#pragma once
// bitfield: which pieces a peer has, in BitTorrent's bit order: piece 0 is the high bit of
// byte 0. The wire form has ceil(pieces / 8) bytes and its spare low bits must be zero.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace p2pdist::bt {

/// A fixed-size set of piece indices [0, size()).
class bitfield {
 public:
  bitfield() = default;
  /// `pieces` bits, all clear (or all set when `all_set`).
  explicit bitfield(std::size_t pieces, bool all_set = false);

  /// Parses the wire form for a torrent of `pieces` pieces; nullopt when the byte count is
  /// not ceil(pieces / 8) or a spare bit is set.
  static std::optional<bitfield> from_wire(std::span<const std::byte> bytes, std::size_t pieces);

  std::size_t size() const noexcept { return size_; }
  /// Precondition: i < size().
  bool test(std::size_t i) const noexcept;
  void set(std::size_t i) noexcept;
  void reset(std::size_t i) noexcept;
  /// Number of bits set; kept up to date, O(1).
  std::size_t count() const noexcept { return count_; }
  bool all() const noexcept { return count_ == size_; }
  bool none() const noexcept { return count_ == 0; }

  /// The wire form: ceil(size() / 8) bytes, spare bits zero.
  std::span<const std::byte> bytes() const noexcept { return bytes_; }

  friend bool operator==(const bitfield& a, const bitfield& b) {
    return a.size_ == b.size_ && a.bytes_ == b.bytes_;
  }

 private:
  std::vector<std::byte> bytes_;
  std::size_t size_ = 0;
  std::size_t count_ = 0;
};

}  // namespace p2pdist::bt
