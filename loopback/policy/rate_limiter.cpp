#include "loopback/policy/rate_limiter.hpp"

#include <algorithm>
#include <cassert>
#include <limits>

namespace p2pdist::bt {

namespace {

constexpr std::uint64_t ns_per_s = 1'000'000'000;
constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > u64_max - b ? u64_max : a + b;
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
  if (a != 0 && b > u64_max / a) return u64_max;
  return a * b;
}

std::uint64_t clamp_rate(std::uint64_t rate_bytes_per_s) noexcept {
  return std::min(rate_bytes_per_s, max_rate_bytes_per_s);
}

}  // namespace

std::uint64_t default_burst_bytes(std::uint64_t rate_bytes_per_s) noexcept {
  const auto rate = clamp_rate(rate_bytes_per_s);
  const auto burst_ns = static_cast<std::uint64_t>(default_burst_time.count());
  // rate ≤ 1e10 and burst_ns = 2e7, so the product fits easily.
  const auto by_rate = (rate * burst_ns + ns_per_s - 1) / ns_per_s;
  return std::max(block_message_bytes, by_rate);
}

rate_limiter::rate_limiter(rate_limiter_config cfg)
    : rate_bytes_per_s_(clamp_rate(cfg.rate_bytes_per_s)), burst_override_bytes_(cfg.burst_bytes) {}

void rate_limiter::set_rate(std::uint64_t rate_bytes_per_s) noexcept {
  rate_bytes_per_s_ = clamp_rate(rate_bytes_per_s);
  level_bytes_ = std::min(level_bytes_, burst_bytes());
}

std::uint64_t rate_limiter::burst_bytes() const noexcept {
  return burst_override_bytes_ ? *burst_override_bytes_ : default_burst_bytes(rate_bytes_per_s_);
}

rate_limiter::entry& rate_limiter::entry_for(consumer_id c) {
  const auto key = static_cast<std::uint32_t>(c);
  if (auto it = index_.find(key); it != index_.end()) return entries_[it->second];
  index_.emplace(key, entries_.size());
  entries_.push_back(entry{.id = c, .pending_bytes = 0});
  return entries_.back();
}

void rate_limiter::add_consumer(consumer_id c) { (void)entry_for(c); }

void rate_limiter::remove_consumer(consumer_id c) noexcept {
  const auto it = index_.find(static_cast<std::uint32_t>(c));
  if (it == index_.end()) return;
  const auto pos = it->second;
  if (entries_[pos].pending_bytes > 0) --queued_consumers_;
  index_.erase(it);
  if (pos + 1 != entries_.size()) {
    entries_[pos] = entries_.back();
    index_[static_cast<std::uint32_t>(entries_[pos].id)] = pos;
  }
  entries_.pop_back();
  if (cursor_ >= entries_.size()) cursor_ = 0;
}

bool rate_limiter::try_acquire(consumer_id c, std::uint64_t bytes) {
  (void)entry_for(c);
  if (unlimited()) {
    granted_total_bytes_ = saturating_add(granted_total_bytes_, bytes);
    return true;
  }
  if (queued_consumers_ > 0 || level_bytes_ < bytes) return false;
  level_bytes_ -= bytes;
  granted_total_bytes_ += bytes;
  return true;
}

std::uint64_t rate_limiter::request(consumer_id c, std::uint64_t bytes) {
  auto& e = entry_for(c);
  if (unlimited()) {
    granted_total_bytes_ = saturating_add(granted_total_bytes_, bytes);
    return bytes;
  }
  std::uint64_t now_bytes = 0;
  if (queued_consumers_ == 0) {
    now_bytes = std::min(level_bytes_, bytes);
    level_bytes_ -= now_bytes;
    granted_total_bytes_ += now_bytes;
  }
  const auto rest = bytes - now_bytes;
  if (rest > 0) {
    if (e.pending_bytes == 0) ++queued_consumers_;
    e.pending_bytes = saturating_add(e.pending_bytes, rest);
  }
  return now_bytes;
}

std::uint64_t rate_limiter::cancel(consumer_id c) noexcept {
  const auto it = index_.find(static_cast<std::uint32_t>(c));
  if (it == index_.end()) return 0;
  auto& e = entries_[it->second];
  const auto dropped = e.pending_bytes;
  if (dropped > 0) --queued_consumers_;
  e.pending_bytes = 0;
  return dropped;
}

std::uint64_t rate_limiter::pending_bytes(consumer_id c) const noexcept {
  const auto it = index_.find(static_cast<std::uint32_t>(c));
  return it == index_.end() ? 0 : entries_[it->second].pending_bytes;
}

std::uint64_t rate_limiter::total_pending_bytes() const noexcept {
  std::uint64_t total = 0;
  for (const auto& e : entries_) total = saturating_add(total, e.pending_bytes);
  return total;
}

