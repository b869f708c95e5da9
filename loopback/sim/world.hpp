#pragma once
// world: a swarm in simulated time. Every peer is a real bt::session — the engine's own
// decisions (picker, choker, super seeding, strikes, announces) — driven by a discrete-event
// clock instead of sockets and timers. Between sessions the world carries messages at
// block level: a connection is a pair of FIFO pipes with a one-way latency; a piece message
// leaves its sender when the sender's upload pacer (the network layer's token bucket, see
// pacer.hpp) grants its bytes, and reaches the receiving session when the receiver's
// download pacer does; control messages ride the same pipes (they cost download tokens, not
// upload tokens, as on the real wire). A pipe holds at most window_bytes unread, like a TCP
// connection with the small socket buffers the network layer uses while throttled, plus a
// round trip's bytes at the link's rate (buffers sized to the bandwidth-delay product;
// nothing on a loopback's microseconds); a link unthrottled both ways has no such limit.
// Each session is told its connections' round trip (session::handle_round_trip).
//
// Content: with `content` the world carries real bytes (every peer has a memory storage, a
// piece is hashed with SHA-1 against the torrent, a liar's blocks are really wrong); without
// it, blocks carry no bytes and a piece fails exactly when a liar sent one of its blocks.
//
// A tracker answers announces after one round trip with up to tracker_max_peers random
// peers. Deterministic: the same config and rng_seed give the same run, event for event.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "loopback/core/session.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::sim {

/// One peer of a simulated swarm.
struct peer_config {
  bt::ip_address address{127, 0, 0, 2};  ///< unique per peer
  double up_bytes_per_s = 0;    ///< wire bytes per second; 0 = unlimited
  double down_bytes_per_s = 0;  ///< wire bytes per second; 0 = unlimited
  bool seed = false;            ///< starts with every piece
  bool liar = false;            ///< answers every request with wrong bytes
  /// The session's knobs (choker, picker, limits, timeouts); the world sets torrent,
  /// address, has_tracker, upload_bytes_per_s and rng_seed.
  bt::session_config session{};
  bt::duration start_at{};      ///< when it joins, since the world's start
  /// Its access path's round trip (world_config::per_peer_latency): a connection's one-way
  /// delay is half the sum of its two ends'; the tracker's answer takes this peer's own.
  bt::duration access_rtt{};
  /// Peers it dials as soon as it starts, besides those the tracker names (a client-server
  /// client knows its server).
  std::vector<bt::ip_address> dial_at_start{};
};

/// The world's settings.
struct world_config {
  std::shared_ptr<const bt::metainfo> torrent{};  ///< required
  /// The file's bytes (bytes mode); null: blocks carry no bytes (abstract mode).
  std::shared_ptr<const std::vector<std::byte>> content{};
  bt::duration latency{};                       ///< one-way delay of a connection (its mean)
  /// Each connection's delay is drawn once, uniformly within latency × (1 ± jitter), the
  /// same both ways and for its whole life (so its bytes stay in order). 0: every connection
  /// the same. Identical delays make a swarm unnaturally synchronous: messages sent at one
  /// instant arrive at one instant everywhere, and every peer sees its peers' requests in the
  /// same order (N = 32: every leecher gave its unchoke slots to the same few peers).
  double latency_jitter = 0;
  /// Instead of latency and latency_jitter: each peer's access_rtt makes its connections'
  /// delays (a list of round trips, one per leecher: swarm's --rtt R1,R2,...).
  bool per_peer_latency = false;
  /// Each item a pipe carries arrives up to this much later (uniform), never before the one
  /// sent before it: a path's delay variation (swarm's --jitter).
  bt::duration jitter{};
  std::uint64_t window_bytes = 4 * (16 * 1024 + 13);  ///< unread bytes a pipe holds at most, beyond a round trip's
  std::chrono::seconds tracker_interval{1};     ///< re-announce interval the tracker gives
  std::size_t tracker_max_peers = 50;           ///< peers in one answer (numwant caps it too)
  std::uint64_t rng_seed = 1;                   ///< tracker answers, peer sessions' seeds
  /// Called with every event a peer's session reports (piece verified, completed, ...),
  /// with the peer's index; `at` is on the world's clock (epoch() is its start).
  std::function<void(std::size_t peer, const bt::client_event& e)> on_event{};
};

/// What one peer did.
struct peer_report {
  bt::client_stats stats{};        ///< the session's counters (times on the world's clock)
  bool seed = false;
  bool data_matches = false;       ///< bytes mode: its storage equals the content; abstract: complete
};

namespace detail {
struct peer;
struct link;
struct item;
struct due_timer;
}  // namespace detail

/// A simulated swarm. Movable, not copyable; one thread.
class world {
 public:
  /// std::invalid_argument without a torrent, or with content of the wrong size.
  explicit world(world_config config);
  ~world();
  world(const world&) = delete;
  world& operator=(const world&) = delete;
  world(world&&) noexcept;
  world& operator=(world&&) noexcept;

