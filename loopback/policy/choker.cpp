#include "loopback/policy/choker.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace p2pdist::bt {

namespace {

// Caps that keep the optimistic priority, weight × (wait + interval) in nanoseconds, far
// from int64 overflow: 1000 × (2 × 1e15) = 2e18 < 9.2e18.
constexpr std::int64_t max_wait_ns = 1'000'000'000'000'000;  // about 11.6 days
constexpr std::int64_t max_weight = 1000;

double sane_rate(double r) noexcept { return std::isfinite(r) && r > 0 ? r : 0.0; }

duration scale(duration d, double factor) noexcept {
  return duration(static_cast<duration::rep>(std::llround(static_cast<double>(d.count()) * factor)));
}

std::int64_t clamp_ns(duration d) noexcept { return std::clamp<std::int64_t>(d.count(), 0, max_wait_ns); }

// Fisher–Yates with a plain modulo draw, so the result depends only on the rng's output and
// not on the standard library's distribution algorithms (the simulator wants runs that
// repeat across toolchains). The modulo bias is below n / 2^64.
void shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}

std::optional<std::size_t> find_peer(std::span<const peer_stats> peers, peer_key id) {
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (peers[i].id == id) return i;
  }
  return std::nullopt;
}

// The optimistic priority of a candidate: weight × (time since its last unchoke +
// optimistic_interval). A peer still unchoked (e.g. just leaving a regular slot) has waited 0.
std::int64_t optimistic_priority(const peer_stats& p, const choker_config& cfg, time_point now) {
  std::int64_t wait_ns = 0;
  if (!p.unchoked) wait_ns = clamp_ns(now - p.last_unchoked.value_or(p.connected_at));
  const bool is_new = now - p.connected_at < cfg.new_peer_age;
  const auto weight = is_new ? std::clamp<std::int64_t>(cfg.new_peer_weight, 1, max_weight) : 1;
  return weight * (wait_ns + clamp_ns(cfg.optimistic_interval));
}

