#pragma once
// The latency bound: a lower bound on the distribution time when every path has a round
// trip of at least r and the peers speak BitTorrent over TCP. The textbook's bound (and the
// piece bound) let the first bit leave at t = 0 and arrive at once; here nothing can be
// asked for before the peers have found each other and connected, every answer costs a
// round trip, and a peer can pass a piece on only after it has announced it and been asked.
//
// Assumptions (what "any client speaking the protocol" means here):
//  (a) Every path — peer to peer, peer to server, peer to tracker — has a round trip ≥ r,
//      a one-way delay ≥ r/2 each way. A bit sent at s arrives at ≥ s + r/2.
//  (b) At t = 0 the N peers start holding nothing. They learn of each other and of the
//      server only from the tracker (discovery::tracker: an announce and its answer, ≥ r,
//      so no one knows a peer's address before r), or each peer knows the server's address
//      at t = 0 and the server knows no peer (discovery::direct, client-server as an HTTP
//      client works).
//  (c) TCP: the dialer's data can leave one round trip after its SYN (the SYN-ACK's
//      return); the acceptor's once the dialer's ACK has arrived, 1.5 round trips after
//      the SYN.
//  (d) Payload leaves a peer only in answer to a request (BEP 3; BEP 6 changes nothing
//      here), and a request for a piece only after the requester has heard (bitfield or
//      have) that the sender holds it, on an open connection. A peer announces a piece only
//      once it holds it whole.
//
// The server's first payload leaves at ≥ t_s:
//  - tracker: the first SYN leaves at ≥ r. If the server dials, it can send its bitfield at
//    r + r, the request is back r later: t_s = 3r. If the peer dials, the server's bitfield
//    leaves at r + 1.5r and the request is back at 3.5r. So t_s = 3r.
//  - direct: only the peer can dial, at ≥ 0: t_s = 2.5r.
// Peer i can send payload only at ≥ H_i + r, H_i the moment it first holds a whole piece:
// its `have` (or bitfield) takes r/2 to reach another peer, the request r/2 to come back.
//
// Let σ be the smallest piece, U_(j) / u_(j) as in piece_bound.hpp (largest first), D = Σd_i,
// d_max = max d_i. The bound is the largest of:
//  L0 the piece bound (a latency only delays a schedule: every lower bound without one holds);
//  L1 first copies: every bit's first copy leaves the server, after t_s, at ≤ u_s, and
//     arrives r/2 later:  T ≥ t_s + F/u_s + r/2. In P2P with N ≥ 2, the last piece then
//     has to reach the other peers:  T ≥ t_s + F/u_s + r/2 + min(1.5·r, (N−1)·σ/u_s).
//     Proof. A piece's first whole copy came from the server alone (nobody else holds it
//     whole before), so when the last piece p gets its first whole copy, at h_p, the server
//     has sent F bits: h_p ≥ t_s + F/u_s + r/2. If some peer got any bit of p from another
//     peer k, k held p whole (at ≥ h_p) and announced it, and a request came back before the
//     bit left: it arrives at ≥ h_p + r + r/2. Otherwise the server sent p to all N peers,
//     (N−1)·σ bits more than the first copies, sent by T − r/2.
//  L2 downloads: nothing reaches a peer before t_s + r/2, then at ≤ d_i:
//     T ≥ t_s + r/2 + F/d_min;
//  L3 client-server, the server's upload: T ≥ t_s + N·F/u_s + r/2;
//  L3 P2P, the ramp: let C(s) = u_s·(s − t_s)⁺ + Σ_j u_(j)·(s − h_j − r)⁺ bound the bits sent
//     by time s, where h_1 ≤ h_2 ≤ … are lower bounds on the moments the first, second, …
//     peer first holds a whole piece:
//       h_k = max( C_{k−1}⁻¹(k·σ) + r/2,  t_s + r/2 + σ/d_max,  t_s + r/2 + k·σ/D,  h_{k−1} ),
//     C_{k−1} using h_1 … h_{k−1} only. Then T ≥ max( C⁻¹(N·F) + r/2,  t_s + r/2 + N·F/D ).
//     Proof. For k peers to hold a whole piece, at least k·σ bits must have reached peers
//     (each holder's piece, bits to different peers being different deliveries); they
//     arrived r/2 or more after they left, so by H_(k) − r/2 at least k·σ bits were sent.
//     Until then at most the server and the k−1 earlier holders sent, each from t_s or from
//     its H_(j) + r on; giving the fastest uploads to the earliest holders and the earliest
//     times allowed (h_j ≤ H_(j)) can only raise C, so H_(k) ≥ h_k (by induction). The
//     k-th holder's own σ bits arrive after t_s + r/2 at ≤ d_max, and all k·σ at ≤ D. At the
//     end every one of the N peers has received F bits: N·F bits, sent by T − r/2 and
//     received after t_s + r/2 at ≤ D.
// As r → 0 the latency terms fall to (or below) the piece bound's, and the bound is the
// piece bound; every term is non-decreasing in r. Not counted (the bound stays a bound
// without them): TCP's slow start and congestion window, loss, the tracker's own HTTP
// connection (one more round trip in practice), the handshake messages' size.

#include <string_view>

#include "model/piece_bound.hpp"

namespace p2pdist::model {

/// How peers find each other (assumption (b) above).
enum class discovery {
  tracker,  ///< through a tracker: every address is learnt ≥ one round trip after t = 0
  direct,   ///< every peer knows the server at t = 0 and dials it; the server knows no one
};

/// The term of the latency bound that binds.
enum class latency_binding {
  piece,        ///< L0: the piece bound (its own binding says which of its terms)
  first_copy,   ///< L1
  download,     ///< L2
  upload_ramp,  ///< L3: the server's upload (client-server) or the aggregate's ramp (P2P)
};

/// "piece", "latency_first_copy", "latency_download", "latency_upload".
std::string_view to_string(latency_binding b) noexcept;

struct latency_bound_result {
  double seconds = 0;
  latency_binding binding = latency_binding::piece;
  double rtt_seconds = 0;          ///< r, the least round trip of any path
  double first_send_seconds = 0;   ///< t_s, the server's first payload at the earliest
  double piece_seconds = 0;        ///< L0
  double first_copy_seconds = 0;   ///< L1 (with the last piece's spread in P2P)
  double download_seconds = 0;     ///< L2
  double upload_seconds = 0;       ///< L3
};

/// The latency bound for a validated swarm, pieces of `piece_bits` and round trips of at
/// least `rtt_seconds` (≥ 0, finite) on every path. Throws std::invalid_argument for a bad
/// piece size or round trip.
latency_bound_result latency_bound(const swarm_params& p, double piece_bits, distribution_mode mode,
                                   double rtt_seconds, discovery how);

/// The discovery the harness and the CLI use for a mode: P2P through the tracker,
/// client-server direct.
constexpr discovery discovery_for(distribution_mode mode) noexcept {
  return mode == distribution_mode::p2p ? discovery::tracker : discovery::direct;
}

}  // namespace p2pdist::model
