#include "model/chunked.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace p2pdist::model {

std::uint64_t floor_log2(std::uint64_t n) {
  if (n == 0) throw std::invalid_argument("floor_log2(0)");
  return static_cast<std::uint64_t>(std::bit_width(n)) - 1;
}

chunked_result chunked_bound(const swarm_params& p, std::uint64_t chunks) {
  if (chunks == 0) throw std::invalid_argument("the chunk count must be at least 1");
  chunked_result r;
  r.fluid_seconds = p2p_bound(p).seconds;
  const double u = p.server_up_bps;
  const bool equal = std::all_of(p.peer_up_bps.begin(), p.peer_up_bps.end(),
                                 [u](double ui) { return ui == u; });
  if (!equal) {
    r.closed_form = false;
    r.seconds = r.fluid_seconds;
    r.note = "upload rates differ: no closed form is known (the problem is NP-hard); "
             "the fluid bound is reported";
    return r;
  }
  r.closed_form = true;
  r.rounds = chunks + floor_log2(p.n);
  const double round_seconds = p.file_bits / (static_cast<double>(chunks) * u);
  r.seconds = static_cast<double>(*r.rounds) * round_seconds;
  return r;
}

}  // namespace p2pdist::model
