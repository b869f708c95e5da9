#pragma once
// rate_limiter: one token bucket in bytes per second, shared fairly by several consumers
// (the connections of one client instance). Pure: time comes in as the elapsed duration
// handed to refill(); no clock, no thread.
//
// How it is used: a connection that wants to put n bytes on the wire (a piece message is
// block_message_bytes) calls request(); it gets part or all of them at once when nobody is
// queued and the bucket holds tokens, and the rest later from refill(), which the caller
// runs from a timer. refill() shares what the elapsed time earned among the consumers with
// pending demand, max-min fairly (equal shares, and a consumer that wants less than its
// share gets all it wants; the rest goes to the others).
//
// The accuracy contract, in bytes on the wire (the caller counts headers too):
// - the bucket starts empty, so the total granted never exceeds rate × (sum of elapsed):
//   fractional tokens carry over exactly (integer arithmetic in byte·ns), no drift;
// - while demand exceeds supply, every refill grants exactly what its elapsed time earned,
//   so between any two refills the bytes granted are rate × (time between them) within one
//   byte, whatever the refill steps (1 ms, 7 ms, jittery);
// - over any stretch between two refills, granted ≤ burst + rate × (its length) + 1 byte;
//   tokens that nobody wants are kept up to the burst and the excess is dropped.
// Seen from a wall clock rather than from refill instants, grants come in steps of one refill
// period, so a window of length W that is not aligned to refills sees an extra error of at
// most rate × (longest refill step): refill every 10 ms or less for 1 % over 1 s.

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "loopback/protocol/time.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// A consumer of one limiter, e.g. a connection: the caller's small strong id.
enum class consumer_id : std::uint32_t {};

/// Bytes on the wire of a piece message that carries one whole block: 4-byte length prefix,
/// 1-byte id, 4-byte index, 4-byte begin, 16 KiB of data.
inline constexpr std::uint64_t block_message_bytes = block_bytes + 13;

/// The largest rate the limiter takes, 10 GB/s; above it the byte·ns arithmetic could
/// overflow, so larger rates are clamped to it.
inline constexpr std::uint64_t max_rate_bytes_per_s = 10'000'000'000;

/// How long the default burst lets the bucket save up: one refill period of the network
/// layer's timer (5–20 ms), so that tokens earned while nobody was asking survive to the
/// next refill instead of being dropped.
inline constexpr duration default_burst_time = std::chrono::milliseconds(20);

/// The default bucket depth for a rate: the larger of one whole piece message
/// (block_message_bytes, so try_acquire() of a block can succeed at any rate) and
/// rate × default_burst_time rounded up. 0 (unlimited) gives block_message_bytes.
[[nodiscard]] std::uint64_t default_burst_bytes(std::uint64_t rate_bytes_per_s) noexcept;

/// Settings of a limiter.
struct rate_limiter_config {
  /// Bytes per second on the wire; 0 means unlimited. Clamped to max_rate_bytes_per_s.
  std::uint64_t rate_bytes_per_s = 0;
  /// Bucket depth in bytes; nullopt: default_burst_bytes(rate), following set_rate().
  /// A burst below block_message_bytes is allowed: blocks then go through request().
  std::optional<std::uint64_t> burst_bytes = std::nullopt;
};

/// Bytes granted to one consumer by one refill(), and what it still waits for after it.
struct grant {
  consumer_id consumer{};
  std::uint64_t bytes = 0;
  /// Pending demand of this consumer after the grant; 0 when its requests are all served.
  std::uint64_t pending_bytes = 0;
  friend bool operator==(const grant&, const grant&) = default;
};

/// A token bucket shared by consumers. Not thread-safe: call it from one thread (the
/// network layer's loop, or the simulator).
class rate_limiter {
 public:
  /// A limiter with an empty bucket and no consumers.
  explicit rate_limiter(rate_limiter_config cfg = {});

  /// Changes the rate from now on (0: unlimited). Earned tokens and fractional carry are
  /// kept; the bucket is cut to the new burst. After switching to unlimited, call
  /// refill(duration::zero()) to release what is queued.
  void set_rate(std::uint64_t rate_bytes_per_s) noexcept;
  /// Bytes per second; 0 means unlimited.
  [[nodiscard]] std::uint64_t rate_bytes_per_s() const noexcept { return rate_bytes_per_s_; }
  /// True when the rate is 0: every request is granted at once.
  [[nodiscard]] bool unlimited() const noexcept { return rate_bytes_per_s_ == 0; }
  /// The bucket depth in bytes.
  [[nodiscard]] std::uint64_t burst_bytes() const noexcept;

