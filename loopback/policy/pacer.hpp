#pragma once
// pacer: one direction of one peer's access link — a token bucket (rate_limiter: max-min
// fair among the connections with bytes waiting, strict priorities for piece-first
// uploads) refilled lazily: instead of a refill every few milliseconds, a driver refills it
// at the moment the next whole item (a piece message) can leave (next_due), and whenever the
// demand changes. The tokens earned over a stretch are the same as with periodic refills;
// what moves is only when they are handed out, so items leave at the instant a continuous
// bucket would let them, and nobody is woken for a grant too small to use. Pure: time is
// passed in. Both drivers use it: the network layer with steady_clock readings, the
// simulator with simulated time.
//
// A link that idles loses that time, as a real one does: tokens earned while no consumer
// asks for bytes are dropped (a bucket depth of zero), not saved for a burst later, so a
// paced upload never moves more than rate × time since its first demand. (With 20 ms saved,
// a seed that waited a moment for requests caught up at once, and a 2-leecher swarm
// finished 0.4 % under the piece bound.)
//
// Per consumer (a connection) it keeps the bytes granted and not yet spent. Demand: the
// consumer asks for what it has queued beyond what is granted or pending (sync).

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>

#include "loopback/policy/rate_limiter.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

/// A paced direction of one peer. Not thread-safe.
class pacer {
 public:
  /// `rate_bytes_per_s` 0 means unlimited (every demand granted at once).
  explicit pacer(std::uint64_t rate_bytes_per_s, time_point start);

  [[nodiscard]] bool unlimited() const noexcept { return limiter_.unlimited(); }
  /// Credits the time up to `now` and hands the earned tokens out (call before any change).
  /// Returns this refill's grants (valid until the next call on this pacer).
  std::span<const grant> refill_to(time_point now);
  /// The consumer has `queued_bytes` waiting in all: asks for what is neither granted nor
  /// pending, or withdraws pending demand beyond it. Returns the bytes granted by this call
  /// at once. It does not refill: call refill_to(now) first and act on its grants (wake
  /// whom they let send), so that the tokens earned until now go to the demand that waited
  /// for them and every consumer granted some hears of it. (It once refilled here itself,
  /// and the grants that refill made to other consumers reached no driver: their readers
  /// slept until a handshake timed out.) The very first demand since the start credits no
  /// time before it.
  std::uint64_t sync(consumer_id c, std::uint64_t queued_bytes, time_point now);
  /// rate_limiter::set_priority.
  void set_priority(consumer_id c, std::uint64_t priority);
  /// Bytes granted to the consumer and not yet spent.
  [[nodiscard]] std::uint64_t granted(consumer_id c) const;
  /// The consumer sent `bytes` of its grant. Precondition: bytes <= granted(c).
  void spend(consumer_id c, std::uint64_t bytes);
  /// Forgets the consumer and its demand.
  void remove(consumer_id c);
  /// Calls f(consumer, bytes) for each consumer holding a grant not yet spent (bytes > 0):
  /// only those are kept, so the cost follows the grants, not the consumers.
  template <class F>
  void for_each_granted(F&& f) const {
    for (const auto& [c, bytes] : granted_) f(c, bytes);
  }
  /// When refill_to should next run so that some consumer of the first priority group can
  /// send its next item, given each consumer's next item size (`need(c)`: bytes the next item
  /// needs in all, 0 when it has none). nullopt: nobody waits for tokens.
  template <class Need>
  [[nodiscard]] std::optional<time_point> next_due(Need&& need) const;

 private:
  [[nodiscard]] std::optional<time_point> due_for(std::uint64_t missing_bytes, std::size_t sharers) const;

  rate_limiter limiter_;
  time_point last_refill_;
  bool asked_ = false;  ///< some consumer has asked for bytes since the start
  std::unordered_map<consumer_id, std::uint64_t> granted_;  ///< only bytes > 0
};

template <class Need>
std::optional<time_point> pacer::next_due(Need&& need) const {
  if (limiter_.unlimited() || !limiter_.any_pending()) return std::nullopt;
  // The first group: the smallest priority among consumers with pending demand. Its members
  // share the tokens equally while each still wants some (max-min); the shares change when
  // one of them has its whole pending demand, and tokens go to the next group only once the
  // first has all it asked for.
  std::optional<std::uint64_t> top;
  limiter_.for_each_pending([&](consumer_id, std::uint64_t p, std::uint64_t) {
    if (!top || p < *top) top = p;
  });
  std::size_t sharers = 0;
  bool needy = false, others_wait = false;
  std::uint64_t least = 0;
  limiter_.for_each_pending([&](consumer_id c, std::uint64_t p, std::uint64_t pending) {
    if (p != *top) {
      others_wait = true;
      return;
    }
    ++sharers;
    const std::uint64_t want = need(c), have = granted(c);
    // A consumer that can send an item once it has (want - have) more; one that cannot (it
    // has its item's bytes, or nothing to send now) changes the shares when its pending ends.
    const std::uint64_t until = want > have ? std::min(want - have, pending) : pending;
    needy = needy || want > have;
    if (least == 0 || until < least) least = until;
  });
  // Nobody in the first group waits for tokens and nobody else asks: no need to wake; the
  // tokens earned meanwhile are handed out at the next refill all the same.
  if (!needy && !others_wait) return std::nullopt;
  return due_for(least, sharers);
}

}  // namespace p2pdist::bt
