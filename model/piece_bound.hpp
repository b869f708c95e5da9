#pragma once
// The piece bound: a lower bound on the distribution time when the file moves in pieces
// that a peer can pass on only once it holds them whole (store and forward), as in
// BitTorrent, for any N ≥ 1, heterogeneous u_i and d_i, any piece size. A piece's bytes may
// reach a peer from several senders at once (BitTorrent fetches a piece's blocks from
// several peers), and rates may be split in any way (a fluid schedule): the bound holds for
// every such schedule.
//
// Notation: F file bits, s the size of the smallest piece (σ below; all pieces but the last
// have the nominal size), N peers, u_s, u_i, d_i as in bounds.hpp, U = Σu_i, U_(m) the sum
// of the m largest u_i, u_(k) the k-th largest, d_max = max d_i.
//
// P2P: the largest of three terms.
//  1. fluid:  D_p2p = max(F/u_s, F/d_min, N·F/(u_s + U)).
//  2. spread: T ≥ F/u_s + Σ_{k=0}^{N−2} σ / r_k,  r_k = max_{c ≤ k} min(u_s + U_(c+1), (N−1−c)·d_max).
//     Proof. Only the server holds a piece until some peer has received it whole, and a
//     peer passes on only whole pieces; so every piece's first complete copy came entirely
//     from the server, and the moment T₁ when the last piece j* gets its first complete copy
//     is ≥ F/u_s. Before T₁ nobody but the server can send j*. After T₁ the other N−1 peers
//     still need all of j* but what the server sent them of it before T₁ — bits that delayed
//     T₁ by 1/u_s each and can save at most 1/(u_s + u_first) each afterwards, so sending
//     none is no worse. After T₁, bits of j* come only from its holders: the server and the
//     peers holding j* whole. While c of the others hold it, they send at most
//     u_s + U_(c+1) (the first holder included, the fastest uploaders assumed) and the
//     N−1−c still without it receive at most (N−1−c)·d_max. At most g/σ of them can hold it
//     once g bits of it have been delivered to them, so while g < (k+1)·σ the delivery rate
//     is at most r_k (c ≤ k; fewer holders send less but may receive more, hence the max);
//     the (k+1)-th completion needs σ more. Summing the least time each step can take gives
//     the term. (With d unlimited and all u equal, the tail is
//     (H_N − 1)·σ/u, H_N the harmonic number: less than the ⌊log₂N⌋·σ/u of the round model,
//     where a piece moves whole from one sender to one receiver.)
//  3. ramp:   T ≥ the least T with  ∫₀ᵀ min(u_s + Σ_{k: τ_k ≤ t} u_(k), D) dt ≥ N·F,
//     τ_k = Σ_{j=0}^{k−1} σ / min(u_s + U_(j), (N−j)·d_max),  D = Σ d_i.
//     Proof. A peer uploads only pieces it holds whole, so peer i uploads nothing before its
//     first complete piece, at T_i. The same counting as in 2 (a peer's first piece needs σ
//     bits delivered to peers that hold nothing whole yet, at most u_s + U_(a) while a peers
//     hold a piece, received at most (N−a)·d_max) makes the k-th such moment ≥ τ_k; the
//     delivery rate is at most the upload of those who can send, and at most what all can
//     receive, D; it is largest when the fastest uploaders start first. All N peers must
//     receive F bits each by T.
//  As the pieces shrink (σ → 0) terms 2 and 3 tend to F/u_s and N·F/(u_s + U): the piece
//  bound tends to the fluid bound.
//
// Client-server: peers never pass anything on, so pieces cost nothing: the piece bound is
// the fluid D_cs.
//
// Beside the bound, for the homogeneous case (u_i = u_s for all i) and pieces of equal
// size, the round schedule of Bar-Noy & Kipnis / Mundinger, Weber & Weiss takes
// (M + ⌊log₂ N⌋)·F/(M·u): achievable (with d ≥ u), and optimal among schedules that move each
// piece whole from one sender to one receiver — but not a lower bound for BitTorrent, which
// can do better (N = 2, M = 1: 1.5·F/u against 2·F/u). It is reported as a reference.

#include <cstdint>
#include <optional>
#include <string_view>

#include "model/bounds.hpp"

namespace p2pdist::model {

/// Which architecture the bound is for.
enum class distribution_mode { client_server, p2p };

/// The term of the piece bound that binds.
enum class piece_binding {
  fluid,   ///< the fluid bound (its own binding term says which of its terms)
  spread,  ///< the last piece's first copy, then its spread to every other peer
  ramp,    ///< peers idle until they hold a whole piece, then the aggregate upload
};

/// "fluid", "piece_spread", "piece_ramp".
std::string_view to_string(piece_binding b) noexcept;

/// The piece bound for one swarm and one piece size.
struct piece_bound_result {
  double seconds = 0;            ///< the piece bound
  std::uint64_t pieces = 0;      ///< M = ⌈F / piece_bits⌉
  piece_binding binding = piece_binding::fluid;
  double fluid_seconds = 0;      ///< the fluid bound of the same mode
  double spread_seconds = 0;     ///< term 2 (P2P; 0 for client-server)
  double ramp_seconds = 0;       ///< term 3 (P2P; 0 for client-server)
  /// The homogeneous round schedule's time (see the file comment), when every u_i equals
  /// u_s, every piece has the same size and the mode is P2P; a reference, not a bound.
  std::optional<double> round_schedule_seconds;
};

/// The piece bound for a validated swarm and pieces of `piece_bits` (> 0, finite; the last
/// piece may be shorter). Throws std::invalid_argument for a bad piece size.
piece_bound_result piece_bound(const swarm_params& p, double piece_bits, distribution_mode mode);

}  // namespace p2pdist::model
