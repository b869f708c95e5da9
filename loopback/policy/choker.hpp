#pragma once
// choker: decides which peers we upload to. Pure: it reads value snapshots of the peers and
// a small state, takes `now` and an rng from the caller, and returns a decision; it holds no
// connection, reads no clock. The network layer applies the decision (sends choke and
// unchoke) and keeps the snapshots' `unchoked` and `last_unchoked` up to date.
//
// The policy (BitTorrent's classic tit-for-tat with an optimistic unchoke):
// - regular slots (default 4), re-decided at every rechoke (every 10 s): as a leecher, to the
//   interested peers that upload to us fastest, snubbed peers ranked below all others; as a
//   seed, to those we upload to fastest, or round robin over the interested peers;
// - one optimistic slot, rotated every 30 s to an interested peer that holds no regular
//   slot. The choice is a weighted rotation: a peer's priority is
//       weight × (time since we last unchoked it + optimistic_interval),
//   weight new_peer_weight (3) for a peer connected less than new_peer_age ago, else 1;
//   the highest priority wins, ties broken at random. Peers of equal weight take strict
//   turns (longest wait first); a new peer comes round about new_peer_weight times as
//   often (somewhat less with few candidates, as turns are whole rotations: 2.5× rather
//   than 3× beside five old peers); and no candidate waits for ever: once a peer has waited
//   new_peer_weight × (new_peer_age + optimistic_interval) − optimistic_interval, no new
//   peer can pass it, and each old one at most once. The state holds no per-peer memory:
//   the wait comes from the snapshot's last_unchoked (or connected_at);
// - uninterested peers never hold a slot (rechoke chokes them); a peer that becomes
//   interested while a slot is free is unchoked at once (on_interested).
// So, when the caller applies every decision and action, at most regular_slots + 1
// interested peers are unchoked at any time. The optimistic holder is kept in
// choker_state (the snapshot carries no such flag, so the two cannot disagree).

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

/// The caller's small id for a connected peer (e.g. an index into its connection table).
/// Declared opaque (no enumerators), identically in choker.hpp, piece_picker.hpp and
/// super_seed.hpp, so that these headers can be included in one translation unit.
enum class peer_key : std::uint32_t;

/// What the choker needs to know about one connected peer, as a value.
struct peer_stats {
  peer_key id{};
  /// The peer is interested in what we have.
  bool interested = false;
  /// We currently unchoke it (regular or optimistic).
  bool unchoked = false;
  /// No data from it for a while although we want some (the caller's judgment).
  bool snubbed = false;
  /// Recent download rate from this peer, bytes per second (NaN or negative counts as 0).
  double rate_from_bytes_per_s = 0;
  /// Recent upload rate to this peer, bytes per second (NaN or negative counts as 0).
  double rate_to_bytes_per_s = 0;
  /// When the connection was established.
  time_point connected_at{};
  /// When we last choked it after an unchoke (the end of its latest unchoked period);
  /// nullopt if never unchoked. Ignored while `unchoked`.
  std::optional<time_point> last_unchoked = std::nullopt;
  /// While `unchoked`: since when (the start of the current unchoked period).
  time_point unchoked_since{};
  /// Our upload to it over the last few hundred milliseconds, bytes per second (the
  /// rate_to above is since the rechoke before last: too slow for on_upload_underused).
  double recent_rate_to_bytes_per_s = 0;
};

/// How a seed fills its regular slots.
enum class seed_policy {
  by_rate_to_peer,  ///< to the interested peers we upload to fastest
  round_robin,      ///< in turn, by peer id, every interested peer served over a cycle
};

/// Whether we still download (leecher) or only upload (seed).
enum class choker_role { leecher, seed };

/// Settings; every interval can be scaled with scaled().
struct choker_config {
  /// Regular unchoke slots (negative counts as 0).
  int regular_slots = 4;
  /// How often the regular slots are re-decided.
  duration rechoke_interval = std::chrono::seconds(10);
  /// How long an optimistic unchoke lasts before it rotates (checked at each rechoke).
  duration optimistic_interval = std::chrono::seconds(30);
  /// How a seed fills its regular slots.
  seed_policy as_seed = seed_policy::round_robin;
  /// Weight of a new peer in the optimistic rotation (values below 1 count as 1).
  int new_peer_weight = 3;
  /// A peer connected less than this long ago is new.
  duration new_peer_age = std::chrono::seconds(60);
  /// Unchokes beyond regular_slots + 1 that on_upload_idle may grant while our upload has
  /// nothing to send (negative counts as 0; 0 is the classic choker).
  int idle_extra_slots = 4;
  /// on_upload_underused: an unchoked peer that takes less than this fraction of our upload
  /// limit gives its slot to a waiting peer (0 or less: never).
  double swap_below_fraction = 0.06;
  /// ... once it has held the slot this long (its recent rate means something by then).
  duration swap_after = std::chrono::milliseconds(400);
};

