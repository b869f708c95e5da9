#include "model/bounds.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace p2pdist::model {

std::string_view to_string(binding_term term) noexcept {
  switch (term) {
    case binding_term::server_upload: return "server_upload";
    case binding_term::slowest_download: return "slowest_download";
    case binding_term::aggregate_upload: return "aggregate_upload";
  }
  return "?";
}

swarm_params swarm_params::homogeneous(std::size_t n, double file_bits, double server_up_bps,
                                       double up_bps, double down_bps) {
  return swarm_params{.n = n,
                      .file_bits = file_bits,
                      .server_up_bps = server_up_bps,
                      .peer_up_bps = std::vector<double>(n, up_bps),
                      .peer_down_bps = std::vector<double>(n, down_bps)};
}

double swarm_params::d_min_bps() const {
  if (peer_down_bps.empty()) return std::numeric_limits<double>::infinity();
  return *std::min_element(peer_down_bps.begin(), peer_down_bps.end());
}

double swarm_params::sum_peer_up_bps() const {
  return std::accumulate(peer_up_bps.begin(), peer_up_bps.end(), 0.0);
}

void validate(const swarm_params& p) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (p.n < 1) fail("N must be at least 1");
  if (!(p.file_bits > 0) || !std::isfinite(p.file_bits)) fail("the file size must be positive");
  if (!(p.server_up_bps > 0) || !std::isfinite(p.server_up_bps))
    fail("the server's upload rate must be positive and finite");
  if (p.peer_up_bps.size() != p.n)
    fail("the peers' upload list has " + std::to_string(p.peer_up_bps.size()) + " values, N is " +
         std::to_string(p.n));
  if (p.peer_down_bps.size() != p.n)
    fail("the peers' download list has " + std::to_string(p.peer_down_bps.size()) +
         " values, N is " + std::to_string(p.n));
  for (std::size_t i = 0; i < p.n; ++i) {
    if (!(p.peer_up_bps[i] >= 0) || !std::isfinite(p.peer_up_bps[i]))
      fail("peer " + std::to_string(i + 1) + "'s upload rate must be zero or positive and finite");
    if (!(p.peer_down_bps[i] > 0))
      fail("peer " + std::to_string(i + 1) + "'s download rate must be positive");
  }
}

namespace {
// The largest term; ties go to the earliest (enum order).
bound pick(double server_upload, double slowest_download, double aggregate_upload) {
  bound b{.seconds = server_upload,
          .binding = binding_term::server_upload,
          .server_upload_seconds = server_upload,
          .slowest_download_seconds = slowest_download,
          .aggregate_upload_seconds = aggregate_upload};
  if (slowest_download > b.seconds) {
    b.seconds = slowest_download;
    b.binding = binding_term::slowest_download;
  }
  if (aggregate_upload > b.seconds) {
    b.seconds = aggregate_upload;
    b.binding = binding_term::aggregate_upload;
  }
  return b;
}
}  // namespace

bound client_server_bound(const swarm_params& p) {
  const double n = static_cast<double>(p.n);
  return pick(n * p.file_bits / p.server_up_bps, p.file_bits / p.d_min_bps(), 0.0);
}

bound p2p_bound(const swarm_params& p) {
  const double n = static_cast<double>(p.n);
  return pick(p.file_bits / p.server_up_bps, p.file_bits / p.d_min_bps(),
              n * p.file_bits / (p.server_up_bps + p.sum_peer_up_bps()));
}

}  // namespace p2pdist::model