  /// Registers a consumer (idempotent). request() and try_acquire() also register.
  void add_consumer(consumer_id c);
  /// Forgets a consumer and drops its pending demand. Unknown ids are ignored.
  void remove_consumer(consumer_id c) noexcept;
  /// Number of registered consumers.
  [[nodiscard]] std::size_t consumers() const noexcept { return entries_.size(); }

  /// All-or-nothing immediate grant of `bytes`: true (and the tokens are taken) when the
  /// limiter is unlimited, or nobody is queued and the bucket holds at least `bytes`;
  /// otherwise false and nothing changes (not even a queued request).
  [[nodiscard]] bool try_acquire(consumer_id c, std::uint64_t bytes);
  /// Adds `bytes` to the consumer's demand. Grants at once as much as the bucket holds when
  /// nobody is queued (everything when unlimited) and returns that; the rest is queued and
  /// granted by later refill() calls.
  std::uint64_t request(consumer_id c, std::uint64_t bytes);
  /// Sets the consumer's priority (registering it): refill() serves pending demand in
  /// ascending priority, strictly — a consumer gets tokens only when every consumer of a
  /// smaller priority has been served in full — and max-min fairly among equal priorities.
  /// Every consumer starts at 0, so a limiter whose priorities are never set is plainly fair.
  void set_priority(consumer_id c, std::uint64_t priority);
  /// Drops the consumer's pending demand (e.g. its peer choked us); returns the bytes
  /// dropped. Grants already made stay made.
  std::uint64_t cancel(consumer_id c) noexcept;
  /// The consumer's demand not yet granted, in bytes; 0 for an unknown consumer.
  [[nodiscard]] std::uint64_t pending_bytes(consumer_id c) const noexcept;
  /// Pending demand of all consumers, in bytes (saturating).
  [[nodiscard]] std::uint64_t total_pending_bytes() const noexcept;
  /// Some consumer has pending demand. O(1).
  [[nodiscard]] bool any_pending() const noexcept { return queued_consumers_ > 0; }
  /// Calls f(consumer, priority, pending_bytes) for each consumer with pending demand, in
  /// registration order (one pass over the consumers, no lookups).
  template <class F>
  void for_each_pending(F&& f) const {
    if (queued_consumers_ == 0) return;
    for (const auto& e : entries_)
      if (e.pending_bytes > 0) f(e.id, e.priority, e.pending_bytes);
  }

  /// Earns rate × elapsed (negative counts as zero) and shares the tokens among the
  /// consumers with pending demand: by priority (set_priority), then max-min fairly; the extra byte of an uneven split goes
  /// round robin. Leftover tokens are kept up to the burst. Returns one grant per consumer
  /// served, in registration order; the span is valid until the next call on this limiter.
  std::span<const grant> refill(duration elapsed);

  /// Tokens in the bucket now, in bytes (0 whenever anybody is queued).
  [[nodiscard]] std::uint64_t available_bytes() const noexcept { return level_bytes_; }
  /// Total bytes granted since construction, by every path.
  [[nodiscard]] std::uint64_t granted_total_bytes() const noexcept { return granted_total_bytes_; }

 private:
  struct entry {
    consumer_id id{};
    std::uint64_t pending_bytes = 0;
    std::uint64_t priority = 0;
  };

  entry& entry_for(consumer_id c);
  void accrue(duration elapsed) noexcept;
  void distribute();
  std::uint64_t share_fairly(std::span<std::size_t> group, std::uint64_t tokens);

  std::uint64_t rate_bytes_per_s_ = 0;
  std::optional<std::uint64_t> burst_override_bytes_;
  std::uint64_t level_bytes_ = 0;
  std::uint64_t carry_byte_ns_ = 0;  // fractional token, in byte·ns (below 1e9)
  std::uint64_t granted_total_bytes_ = 0;
  std::size_t queued_consumers_ = 0;  // entries with pending_bytes > 0
  std::size_t cursor_ = 0;            // round robin start for the extra bytes of a split

  std::vector<entry> entries_;
  std::unordered_map<std::uint32_t, std::size_t> index_;  // id → position in entries_
  std::vector<grant> grants_;                             // refill()'s result
  std::vector<std::size_t> scratch_;                      // refill()'s working set
  std::vector<std::uint64_t> amounts_;                    // refill()'s share per entry
};

}  // namespace p2pdist::bt
