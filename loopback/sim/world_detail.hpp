#pragma once
// The insides of a simulated world (world.hpp): its peers, its connections (links) and the
// items in their pipes. Shared by world.cpp and world_links.cpp only.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "loopback/core/session.hpp"
#include "loopback/policy/pacer.hpp"
#include "loopback/sim/world.hpp"
#include "loopback/storage/piece_store.hpp"

namespace p2pdist::sim::detail {

/// One thing in a pipe: a message (the handshake or a control message), a block (a piece
/// message), or the end of the stream (the sender closed).
struct item {
  enum class kind : std::uint8_t { message, block, fin } what = kind::message;
  bt::wire_event message{};
  bt::block_request block{};
  bool corrupt = false;          ///< a block from a liar
  std::vector<std::byte> data{};  ///< a block's bytes (bytes mode)
  std::uint64_t wire_bytes = 0;
  bt::time_point arrives{};
};

/// One direction of a connection, from one side to the other.
struct pipe {
  /// Everything sent and not yet handed to the receiver, in order, from items[head]: the
  /// first `arrived` of them have arrived (the inbox: waiting for the receiver's download
  /// tokens), the rest are in transit. A vector read from a moving head, not a deque: a
  /// deque allocates half a KiB even empty, and a swarm has hundreds of thousands of pipes,
  /// most of them empty at any moment; an empty pipe here holds no memory.
  std::vector<item> items;
  std::size_t head = 0;
  std::size_t arrived = 0;
  std::uint64_t unread_bytes = 0;  ///< the whole queue: the window's fill
  std::uint64_t inbox_bytes = 0;   ///< the arrived items

  [[nodiscard]] std::size_t size() const { return items.size() - head; }
  [[nodiscard]] bool inbox_empty() const { return arrived == 0; }
  [[nodiscard]] bool in_transit() const { return arrived < size(); }
  /// The oldest item. Precondition: size() > 0.
  [[nodiscard]] item& front() { return items[head]; }
  [[nodiscard]] const item& front() const { return items[head]; }
  /// The first item in transit. Precondition: in_transit().
  [[nodiscard]] item& transit_front() { return items[head + arrived]; }
  void push_back(item&& it) { items.push_back(std::move(it)); }
  /// Removes the oldest item. Precondition: size() > 0.
  void pop_front() {
    items[head] = item{};  // its bytes (bytes mode) go now
    if (++head == items.size()) {
      // Empty: a few items' room is kept for the next ones, more is given back.
      if (items.capacity() > 4) {
        std::vector<item>().swap(items);
      } else {
        items.clear();
      }
      head = 0;
    } else if (head >= 64 && 2 * head >= items.size()) {
      items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(head));
      head = 0;
    }
  }
  /// Drops what is in transit (the receiver is gone).
  void drop_transit() { items.resize(head + arrived); }
  /// Drops everything and gives the memory back.
  void clear() {
    std::vector<item>().swap(items);
    head = arrived = 0;
    unread_bytes = inbox_bytes = 0;
  }
};

/// A connection between two peers; side 0 dialed.
struct link {
  std::array<std::uint32_t, 2> peer{};
  std::array<bt::peer_key, 2> key{};
  std::array<bool, 2> open{false, false};  ///< the side's session holds the connection
  std::array<pipe, 2> from{};              ///< from[s]: what side s sent
  bt::duration latency{};                  ///< its one-way delay (world_config::latency_jitter)
  std::array<std::uint64_t, 2> window{};   ///< window[s]: unread bytes from[s] holds at most
};

/// A moment a peer wants to act at (its pacer lets an item go), kept as at most one live
/// event in the world's queue. A moment moved later does not queue another event: the live
/// one fires early and is queued again for the moment then wanted (world::arm, world::fire).
/// Pacing moments move on nearly every delivery, and queueing each move left about seven
/// stale events in the queue for each one acted on.
struct due_timer {
  std::optional<bt::time_point> due;       ///< when to act; none: nothing due
  std::optional<bt::time_point> event_at;  ///< when the live event fires
  std::uint64_t gen = 0;                   ///< the live event's generation
};

/// A peer: its session, its pacers, its storage or taint marks, its connections.
struct peer {
  peer_config config;
  std::optional<bt::session> session;
  std::optional<bt::pacer> up;
  std::optional<bt::pacer> down;
  std::unique_ptr<bt::piece_store> store;     ///< bytes mode
  std::shared_ptr<bt::memory_storage> memory;  ///< bytes mode
  /// Abstract mode: per piece being received, a fingerprint per block (0 = honest bytes).
  std::unordered_map<std::uint32_t, std::vector<std::uint64_t>> prints;
  std::unordered_map<std::uint32_t, std::uint32_t> links;  ///< session key → link id
  std::uint64_t wake_gen = 0;
  std::optional<bt::time_point> wake_at;
  due_timer up_due, down_due;  ///< when the pacers next let an item go
  bool draining = false;
  bool upload_wanted = false;   ///< try_upload once the drain ends
  std::vector<std::uint32_t> candidates;  ///< try_upload's scratch: keys that may send
  bool counted_complete = false;
  std::optional<bt::announce_request> announcing;  ///< the announce in flight
};

/// A link's side seen from the other side.
inline int other(int side) { return 1 - side; }

}  // namespace p2pdist::sim::detail
