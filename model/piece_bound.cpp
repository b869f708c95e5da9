#include "model/piece_bound.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

#include "model/chunked.hpp"

namespace p2pdist::model {

std::string_view to_string(piece_binding b) noexcept {
  switch (b) {
    case piece_binding::fluid: return "fluid";
    case piece_binding::spread: return "piece_spread";
    case piece_binding::ramp: return "piece_ramp";
  }
  return "fluid";
}

namespace {

struct swarm_view {
  std::vector<double> up_desc;  // u_i, largest first
  std::vector<double> top;      // top[m] = U_(m), the sum of the m largest; top[0] = 0
  double d_max = 0;
};

swarm_view view_of(const swarm_params& p) {
  swarm_view v;
  v.up_desc = p.peer_up_bps;
  std::sort(v.up_desc.begin(), v.up_desc.end(), std::greater<>());
  v.top.assign(v.up_desc.size() + 1, 0.0);
  for (std::size_t m = 0; m < v.up_desc.size(); ++m) v.top[m + 1] = v.top[m] + v.up_desc[m];
  v.d_max = *std::max_element(p.peer_down_bps.begin(), p.peer_down_bps.end());
  return v;
}

// Term 2: F/u_s + Σ_{k=0}^{N−2} σ / r_k, r_k = max_{c ≤ k} min(u_s + U_(c+1), (N−1−c)·d_max).
double spread_seconds(const swarm_params& p, const swarm_view& v, double sigma) {
  double t = p.file_bits / p.server_up_bps;
  const std::size_t n = p.n;
  double rate = 0;
  for (std::size_t k = 0; k + 1 < n; ++k) {
    const double send = p.server_up_bps + v.top[k + 1];
    const double receive = static_cast<double>(n - 1 - k) * v.d_max;
    rate = std::max(rate, std::min(send, receive));
    t += sigma / rate;
  }
  return t;
}

// Term 3: the least T with ∫₀ᵀ min(u_s + Σ_{k: τ_k ≤ t} u_(k), D) dt ≥ N·F, where
// τ_k = Σ_{j=0}^{k−1} σ / r_j, r_j = max_{a ≤ j} min(u_s + U_(a), (N−a)·d_max) (so τ_k
// increases with k), and D = Σ d_i.
double ramp_seconds(const swarm_params& p, const swarm_view& v, double sigma) {
  const std::size_t n = p.n;
  const double need = static_cast<double>(n) * p.file_bits;
  double receive = 0;
  for (double d : p.peer_down_bps) receive += d;
  // On [τ_m, τ_{m+1}) the first m peers upload (τ_0 = 0, τ_{N+1} = ∞).
  double start = 0, delivered = 0, first_pieces = 0;
  for (std::size_t m = 0;; ++m) {
    const double rate = std::min(p.server_up_bps + v.top[m], receive);
    if (m < n) first_pieces = std::max(first_pieces, std::min(p.server_up_bps + v.top[m], static_cast<double>(n - m) * v.d_max));
    const double end = m < n ? start + sigma / first_pieces : std::numeric_limits<double>::infinity();
    if (delivered + rate * (end - start) >= need) return start + (need - delivered) / rate;
    delivered += rate * (end - start);
    start = end;
  }
}

std::optional<double> round_schedule(const swarm_params& p, double piece_bits, std::uint64_t pieces) {
  const double u = p.server_up_bps;
  const bool equal_up = std::all_of(p.peer_up_bps.begin(), p.peer_up_bps.end(),
                                    [&](double x) { return std::abs(x - u) <= 1e-12 * u; });
  const bool equal_pieces = std::abs(static_cast<double>(pieces) * piece_bits - p.file_bits) <= 1e-9 * p.file_bits;
  if (!equal_up || !equal_pieces || p.d_min_bps() < u) return std::nullopt;
  return static_cast<double>(pieces + floor_log2(p.n)) * piece_bits / u;
}

}  // namespace

piece_bound_result piece_bound(const swarm_params& p, double piece_bits, distribution_mode mode) {
  if (!(piece_bits > 0) || !std::isfinite(piece_bits))
    throw std::invalid_argument("the piece size must be above zero and finite");
  piece_bound_result r;
  const double whole = std::ceil(p.file_bits / piece_bits - 1e-9);
  r.pieces = static_cast<std::uint64_t>(std::max(whole, 1.0));
  // σ: the smallest piece, the last one when F is not a multiple of the piece size.
  const double sigma = std::min(piece_bits, p.file_bits - static_cast<double>(r.pieces - 1) * piece_bits);
  if (mode == distribution_mode::client_server) {
    r.fluid_seconds = r.seconds = client_server_bound(p).seconds;
    return r;
  }
  r.fluid_seconds = p2p_bound(p).seconds;
  const auto v = view_of(p);
  r.spread_seconds = spread_seconds(p, v, sigma);
  r.ramp_seconds = ramp_seconds(p, v, sigma);
  r.seconds = r.fluid_seconds;
  if (r.spread_seconds > r.seconds) {
    r.seconds = r.spread_seconds;
    r.binding = piece_binding::spread;
  }
  if (r.ramp_seconds > r.seconds) {
    r.seconds = r.ramp_seconds;
    r.binding = piece_binding::ramp;
  }
  r.round_schedule_seconds = round_schedule(p, piece_bits, r.pieces);
  return r;
}

}  // namespace p2pdist::model
