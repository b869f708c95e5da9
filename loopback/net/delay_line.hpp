#pragma once
// delay_line: the propagation delay of one direction of an emulated path. The network layer
// puts every byte it reads from a connection's socket in here with the moment it is due
// (read time + the path's one-way delay, plus jitter), and hands bytes to the wire decoder
// only once due: a request's answer then costs a whole round trip, and a sender needs
// rate × round trip of requests in flight to keep a link busy, as on a real path.
//
// Bytes leave in the order they came (a later chunk is never due before an earlier one:
// a due time below the last one is raised to it), so jitter reorders nothing. The line holds
// at most `capacity` bytes: the reader stops reading while it is full, and the kernel's own
// flow control then holds the sender back — a peer that stops reading costs this side no
// more than `capacity`. It is the path's window: a connection moves at most capacity per
// one-way delay. Pure: time is passed in.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

class delay_line {
 public:
  /// Default capacity: 4 MiB, the order of Linux's autotuned receive window (6 MiB at most):
  /// at a 100 ms one-way delay a connection can still move 40 MiB/s.
  static constexpr std::size_t default_capacity = 4u << 20;

  explicit delay_line(std::size_t capacity = default_capacity);

  /// Bytes held.
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size() - head_; }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Bytes that fit now.
  [[nodiscard]] std::size_t room() const noexcept { return capacity_ - size(); }

  /// Holds `data` until `due` (raised to the last chunk's due time when earlier). Returns
  /// the due time used. Precondition: data.size() <= room().
  time_point push(time_point due, std::span<const std::byte> data);
  /// When the first held byte is due; nullopt when empty.
  [[nodiscard]] std::optional<time_point> next_due() const;
  /// The held bytes due at `now`, oldest first (valid until the next push or pop).
  [[nodiscard]] std::span<const std::byte> due_at(time_point now) const;
  /// Drops the first `n` held bytes (those handed on). Precondition: n <= size().
  void pop(std::size_t n);

 private:
  struct mark {
    time_point due;
    std::size_t end;  ///< offset in bytes_ one past the chunk's last byte
  };
  std::size_t capacity_;
  std::vector<std::byte> bytes_;  ///< [head_, end) held; compacted when the head passes half
  std::size_t head_ = 0;
  std::deque<mark> marks_;  ///< chunks not yet fully popped, oldest first
};

/// splitmix64: the next of a sequence of well-mixed 64-bit values from `state`.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// A uniform fraction in [0, 1) from 64 random bits.
inline double unit_fraction(std::uint64_t bits) noexcept { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

/// The one-way delay of an emulated path between two addresses: half a round trip drawn
/// uniformly in [rtt_min, rtt_max] from `seed` and the pair, whichever end asks (both ends
/// of an in-process connection then delay by the same amount).
duration pair_one_way_delay(std::uint64_t seed, const ip_address& a, const ip_address& b, duration rtt_min,
                            duration rtt_max);

}  // namespace p2pdist::bt
