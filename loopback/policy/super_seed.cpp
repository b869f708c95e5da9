#include "loopback/policy/super_seed.hpp"

#include <cstddef>
#include <limits>

namespace p2pdist::bt {

std::optional<std::uint32_t> pick_offer(const offer_inputs& in, std::mt19937_64& rng) {
  const std::size_t count = in.spread.size();
  if (count == 0 || in.offered.size() != count || in.excluded.size() != count ||
      count > std::numeric_limits<std::uint32_t>::max())
    return std::nullopt;
  // Plain modulo, as the piece picker draws: deterministic across standard libraries.
  const auto start = static_cast<std::size_t>(rng() % count);
  std::optional<std::uint32_t> best;
  std::uint64_t best_key = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t p = (start + k) % count;
    if (in.excluded[p] != 0) continue;
    const std::uint64_t key = std::uint64_t{in.spread[p]} << 32 | in.offered[p];
    if (!best || key < best_key) {
      best = static_cast<std::uint32_t>(p);
      best_key = key;
    }
  }
  return best;
}

std::optional<peer_key> pick_recipient(std::span<const offer_candidate> candidates) {
  const offer_candidate* best = nullptr;
  for (const auto& c : candidates) {
    if (best == nullptr || c.owed < best->owed ||
        (c.owed == best->owed &&
         (c.last_served < best->last_served || (c.last_served == best->last_served && c.id < best->id))))
      best = &c;
  }
  if (best == nullptr) return std::nullopt;
  return best->id;
}

}  // namespace p2pdist::bt
