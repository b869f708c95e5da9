#pragma once
// super_seed: the choices of an initial seed that super-seeds (BEP 16 style): which piece
// to announce next, and to which peer. Pure: value inputs, randomness from the caller.

#include <cstdint>
#include <optional>
#include <random>
#include <span>

namespace p2pdist::bt {

/// A peer as the caller names it (any value, unique among the peers it passes).
/// Declared opaque (no enumerators), identically in choker.hpp, piece_picker.hpp and
/// super_seed.hpp, so that these headers can be included in one translation unit.
enum class peer_key : std::uint32_t;

/// What an initial seed that super-seeds (BEP 16 style) knows of each piece, for
/// pick_offer(); the three spans are indexed by piece and of equal length.
struct offer_inputs {
  /// Copies of the piece out there: whole uploads of it by us plus peers known to hold it.
  std::span<const std::uint32_t> spread;
  /// Peers the piece was already announced (offered) to.
  std::span<const std::uint32_t> offered;
  /// Nonzero: not to be offered now (the peer holds it or was offered it, or another
  /// peer may be fetching it from us at this moment).
  std::span<const std::uint8_t> excluded;
};

/// The piece to announce next to a peer: the least spread, then the least offered, among
/// those not excluded; ties are resolved from a random starting piece (so that peers asking
/// in turn get different pieces). nullopt when every piece is excluded or the spans'
/// lengths differ. O(pieces).
[[nodiscard]] std::optional<std::uint32_t> pick_offer(const offer_inputs& in, std::mt19937_64& rng);

/// A peer that an initial seed which super-seeds could announce its next piece to, for
/// pick_recipient().
struct offer_candidate {
  peer_key id{};
  /// Copies this peer still owes the swarm: for each piece it got (or is getting) from us,
  /// the other leechers that do not hold that piece yet, as far as the `have` messages tell.
  std::uint64_t owed = 0;
  /// When this peer was last given a piece, as an increasing sequence number; 0 = never.
  std::uint64_t last_served = 0;
};

/// The peer to give the seed's next piece: the one that owes the fewest copies (BEP 16's
/// rule, graded: a peer that has not passed its pieces on waits while another has), then
/// the one served longest ago (never served first), then the smallest id. A peer that
/// passes pieces on k times faster drains what it owes k times faster, so it is given
/// about k times as many pieces: shares in proportion to upload, as in the bound's
/// schedule for unequal peers. nullopt when there is no candidate. Deterministic;
/// O(candidates).
[[nodiscard]] std::optional<peer_key> pick_recipient(std::span<const offer_candidate> candidates);

}  // namespace p2pdist::bt
