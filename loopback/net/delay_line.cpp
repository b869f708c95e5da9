#include "loopback/net/delay_line.hpp"

#include <algorithm>
#include <cassert>

namespace p2pdist::bt {

delay_line::delay_line(std::size_t capacity) : capacity_(capacity) {}

time_point delay_line::push(time_point due, std::span<const std::byte> data) {
  assert(data.size() <= room());
  if (!marks_.empty()) due = std::max(due, marks_.back().due);
  if (data.empty()) return due;
  if (head_ > 0 && head_ >= bytes_.size() / 2) {
    // Compact: move the held bytes to the front (amortized: each byte moves at most once
    // per time the head passes half the buffer).
    bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
    for (auto& m : marks_) m.end -= head_;
    head_ = 0;
  }
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  marks_.push_back({due, bytes_.size()});
  return due;
}

std::optional<time_point> delay_line::next_due() const {
  if (marks_.empty()) return std::nullopt;
  return marks_.front().due;
}

std::span<const std::byte> delay_line::due_at(time_point now) const {
  std::size_t end = head_;
  for (const auto& m : marks_) {
    if (m.due > now) break;
    end = m.end;
  }
  return std::span<const std::byte>(bytes_).subspan(head_, end - head_);
}

void delay_line::pop(std::size_t n) {
  assert(n <= size());
  head_ += n;
  while (!marks_.empty() && marks_.front().end <= head_) marks_.pop_front();
  if (head_ == bytes_.size()) {
    bytes_.clear();
    head_ = 0;
    marks_.clear();
  }
}

duration pair_one_way_delay(std::uint64_t seed, const ip_address& a, const ip_address& b, duration rtt_min,
                            duration rtt_max) {
  // An IPv4 address as its 32-bit number; an IPv6 one folded to 32 bits.
  const auto number = [](const ip_address& ip) -> std::uint64_t {
    if (ip.is_v4()) {
      const auto v4 = ip.to_v4();
      return std::uint64_t{v4[0]} << 24 | std::uint64_t{v4[1]} << 16 | std::uint64_t{v4[2]} << 8 | v4[3];
    }
    std::uint64_t h = 0;
    for (auto byte : ip.bytes()) h = h * 131 + byte;
    return h & 0xffffffffu;
  };
  const auto lo = std::min(number(a), number(b)), hi = std::max(number(a), number(b));
  std::uint64_t state = seed ^ (lo << 32 | hi);
  (void)splitmix64(state);  // one step first: nearby pairs start far apart
  const double u = unit_fraction(splitmix64(state));
  const auto rtt = rtt_min + std::chrono::duration_cast<duration>((rtt_max - rtt_min) * u);
  return rtt / 2;
}

}  // namespace p2pdist::bt