void rate_limiter::accrue(duration elapsed) noexcept {
  if (elapsed <= duration::zero() || unlimited()) return;
  const auto ns = static_cast<std::uint64_t>(elapsed.count());
  const auto whole_s = ns / ns_per_s;
  const auto frac_ns = ns % ns_per_s;
  // rate ≤ 1e10 and frac_ns < 1e9, so rate·frac_ns + carry < 1.0e19 < 2^64.
  const auto byte_ns = rate_bytes_per_s_ * frac_ns + carry_byte_ns_;
  carry_byte_ns_ = byte_ns % ns_per_s;
  const auto earned = saturating_add(byte_ns / ns_per_s, saturating_mul(rate_bytes_per_s_, whole_s));
  level_bytes_ = saturating_add(level_bytes_, earned);
}

void rate_limiter::set_priority(consumer_id c, std::uint64_t priority) { entry_for(c).priority = priority; }

// Max-min fair (water filling) split of `tokens` over `group` (indices into entries_):
// the smallest demands are served in full while they fit under an equal share of what is
// left, the rest is split equally, the extra bytes of an uneven split round robin from the
// cursor. Writes amounts_; returns the tokens left over (nonzero only when all are served).
std::uint64_t rate_limiter::share_fairly(std::span<std::size_t> group, std::uint64_t tokens) {
  std::uint64_t demand = 0;
  for (auto i : group) demand = saturating_add(demand, entries_[i].pending_bytes);
  if (unlimited() || demand <= tokens) {
    for (auto i : group) amounts_[i] = entries_[i].pending_bytes;
    return unlimited() ? tokens : tokens - demand;
  }
  std::sort(group.begin(), group.end(),
            [&](std::size_t a, std::size_t b) { return entries_[a].pending_bytes < entries_[b].pending_bytes; });
  auto remaining = tokens;
  std::size_t first_capped = 0;
  for (; first_capped < group.size(); ++first_capped) {
    const auto i = group[first_capped];
    const auto share = remaining / (group.size() - first_capped);
    if (entries_[i].pending_bytes > share) break;
    amounts_[i] = entries_[i].pending_bytes;
    remaining -= amounts_[i];
  }
  const auto capped = group.subspan(first_capped);
  // Every capped consumer wants more than remaining / capped.size(), so base + 1 fits.
  const auto base = remaining / capped.size();
  auto extra = remaining % capped.size();
  for (auto i : capped) amounts_[i] = base;
  if (extra > 0) {
    const auto n = entries_.size();
    // The extra bytes go round robin from the cursor, so nobody keeps the short end.
    std::sort(capped.begin(), capped.end(),
              [&](std::size_t a, std::size_t b) { return (a + n - cursor_) % n < (b + n - cursor_) % n; });
    std::size_t last = cursor_;
    for (auto i : capped) {
      if (extra == 0) break;
      ++amounts_[i];
      --extra;
      last = i;
    }
    cursor_ = (last + 1) % n;
  }
  return 0;
}

void rate_limiter::distribute() {
  if (queued_consumers_ == 0) return;
  const auto n = entries_.size();
  amounts_.assign(n, 0);
  scratch_.clear();
  for (std::size_t i = 0; i < n; ++i)
    if (entries_[i].pending_bytes > 0) scratch_.push_back(i);
  assert(scratch_.size() == queued_consumers_);
  // Groups of equal priority, smallest first; each shares what the ones before it left.
  std::stable_sort(scratch_.begin(), scratch_.end(),
                   [&](std::size_t a, std::size_t b) { return entries_[a].priority < entries_[b].priority; });
  auto tokens = level_bytes_;
  for (std::size_t begin = 0; begin < scratch_.size() && (tokens > 0 || unlimited());) {
    std::size_t end = begin + 1;
    while (end < scratch_.size() && entries_[scratch_[end]].priority == entries_[scratch_[begin]].priority) ++end;
    tokens = share_fairly(std::span<std::size_t>(scratch_).subspan(begin, end - begin), tokens);
    begin = end;
  }
  if (!unlimited()) level_bytes_ = tokens;

  for (std::size_t i = 0; i < n; ++i) {
    if (amounts_[i] == 0) continue;
    auto& e = entries_[i];
    e.pending_bytes -= amounts_[i];
    if (e.pending_bytes == 0) --queued_consumers_;
    granted_total_bytes_ = saturating_add(granted_total_bytes_, amounts_[i]);
    grants_.push_back(grant{.consumer = e.id, .bytes = amounts_[i], .pending_bytes = e.pending_bytes});
  }
}

std::span<const grant> rate_limiter::refill(duration elapsed) {
  grants_.clear();
  accrue(elapsed);
  distribute();
  level_bytes_ = std::min(level_bytes_, burst_bytes());
  return grants_;
}

}  // namespace p2pdist::bt
