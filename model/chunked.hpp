#pragma once
// The chunked (discrete) bound. The file is cut into M equal chunks; one server and N
// clients all upload at the same rate u; a chunk can be forwarded only once it has been
// received whole (store and forward); downloads are not limited. The optimum then takes
//   M + ⌊log₂ N⌋ rounds of F/(M·u) each = F/u · (1 + ⌊log₂ N⌋/M)
// (Bar-Noy & Kipnis 1994; Mundinger, Weber & Weiss 2008). With unequal upload rates the
// problem is NP-hard and has no closed form: we report the fluid P2P bound and say so.

#include <cstdint>
#include <optional>
#include <string>

#include "model/bounds.hpp"

namespace p2pdist::model {

/// The chunked bound for a swarm and a chunk count.
struct chunked_result {
  bool closed_form = false;             ///< true when every upload rate equals u_s
  std::optional<std::uint64_t> rounds;  ///< M + ⌊log₂ N⌋ when closed_form
  double seconds = 0;                   ///< the chunked bound, or the fluid bound if !closed_form
  double fluid_seconds = 0;             ///< the fluid P2P bound for the same swarm
  std::string note;                     ///< why there is no closed form, when there is none
};

/// ⌊log₂ n⌋ for n ≥ 1.
std::uint64_t floor_log2(std::uint64_t n);

/// The chunked bound for a validated swarm and `chunks` ≥ 1 equal chunks. Download rates
/// are ignored in the closed form (it assumes them unlimited); the fluid bound uses them.
chunked_result chunked_bound(const swarm_params& p, std::uint64_t chunks);

}  // namespace p2pdist::model
