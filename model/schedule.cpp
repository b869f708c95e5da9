#include "model/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace p2pdist::model {

std::string_view to_string(schedule_case c) noexcept {
  switch (c) {
    case schedule_case::client_server: return "client_server";
    case schedule_case::single_peer: return "single_peer";
    case schedule_case::proportional_share: return "proportional_share";
    case schedule_case::relay_plus_direct: return "relay_plus_direct";
  }
  return "?";
}

double schedule::server_send_bps() const {
  return std::accumulate(server_to_peer.begin(), server_to_peer.end(), 0.0);
}

double schedule::peer_send_bps(std::size_t j) const {
  return std::accumulate(relay[j].begin(), relay[j].end(), 0.0);
}

double schedule::peer_receive_bps(std::size_t i) const {
  double r = server_to_peer[i];
  for (std::size_t j = 0; j < relay.size(); ++j) r += relay[j][i];
  return r;
}

namespace {
schedule empty_schedule(schedule_case kind, std::size_t n) {
  return schedule{.kind = kind,
                  .seconds = 0,
                  .server_to_peer = std::vector<double>(n, 0.0),
                  .relay = std::vector<std::vector<double>>(n, std::vector<double>(n, 0.0))};
}
}  // namespace

schedule client_server_schedule(const swarm_params& p) {
  const double n = static_cast<double>(p.n);
  const double r = std::min(p.server_up_bps / n, p.d_min_bps());
  auto s = empty_schedule(schedule_case::client_server, p.n);
  std::fill(s.server_to_peer.begin(), s.server_to_peer.end(), r);
  s.seconds = p.file_bits / r;
  return s;
}

schedule p2p_schedule(const swarm_params& p) {
  const std::size_t n = p.n;
  const double nd = static_cast<double>(n);
  const double us = p.server_up_bps;
  const double u_total = p.sum_peer_up_bps();

  schedule s;
  double fluid_rate = 0;  // what each peer receives before the d_min scaling
  if (n == 1) {
    s = empty_schedule(schedule_case::single_peer, n);
    s.server_to_peer[0] = us;
    fluid_rate = us;
  } else if ((nd - 1.0) * us <= u_total) {
    s = empty_schedule(schedule_case::proportional_share, n);
    for (std::size_t i = 0; i < n; ++i) {
      const double share = us * p.peer_up_bps[i] / u_total;
      s.server_to_peer[i] = share;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) s.relay[i][j] = share;
    }
    fluid_rate = us;
  } else {
    s = empty_schedule(schedule_case::relay_plus_direct, n);
    const double direct = (us - u_total / (nd - 1.0)) / nd;
    for (std::size_t i = 0; i < n; ++i) {
      const double relayed = p.peer_up_bps[i] / (nd - 1.0);
      s.server_to_peer[i] = relayed + direct;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) s.relay[i][j] = relayed;
    }
    fluid_rate = (us + u_total) / nd;
  }

  // A slow download caps every peer's receive rate at d_min: scale all rates alike.
  const double target = std::min(fluid_rate, p.d_min_bps());
  const double factor = target / fluid_rate;
  if (factor < 1.0) {
    for (auto& r : s.server_to_peer) r *= factor;
    for (auto& row : s.relay)
      for (auto& r : row) r *= factor;
  }
  s.seconds = p.file_bits / target;
  return s;
}

}  // namespace p2pdist::model
