#pragma once
// The model tests' swarms: small round numbers in bits and bits/s, written out per test.

#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

#include "model/bounds.hpp"

namespace p2pdist::model::test {

inline constexpr double inf = std::numeric_limits<double>::infinity();

/// A validated swarm of up.size() peers with these uploads and downloads.
inline swarm_params swarm(double file_bits, double us, std::vector<double> up, std::vector<double> down) {
  swarm_params p{.n = up.size(), .file_bits = file_bits, .server_up_bps = us, .peer_up_bps = std::move(up),
                 .peer_down_bps = std::move(down)};
  validate(p);
  return p;
}

}  // namespace p2pdist::model::test