std::vector<peer_key> sorted_ids(std::vector<peer_key> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// The regular slots of a seed that serves in turn: `take` of the candidates (indexes into
/// `peers`), in id order from the first after the state's cursor, wrapping around; the
/// cursor moves to the last one taken.
std::vector<std::size_t> round_robin_slots(choker_state& state, std::span<const peer_stats> peers,
                                           std::vector<std::size_t> ranked, std::size_t take) {
  std::vector<std::size_t> regular;
  std::sort(ranked.begin(), ranked.end(), [&](std::size_t a, std::size_t b) { return peers[a].id < peers[b].id; });
  std::size_t start = 0;
  if (state.round_robin_cursor) {
    start = static_cast<std::size_t>(
        std::partition_point(ranked.begin(), ranked.end(),
                             [&](std::size_t i) { return peers[i].id <= *state.round_robin_cursor; }) -
        ranked.begin());
  }
  for (std::size_t k = 0; k < take; ++k) regular.push_back(ranked[(start + k) % ranked.size()]);
  if (!regular.empty()) state.round_robin_cursor = peers[regular.back()].id;
  return regular;
}

/// The regular slots by rate: the `take` fastest of the candidates (indexes into `peers`,
/// in random order). A leecher ranks by rate from the peer, snubbed peers after all
/// others; a seed by rate to the peer. On equal rates a current slot holder keeps its slot
/// (less churn); other ties keep the candidates' order.
std::vector<std::size_t> fastest_slots(const choker_state& state, std::span<const peer_stats> peers,
                                       choker_role role, std::vector<std::size_t> ranked, std::size_t take) {
  const auto is_optimistic = [&](const peer_stats& p) { return state.optimistic && p.id == *state.optimistic; };
  const auto holds_regular = [&](const peer_stats& p) { return p.unchoked && !is_optimistic(p); };
  const bool leecher = role == choker_role::leecher;
  std::stable_sort(ranked.begin(), ranked.end(), [&](std::size_t a, std::size_t b) {
    const auto& pa = peers[a];
    const auto& pb = peers[b];
    if (leecher && pa.snubbed != pb.snubbed) return pb.snubbed;
    const auto ra = sane_rate(leecher ? pa.rate_from_bytes_per_s : pa.rate_to_bytes_per_s);
    const auto rb = sane_rate(leecher ? pb.rate_from_bytes_per_s : pb.rate_to_bytes_per_s);
    if (ra != rb) return ra > rb;
    return holds_regular(pa) && !holds_regular(pb);
  });
  return {ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(take)};
}

/// Keeps or moves the optimistic slot: when its holder is gone, no longer interested, now
/// regular, or has held it for optimistic_interval, it goes to the candidate outside the
/// regular slots with the highest optimistic priority (the first in the candidates' random
/// order among equals), away from the current holder when anybody else can take it; with
/// no such candidate the slot is left empty.
void rotate_optimistic(choker_state& state, std::span<const peer_stats> peers, const choker_config& cfg,
                       const std::vector<std::size_t>& candidates, const std::vector<bool>& in_regular,
                       time_point now) {
  const auto current = state.optimistic ? find_peer(peers, *state.optimistic) : std::nullopt;
  const bool current_ok = current && peers[*current].interested && !in_regular[*current];
  const bool rotation_due = !state.optimistic || now - state.optimistic_since >= cfg.optimistic_interval;
  if (current_ok && !rotation_due) return;
  std::vector<std::size_t> pool;
  for (auto i : candidates) {
    if (!in_regular[i]) pool.push_back(i);
  }
  // Rotate away from the current holder when anybody else can take the slot.
  if (current_ok && pool.size() > 1) std::erase(pool, *current);
  if (pool.empty()) {
    state.optimistic.reset();
    return;
  }
  std::size_t best = pool.front();
  auto best_priority = optimistic_priority(peers[best], cfg, now);
  for (auto i : pool) {  // pool is in random order: the first of equal priorities wins
    const auto pr = optimistic_priority(peers[i], cfg, now);
    if (pr > best_priority) {
      best = i;
      best_priority = pr;
    }
  }
  if (!state.optimistic || *state.optimistic != peers[best].id) {
    state.optimistic = peers[best].id;
    state.optimistic_since = now;
  }
}

/// The decision that gives the regular slots to `regular` and the optimistic one to the
/// state's holder: what to unchoke and choke against the snapshot, all ids sorted.
choke_decision decision(const choker_state& state, std::span<const peer_stats> peers,
                        const std::vector<std::size_t>& regular, const std::vector<bool>& in_regular) {
  choke_decision d;
  std::vector<bool> target = in_regular;
  for (auto i : regular) d.regular.push_back(peers[i].id);
  if (state.optimistic) {
    d.optimistic = state.optimistic;
    target[*find_peer(peers, *state.optimistic)] = true;
  }
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (target[i] && !peers[i].unchoked) d.to_unchoke.push_back(peers[i].id);
    if (!target[i] && peers[i].unchoked) d.to_choke.push_back(peers[i].id);
  }
  d.regular = sorted_ids(std::move(d.regular));
  d.to_unchoke = sorted_ids(std::move(d.to_unchoke));
  d.to_choke = sorted_ids(std::move(d.to_choke));
  return d;
}

}  // namespace

choker_config scaled(choker_config cfg, double factor) noexcept {
  if (!(std::isfinite(factor) && factor > 0)) return cfg;
  cfg.rechoke_interval = scale(cfg.rechoke_interval, factor);
  cfg.optimistic_interval = scale(cfg.optimistic_interval, factor);
  cfg.new_peer_age = scale(cfg.new_peer_age, factor);
  return cfg;
}

bool rechoke_due(const choker_state& state, const choker_config& cfg, time_point now) noexcept {
  return !state.last_rechoke || now - *state.last_rechoke >= cfg.rechoke_interval;
}

time_point next_rechoke_at(const choker_state& state, const choker_config& cfg, time_point now) noexcept {
  return state.last_rechoke ? *state.last_rechoke + cfg.rechoke_interval : now;
}

choke_decision rechoke(choker_state& state, std::span<const peer_stats> peers, const choker_config& cfg,
                       choker_role role, time_point now, std::mt19937_64& rng) {
  const auto slots = static_cast<std::size_t>(std::max(0, cfg.regular_slots));

  // Interested peers in random order: every later sort is stable, so ties stay random.
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (peers[i].interested) candidates.push_back(i);
  }
  shuffle(candidates, rng);
  const auto take = std::min(slots, candidates.size());

  const std::vector<std::size_t> regular = role == choker_role::seed && cfg.as_seed == seed_policy::round_robin
                                               ? round_robin_slots(state, peers, candidates, take)
                                               : fastest_slots(state, peers, role, candidates, take);
  std::vector<bool> in_regular(peers.size(), false);
  for (auto i : regular) in_regular[i] = true;

  rotate_optimistic(state, peers, cfg, candidates, in_regular, now);
  state.last_rechoke = now;
  return decision(state, peers, regular, in_regular);
}

