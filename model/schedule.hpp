#pragma once
// Fluid schedules that reach the bounds of bounds.hpp exactly: constant rates over
// [0, seconds], every peer receiving the whole file (F bits, distinct content) at the end.
//
// client-server: the server streams to every peer at r = min(u_s/N, d_min).
// P2P (U = Σu_i), with the rate each peer receives r* = min(d_min, u_s, (u_s+U)/N):
//   if (N−1)·u_s ≤ U: the server sends peer i a share in proportion to u_i, at
//     u_s·u_i/U, and peer i relays that share to each of the N−1 others;
//   otherwise: the server sends peer i a stream at u_i/(N−1) that peer i relays to each of
//     the N−1 others, and splits what is left, u_s − U/(N−1), equally among all N;
//   a finite d_min scales every rate by one factor so that each peer receives at r*.

#include <cstddef>
#include <string_view>
#include <vector>

#include "model/bounds.hpp"

namespace p2pdist::model {

/// Which of the schedules above was built.
enum class schedule_case {
  client_server,      ///< the server streams to everyone
  single_peer,        ///< P2P with N = 1: the server streams to the one peer
  proportional_share, ///< P2P, (N−1)·u_s ≤ Σu_i: shares in proportion to u_i, relayed
  relay_plus_direct,  ///< P2P, (N−1)·u_s > Σu_i: relayed streams plus direct streams
};
std::string_view to_string(schedule_case c) noexcept;

/// Constant rates, in bits/s, over [0, seconds].
struct schedule {
  schedule_case kind = schedule_case::client_server;
  double seconds = 0;                  ///< completion time of every peer (= the bound)
  std::vector<double> server_to_peer;  ///< [i]: rate the server sends peer i
  /// relay[j][i]: rate peer j sends peer i (0 on the diagonal). In these schedules a peer
  /// relays only what the server sends it, so relay[j][i] ≤ server_to_peer[j].
  std::vector<std::vector<double>> relay;

  std::size_t n() const { return server_to_peer.size(); }
  /// Σ_i server_to_peer[i]
  double server_send_bps() const;
  /// Σ_i relay[j][i]: what peer j uploads.
  double peer_send_bps(std::size_t j) const;
  /// server_to_peer[i] + Σ_j relay[j][i]: what peer i downloads.
  double peer_receive_bps(std::size_t i) const;
};

/// The client-server schedule for a validated swarm.
schedule client_server_schedule(const swarm_params& p);
/// The P2P schedule for a validated swarm.
schedule p2p_schedule(const swarm_params& p);

}  // namespace p2pdist::model
