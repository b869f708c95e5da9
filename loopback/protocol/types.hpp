#pragma once
// Small vocabulary types shared by the engine's units.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace p2pdist::bt {

/// A SHA-1 digest: piece hashes and the info-hash.
using sha1_digest = std::array<std::byte, 20>;
/// A peer id as sent in the handshake and to the tracker.
using peer_id = std::array<std::byte, 20>;

/// Our peer id: "-PD0001-" (Azureus style: client and version), then 12 bytes of `rng()`.
template <class Rng>
peer_id make_peer_id(Rng& rng) {
  static constexpr char prefix[] = "-PD0001-";
  peer_id id{};
  for (std::size_t i = 0; i < id.size(); ++i)
    id[i] = i + 1 < sizeof prefix ? static_cast<std::byte>(prefix[i]) : static_cast<std::byte>(rng() & 0xff);
  return id;
}

/// The unit requested from peers: 16 KiB (the last block of a piece may be shorter).
inline constexpr std::uint32_t block_bytes = 16 * 1024;

/// Lower-case hex of any 20-byte id or digest.
inline std::string to_hex(const std::array<std::byte, 20>& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(40);
  for (auto b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    out += digits[v >> 4];
    out += digits[v & 15];
  }
  return out;
}

}  // namespace p2pdist::bt