interest_action on_interested(choker_state& state, std::span<const peer_stats> peers, const choker_config& cfg,
                              peer_key peer, time_point now) {
  const auto slots = static_cast<std::size_t>(std::max(0, cfg.regular_slots));
  std::size_t regular_in_use = 0;
  bool optimistic_taken = false;
  bool peer_unchoked = false;
  for (const auto& p : peers) {
    if (p.id == peer) {
      peer_unchoked = p.unchoked;
      continue;
    }
    if (!p.interested) continue;
    if (state.optimistic && p.id == *state.optimistic) optimistic_taken = true;
    else if (p.unchoked) ++regular_in_use;
  }
  const bool regular_free = regular_in_use < slots;
  const bool is_optimistic = state.optimistic && *state.optimistic == peer;

  if (peer_unchoked) {
    // Still unchoked from before it lost interest: it may keep a free slot, else it must go.
    if (is_optimistic || regular_free) return interest_action::none;
    if (!optimistic_taken) {
      state.optimistic = peer;
      state.optimistic_since = now;
      return interest_action::none;
    }
    return interest_action::choke;
  }
  if (regular_free) {
    if (is_optimistic) state.optimistic.reset();
    return interest_action::unchoke_regular;
  }
  if (!optimistic_taken) {
    state.optimistic = peer;
    state.optimistic_since = now;
    return interest_action::unchoke_optimistic;
  }
  return interest_action::none;
}

namespace {

// The interested, choked peer that has waited longest (last_unchoked, else connected_at;
// ties by the smaller id), and how many interested peers are unchoked.
std::pair<const peer_stats*, std::size_t> longest_waiting(std::span<const peer_stats> peers) {
  std::size_t unchoked = 0;
  const peer_stats* best = nullptr;
  for (const auto& p : peers) {
    if (!p.interested) continue;
    if (p.unchoked) {
      ++unchoked;
      continue;
    }
    const auto waited_from = p.last_unchoked.value_or(p.connected_at);
    if (best == nullptr) {
      best = &p;
      continue;
    }
    const auto best_from = best->last_unchoked.value_or(best->connected_at);
    if (waited_from < best_from || (waited_from == best_from && p.id < best->id)) best = &p;
  }
  return {best, unchoked};
}

}  // namespace

std::optional<peer_key> on_upload_idle(std::span<const peer_stats> peers, const choker_config& cfg) {
  const auto cap = static_cast<std::size_t>(std::max(0, cfg.regular_slots)) + 1 +
                   static_cast<std::size_t>(std::max(0, cfg.idle_extra_slots));
  const auto [best, unchoked] = longest_waiting(peers);
  if (best == nullptr || unchoked >= cap) return std::nullopt;
  return best->id;
}

std::optional<slot_swap> on_upload_underused(const choker_state& state, std::span<const peer_stats> peers,
                                             const choker_config& cfg, double upload_limit_bytes_per_s,
                                             time_point now) {
  const double below = sane_rate(cfg.swap_below_fraction) * sane_rate(upload_limit_bytes_per_s);
  if (!(below > 0)) return std::nullopt;
  const auto waiting = longest_waiting(peers).first;
  if (waiting == nullptr) return std::nullopt;
  const peer_stats* idle = nullptr;
  for (const auto& p : peers) {
    if (!p.interested || !p.unchoked || now - p.unchoked_since < cfg.swap_after) continue;
    if (state.optimistic && *state.optimistic == p.id) continue;
    const double r = sane_rate(p.recent_rate_to_bytes_per_s);
    if (r >= below) continue;
    if (idle == nullptr || r < sane_rate(idle->recent_rate_to_bytes_per_s) ||
        (r == sane_rate(idle->recent_rate_to_bytes_per_s) && p.id < idle->id))
      idle = &p;
  }
  if (idle == nullptr) return std::nullopt;
  return slot_swap{.choke = idle->id, .unchoke = waiting->id};
}

}  // namespace p2pdist::bt
