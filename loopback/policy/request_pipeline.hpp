#pragma once
// request_pipeline: how many block requests to keep in flight at a peer, from an estimate
// of the rate at which it sends to us. Pure: times come from the caller.

#include <chrono>
#include <cstdint>
#include <optional>

#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

/// A download rate estimate from one peer: bytes received, decayed exponentially with time
/// constant `tau`, so that rate() = decayed bytes / tau follows a steady rate exactly and
/// forgets an old one within a few tau. Pure: times come from the caller.
class decayed_rate {
 public:
  explicit decayed_rate(duration tau = std::chrono::milliseconds(100)) : tau_(tau) {}
  /// `bytes` arrived at `t` (t never earlier than a previous call's).
  void add(time_point t, std::uint64_t bytes);
  /// The rate at `t`, bytes per second (0 before the first add).
  [[nodiscard]] double rate(time_point t) const;

 private:
  duration tau_;
  double decayed_bytes_ = 0;
  std::optional<time_point> last_{};
};

/// Requests to keep in flight at a peer that sends `rate_bytes_per_s`: enough blocks for
/// `queue_time` of its sending, at least `min_depth` and at most `max_depth`
/// (min_depth ≥ 1, max_depth ≥ min_depth are assumed; a NaN or negative rate counts as 0).
/// A short queue at a rate-limited peer keeps our requests where the data is coming soon:
/// blocks are not committed to a peer that will take seconds to send them while another
/// holder idles.
[[nodiscard]] std::uint32_t pipeline_depth_for(double rate_bytes_per_s, duration queue_time,
                                               std::uint32_t min_depth, std::uint32_t max_depth) noexcept;

}  // namespace p2pdist::bt
