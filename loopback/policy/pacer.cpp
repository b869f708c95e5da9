#include "loopback/policy/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace p2pdist::bt {

pacer::pacer(std::uint64_t rate_bytes_per_s, time_point start)
    : limiter_(rate_limiter_config{.rate_bytes_per_s = rate_bytes_per_s, .burst_bytes = 0}), last_refill_(start) {}

std::span<const grant> pacer::refill_to(time_point now) {
  if (now <= last_refill_) return {};
  const auto elapsed = now - last_refill_;
  last_refill_ = now;
  if (limiter_.unlimited()) return {};
  const auto grants = limiter_.refill(elapsed);
  for (const auto& g : grants)
    if (g.bytes > 0) granted_[g.consumer] += g.bytes;
  return grants;
}

std::uint64_t pacer::sync(consumer_id c, std::uint64_t queued_bytes, time_point now) {
  // A link that nobody has asked anything of since it started has saved nothing up: the
  // first demand starts its clock (a seed made long before its swarm starts may not send
  // its first bytes faster than its rate).
  if (!asked_ && queued_bytes > 0) {
    asked_ = true;
    last_refill_ = std::max(last_refill_, now);
  }
  const std::uint64_t granted = this->granted(c);
  std::uint64_t pending = limiter_.pending_bytes(c);
  if (pending > 0 && granted + pending > queued_bytes) {
    (void)limiter_.cancel(c);
    pending = 0;
  }
  std::uint64_t now_granted = 0;
  if (queued_bytes > granted + pending) now_granted = limiter_.request(c, queued_bytes - granted - pending);
  if (now_granted > 0) granted_[c] += now_granted;
  return now_granted;
}

void pacer::set_priority(consumer_id c, std::uint64_t priority) {
  limiter_.set_priority(c, priority);
}

std::uint64_t pacer::granted(consumer_id c) const {
  const auto it = granted_.find(c);
  return it == granted_.end() ? 0 : it->second;
}

void pacer::spend(consumer_id c, std::uint64_t bytes) {
  const auto it = granted_.find(c);
  if (it == granted_.end()) return;
  it->second -= std::min(it->second, bytes);
  if (it->second == 0) granted_.erase(it);  // only live grants are kept (for_each_granted)
}

void pacer::remove(consumer_id c) {
  limiter_.remove_consumer(c);
  granted_.erase(c);
}

std::optional<time_point> pacer::due_for(std::uint64_t missing_bytes, std::size_t sharers) const {
  // missing × sharers / rate, in ns, rounded up, and at least 1 ns: time must move.
  const double ns = std::ceil(static_cast<double>(missing_bytes) * static_cast<double>(std::max<std::size_t>(sharers, 1)) *
                              1e9 / static_cast<double>(limiter_.rate_bytes_per_s()));
  return last_refill_ + duration(std::max<std::int64_t>(static_cast<std::int64_t>(ns), 1));
}

}  // namespace p2pdist::bt
