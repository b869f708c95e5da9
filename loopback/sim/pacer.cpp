#include "loopback/sim/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace p2pdist::sim {

pacer::pacer(std::uint64_t rate_bytes_per_s, bt::time_point start)
    : limiter_(bt::rate_limiter_config{.rate_bytes_per_s = rate_bytes_per_s}), last_refill_(start) {}

void pacer::refill_to(bt::time_point now) {
  if (now <= last_refill_) return;
  const auto elapsed = now - last_refill_;
  last_refill_ = now;
  if (limiter_.unlimited()) return;
  for (const auto& g : limiter_.refill(elapsed)) granted_[g.consumer] += g.bytes;
}

void pacer::sync(bt::consumer_id c, std::uint64_t queued_bytes, bt::time_point now) {
  refill_to(now);
  priorities_.try_emplace(c, 0);
  auto& granted = granted_[c];
  std::uint64_t pending = limiter_.pending_bytes(c);
  if (pending > 0 && granted + pending > queued_bytes) {
    (void)limiter_.cancel(c);
    pending = 0;
  }
  if (queued_bytes > granted + pending) granted += limiter_.request(c, queued_bytes - granted - pending);
}

void pacer::set_priority(bt::consumer_id c, std::uint64_t priority) {
  priorities_[c] = priority;
  limiter_.set_priority(c, priority);
}

std::uint64_t pacer::granted(bt::consumer_id c) const {
  const auto it = granted_.find(c);
  return it == granted_.end() ? 0 : it->second;
}

void pacer::spend(bt::consumer_id c, std::uint64_t bytes) {
  auto& g = granted_[c];
  g -= std::min(g, bytes);
}

void pacer::remove(bt::consumer_id c) {
  limiter_.remove_consumer(c);
  granted_.erase(c);
  priorities_.erase(c);
}

std::optional<bt::time_point> pacer::due_for(std::uint64_t missing_bytes, std::size_t sharers) const {
  // missing × sharers / rate, in ns, rounded up, and at least 1 ns: time must move.
  const double ns = std::ceil(static_cast<double>(missing_bytes) * static_cast<double>(std::max<std::size_t>(sharers, 1)) *
                              1e9 / static_cast<double>(limiter_.rate_bytes_per_s()));
  return last_refill_ + bt::duration(std::max<std::int64_t>(static_cast<std::int64_t>(ns), 1));
}

}  // namespace p2pdist::sim