/// `cfg` with rechoke_interval, optimistic_interval and new_peer_age multiplied by
/// `factor` (e.g. 0.1 for runs ten times shorter). Precondition: factor > 0 and finite;
/// otherwise cfg is returned unchanged.
[[nodiscard]] choker_config scaled(choker_config cfg, double factor) noexcept;

/// What the choker remembers between calls. Start with a default-constructed one.
struct choker_state {
  /// The peer in the optimistic slot, if any, and since when.
  std::optional<peer_key> optimistic = std::nullopt;
  time_point optimistic_since{};
  /// When rechoke() last ran; nullopt before the first.
  std::optional<time_point> last_rechoke = std::nullopt;
  /// Round robin (seed): the last peer given a regular slot.
  std::optional<peer_key> round_robin_cursor = std::nullopt;
};

/// The outcome of a rechoke: the target set and what to change to reach it.
struct choke_decision {
  /// Peers holding regular slots after this decision, ascending by id.
  std::vector<peer_key> regular;
  /// The peer in the optimistic slot after this decision.
  std::optional<peer_key> optimistic;
  /// Choked peers to unchoke now, ascending by id.
  std::vector<peer_key> to_unchoke;
  /// Unchoked peers to choke now, ascending by id (those leaving a slot, and uninterested ones).
  std::vector<peer_key> to_choke;
};

/// True when a rechoke is due: never rechoked yet, or rechoke_interval has passed since the
/// last one.
[[nodiscard]] bool rechoke_due(const choker_state& state, const choker_config& cfg, time_point now) noexcept;

/// When the next rechoke is due (the past or now if it is already due).
[[nodiscard]] time_point next_rechoke_at(const choker_state& state, const choker_config& cfg, time_point now) noexcept;

/// Re-decides every slot from the snapshots (see the policy above) and records `now` as
/// the rechoke time. Rotates the optimistic slot when optimistic_interval has passed, or at
/// once when its holder left, lost interest or earned a regular slot. Deterministic given
/// the rng's state. Precondition: ids in `peers` are distinct.
[[nodiscard]] choke_decision rechoke(choker_state& state, std::span<const peer_stats> peers,
                                     const choker_config& cfg, choker_role role, time_point now,
                                     std::mt19937_64& rng);

/// What to do with a peer that has just become interested.
enum class interest_action {
  none,                ///< leave it as it is
  unchoke_regular,     ///< a regular slot was free: unchoke it now
  unchoke_optimistic,  ///< the optimistic slot was free: unchoke it now (state records it)
  choke,  ///< it was still unchoked from before but every slot is taken: choke it
};

/// Called when `peer` becomes interested, between rechokes: fills a free slot at once so no
/// upload capacity idles until the next rechoke. A slot is free when fewer than
/// regular_slots other interested peers hold regular slots (or, for the optimistic slot,
/// when no other interested peer holds it). `peers` is the current snapshot (with `peer`
/// in it or not); a peer not in it counts as choked.
/// Called when our upload has nothing to send (no unchoked peer has a request waiting):
/// the interested, choked peer to unchoke now so that the capacity does not idle until the
/// next rechoke — the one that has waited longest (last_unchoked, else connected_at; ties
/// by the smaller id) — provided fewer than regular_slots + 1 + idle_extra_slots interested
/// peers are unchoked. nullopt when there is none or the cap is reached. The unchoke holds
/// until the next rechoke re-decides every slot. Leaves no state.
[[nodiscard]] std::optional<peer_key> on_upload_idle(std::span<const peer_stats> peers, const choker_config& cfg);

/// A slot handed from one peer to another.
struct slot_swap {
  peer_key choke{};    ///< unchoked now, takes almost nothing of our upload
  peer_key unchoke{};  ///< interested and choked, waited longest
};

/// Called while our upload stays below its limit (`upload_limit_bytes_per_s`) and
/// on_upload_idle grants nothing because every slot it may use is taken. When the peers we
/// unchoke cannot take our upload (their downloads are full from others), holding the slots
/// until the next rechoke idles our capacity while a peer that nobody serves waits. So: the
/// unchoked, interested peer that takes least of our upload recently — below
/// swap_below_fraction of the limit, unchoked at least swap_after ago, not the optimistic
/// one — gives its slot to the interested, choked peer that has waited longest (as in
/// on_upload_idle). nullopt when there is no such pair. Leaves no state: the next rechoke
/// re-decides every slot.
[[nodiscard]] std::optional<slot_swap> on_upload_underused(const choker_state& state, std::span<const peer_stats> peers,
                                                           const choker_config& cfg, double upload_limit_bytes_per_s,
                                                           time_point now);

[[nodiscard]] interest_action on_interested(choker_state& state, std::span<const peer_stats> peers,
                                            const choker_config& cfg, peer_key peer, time_point now);

}  // namespace p2pdist::bt
