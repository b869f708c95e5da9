#pragma once
// The analytic lower bounds on the time to hand one file of F bits to N peers
// (Kurose & Ross §2.5; Kumar & Ross 2006 for heterogeneous peers):
//
//   client-server   D_cs  = max( N·F/u_s ,  F/d_min )
//   peer-to-peer    D_p2p = max( F/u_s ,  F/d_min ,  N·F/(u_s + Σu_i) )
//
// F in bits, rates in bits/s, times in seconds. Both bounds are tight: schedule.hpp builds
// the fluid schedules that reach them. Note the u_s in the P2P denominator: the server's own
// upload counts towards the aggregate; dividing by Σu_i alone is not a lower bound.

#include <cstddef>
#include <string_view>
#include <vector>

namespace p2pdist::model {

/// The term of a bound that is largest (binds).
enum class binding_term {
  server_upload,     ///< N·F/u_s (client-server) or F/u_s (P2P)
  slowest_download,  ///< F/d_min
  aggregate_upload,  ///< N·F/(u_s + Σu_i), P2P only
};

/// "server_upload", "slowest_download", "aggregate_upload" (the JSON contract's names).
std::string_view to_string(binding_term term) noexcept;

/// A swarm: one server (seed) and N peers with their own upload and download rates.
/// peer_up_bps and peer_down_bps hold N values each; a download rate may be +infinity.
struct swarm_params {
  std::size_t n = 0;
  double file_bits = 0;
  double server_up_bps = 0;
  std::vector<double> peer_up_bps;
  std::vector<double> peer_down_bps;

  /// N peers that all upload at `up_bps` and download at `down_bps`.
  static swarm_params homogeneous(std::size_t n, double file_bits, double server_up_bps,
                                  double up_bps, double down_bps);
  /// min d_i (the slowest download), +infinity when every download is unlimited.
  double d_min_bps() const;
  /// Σu_i.
  double sum_peer_up_bps() const;
};

/// Throws std::invalid_argument (saying which value and why) unless: n ≥ 1; F > 0 and
/// finite; u_s > 0 and finite; both lists hold n values; every u_i ≥ 0 and finite; every
/// d_i > 0 (infinity allowed).
void validate(const swarm_params& p);

/// A bound, its binding term, and every term's value (terms that do not apply are 0).
struct bound {
  double seconds = 0;
  binding_term binding = binding_term::server_upload;
  double server_upload_seconds = 0;
  double slowest_download_seconds = 0;
  double aggregate_upload_seconds = 0;
};

/// D_cs for a validated swarm. Ties between terms go to the first in enum order.
bound client_server_bound(const swarm_params& p);
/// D_p2p for a validated swarm. Ties between terms go to the first in enum order, so with
/// N = 1 and u = 0 the binding term is server_upload.
bound p2p_bound(const swarm_params& p);

/// Scalar forms for sweeps (no validation): n peers, file_bits, u_s, d_min, Σu_i.
inline double client_server_seconds(double n, double file_bits, double server_up_bps,
                                    double d_min_bps) {
  const double a = n * file_bits / server_up_bps;
  const double b = file_bits / d_min_bps;
  return a > b ? a : b;
}
inline double p2p_seconds(double n, double file_bits, double server_up_bps, double d_min_bps,
                          double sum_peer_up_bps) {
  const double a = file_bits / server_up_bps;
  const double b = file_bits / d_min_bps;
  const double c = n * file_bits / (server_up_bps + sum_peer_up_bps);
  const double ab = a > b ? a : b;
  return ab > c ? ab : c;
}

}  // namespace p2pdist::model
