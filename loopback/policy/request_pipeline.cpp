#include "loopback/policy/request_pipeline.hpp"

#include <algorithm>
#include <cmath>

#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

void decayed_rate::add(time_point t, std::uint64_t bytes) {
  if (last_) {
    const double dt = std::chrono::duration<double>(t - *last_).count();
    const double tau = std::chrono::duration<double>(tau_).count();
    if (dt > 0 && tau > 0) decayed_bytes_ *= std::exp(-dt / tau);
  }
  decayed_bytes_ += static_cast<double>(bytes);
  last_ = t;
}

double decayed_rate::rate(time_point t) const {
  if (!last_) return 0;
  const double tau = std::chrono::duration<double>(tau_).count();
  if (!(tau > 0)) return 0;
  const double dt = std::max(0.0, std::chrono::duration<double>(t - *last_).count());
  return decayed_bytes_ * std::exp(-dt / tau) / tau;
}

std::uint32_t pipeline_depth_for(double rate_bytes_per_s, duration queue_time, std::uint32_t min_depth,
                                 std::uint32_t max_depth) noexcept {
  const double secs = std::chrono::duration<double>(queue_time).count();
  if (!(rate_bytes_per_s > 0) || !(secs > 0)) return min_depth;
  const double blocks = std::ceil(rate_bytes_per_s * secs / static_cast<double>(block_bytes));
  if (!(blocks < static_cast<double>(max_depth))) return max_depth;
  return std::max(min_depth, static_cast<std::uint32_t>(blocks));
}

}  // namespace p2pdist::bt