  /// Adds a peer (before run()); returns its index. std::invalid_argument: an address in use.
  std::size_t add_peer(peer_config config);
  /// Runs events in time order until every peer that is not a seed is complete (true), or
  /// the clock passes `limit` since the start, or no event is left (false).
  bool run(bt::duration limit);

  /// The time since the start.
  [[nodiscard]] bt::duration elapsed() const noexcept { return now_ - epoch_; }
  /// The world's clock: the epoch is its start.
  [[nodiscard]] bt::time_point epoch() const noexcept { return epoch_; }
  /// No event is left: nothing more will happen.
  [[nodiscard]] bool idle() const noexcept { return queue_.empty(); }
  /// Events processed so far.
  [[nodiscard]] std::uint64_t events() const noexcept { return events_; }
  /// Messages sent so far, by wire message (bt::event_name: "have", "request", "piece", ...),
  /// and the other things carried: "(dial)" connections dialed, "(refused)" dials the other
  /// side turned down, "(announce)" tracker announces.
  [[nodiscard]] std::map<std::string, std::uint64_t> messages_sent() const;
  [[nodiscard]] std::size_t peer_count() const noexcept { return peers_.size(); }
  /// Peer i's counters and outcome.
  [[nodiscard]] peer_report report(std::size_t i) const;
  /// Peer i's session (for tests).
  [[nodiscard]] const bt::session& session_of(std::size_t i) const;

 private:
  enum class event_kind : std::uint8_t { start, wake, up_due, down_due, arrive, connect, connected, refused, announce };
  struct event {
    bt::time_point at;
    std::uint64_t seq;
    event_kind kind;
    std::uint32_t peer;   ///< the peer concerned (or the link's id for arrive)
    std::uint64_t a = 0;  ///< kind-specific
    std::uint64_t b = 0;
    friend bool operator>(const event& x, const event& y) { return x.at != y.at ? x.at > y.at : x.seq > y.seq; }
  };

  void schedule(bt::time_point at, event_kind kind, std::uint32_t peer, std::uint64_t a = 0, std::uint64_t b = 0);
  /// Sets when `t` is due (none: not due), queueing an event only if none fires by then.
  void arm(detail::due_timer& t, std::optional<bt::time_point> at, event_kind kind, std::uint32_t peer);
  /// For event `e` of timer `t`: true when it is due now (and no longer armed); false when
  /// the event is stale, nothing is due, or the moment moved later (queued again for it).
  bool fire(detail::due_timer& t, const event& e);
  void dispatch(const event& e);

  // world.cpp: peers and their outputs
  void start_peer(std::uint32_t p);
  void drain(std::uint32_t p);
  void carry_out(std::uint32_t p, bt::output& o);
  void after_drain(std::uint32_t p);
  void answer_announce(std::uint32_t p);
  void check_piece(std::uint32_t p, std::uint32_t piece, bool fingerprints_on_pass);

  // world_links.cpp: connections, pipes and pacing
  void dial(std::uint32_t p, bt::peer_key key, const bt::endpoint& remote);
  void on_connect(std::uint32_t link_id);
  void send_item(std::uint32_t link_id, int side, detail::item it);
  void close_side(std::uint32_t link_id, int side);
  [[nodiscard]] std::uint64_t window_of(const detail::link& l, int side) const;
  void on_arrive(std::uint32_t link_id, int side);
  /// Delivers what side `to_side` may take now; `pace`: then schedules its pacing events.
  void try_deliver(std::uint32_t link_id, int to_side, bool pace = true);
  void deliver(std::uint32_t link_id, int to_side, detail::item& it);
  void try_upload(std::uint32_t p);
  void send_granted(std::uint32_t p, bt::peer_key key);
  void upload_changed(std::uint32_t p, bt::peer_key key);
  void schedule_pacing(std::uint32_t p);
  detail::link* link_of(std::uint32_t p, bt::peer_key key);

  world_config config_;
  bt::time_point epoch_{};
  bt::time_point now_{};
  std::uint64_t seq_ = 0;
  std::uint64_t events_ = 0;
  std::priority_queue<event, std::vector<event>, std::greater<>> queue_;
  std::vector<std::unique_ptr<detail::peer>> peers_;
  std::vector<std::unique_ptr<detail::link>> links_;
  std::vector<std::uint32_t> tracker_list_;  // peers that announced and did not stop
  std::unordered_map<bt::ip_address, std::uint32_t> by_address_;  // address → peer
  std::size_t incomplete_ = 0;               // peers not yet complete (seeds excluded)
  std::mt19937_64 rng_;
  // Counted as they go (a map keyed by name cost a string and a lookup per message):
  // messages by wire_event alternative, then dials, refusals and announces.
  static constexpr std::size_t wire_kinds = std::variant_size_v<bt::wire_event>;
  enum : std::size_t { count_dial = wire_kinds, count_refused, count_announce, count_kinds };
  std::array<std::uint64_t, count_kinds> sent_{};
  std::vector<std::pair<std::uint32_t, int>> sides_scratch_;  // down_due's list of links
};

}  // namespace p2pdist::sim
