#pragma once
// client: one BitTorrent client instance for one torrent, on loopback. It listens on its
// own 127.0.0.x address, announces to an HTTP tracker (started, periodic, completed,
// stopped) when it has one, connects to the peers it learns or is given and accepts those
// that connect to it, runs the choker on its schedule, the piece picker for its requests,
// and one upload and one download token bucket shared by all its connections. A leecher
// becomes a seed when complete. Decisions stay in the pure units (piece_picker, choker,
// rate_limiter); this layer wires them to sockets.
//
// Threading: an instance runs every handler on its own strand of the caller's io_context,
// which may be run by one or more threads; many instances may share one io_context. There
// is no global state. Each public method says from where it may be called.
// Lifetime: destroy the client before its io_context. Destroying a client that is still
// running begins stop() without waiting; what is left ends when the io_context runs or
// is destroyed.

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC (for Clang it looks for the Coroutines TS); enable Asio's awaitable support here
// (the macro affects Asio's coroutine headers only).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio/io_context.hpp>

#include "loopback/policy/choker.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

namespace detail {
class client_impl;
}

/// What a client reports through client_config::on_event.
enum class client_event_kind {
  listening,          ///< start() listens (port in `peer_port`)
  peer_connected,     ///< a peer's handshake was accepted
  peer_disconnected,  ///< a connection that had completed its handshake closed (`detail`: why)
  piece_verified,     ///< a piece passed its SHA-1 check and was stored
  hash_failed,        ///< a piece failed its SHA-1 check (it is downloaded again)
  peer_banned,        ///< a peer's address is banned after repeated hash failures
  completed,          ///< the last piece is verified and the storage finalized
  tracker_announced,  ///< the tracker answered an announce (`detail`: the event sent)
  tracker_failed,     ///< an announce failed (`detail`: why); it is retried with backoff
  error,              ///< an internal error (`detail`), e.g. storage I/O; the instance goes on
  stopped,            ///< stop() finished: everything is closed
};

/// One event. `at` is a steady_clock reading.
struct client_event {
  client_event_kind kind{};
  time_point at{};
  std::optional<std::uint32_t> piece{};                  ///< piece events
  std::optional<std::array<std::uint8_t, 4>> peer_ip{};  ///< peer events
  std::uint16_t peer_port = 0;                           ///< peer events, listening
  std::string detail{};
};

/// Where a client starts from.
enum class initial_data {
  verify,           ///< hash every piece of the storage (a seed's check, or a resume)
  assume_complete,  ///< trust the storage to hold the whole torrent (harness seeds)
  assume_empty,     ///< trust the storage to hold nothing (harness leechers)
};

/// How a client that starts complete (an initial seed) announces its pieces.
enum class initial_seeding {
  /// A full bitfield to every peer (BEP 3): leechers pick freely, so the seed may upload a
  /// piece to several leechers before every piece has left it once.
  standard,
  /// Super seeding in the manner of BEP 16: no bitfield, every peer unchoked, and `have`
  /// messages that keep a few pieces on their way out of the seed (pieces_in_flight), each
  /// announced to one peer (at most offers_per_peer at a time to a peer): the peer that owes
  /// the swarm the fewest copies of what it got (so faster uploaders get more), then the one
  /// served longest ago; the piece sent (or offered) least so far.
  /// So every piece leaves the seed once before any leaves it twice, whole and at a high
  /// rate, and a piece that is half sent never goes to a second peer. Once every piece has
  /// been uploaded whole at least once, the seed announces the rest and acts as standard
  /// (the choker takes over at once). Only the seed's announcements and unchokes differ;
  /// the protocol stays BEP 3.
  each_piece_once_first,
};

/// Piece picker policy knobs (the torrent's geometry comes from the metainfo).
struct picker_knobs {
  std::uint32_t random_first_pieces = 4;   ///< random picks until this many pieces held
  std::uint32_t pipeline_depth = 16;       ///< requests in flight per peer, >= 1 (the most, when adaptive)
  /// Above zero: the requests in flight at a peer cover about this long of its recent
  /// sending rate (pipeline_depth_for), from min_pipeline_depth up to pipeline_depth. Zero:
  /// always pipeline_depth.
  duration request_queue_time = duration::zero();
  std::uint32_t min_pipeline_depth = 2;  ///< with request_queue_time, >= 1
  std::uint32_t end_game_free_blocks = 0;  ///< end game when at most this many blocks unrequested
  initial_seeding seeding = initial_seeding::standard;  ///< used only if we start complete
  /// each_piece_once_first: unsent pieces offered to a peer at a time, >= 1. Two let a peer
  /// that passes pieces on quickly take more than an equal share of the seed's upload.
  std::uint32_t offers_per_peer = 2;
  /// each_piece_once_first: unsent bytes kept offered are at most this many pieces (>= 1)
  /// plus offer_lookahead_bytes, so the next piece is offered before the last is sent.
  std::uint32_t pieces_in_flight = 1;
  std::uint32_t offer_lookahead_bytes = 128 * 1024;  ///< each_piece_once_first: see pieces_in_flight
};

/// How a rate-limited upload is shared among the peers with blocks waiting.
enum class upload_policy {
  fair,        ///< max-min fair: every such peer gets an equal share, blocks interleave
  piece_first, ///< the piece first asked for goes out first, whole, then the next: each piece
               ///< reaches its downloader (who can pass it on) sooner; the same bytes per second
};

/// Settings of a client instance; build it with designated initializers.
struct client_config {
  std::shared_ptr<const metainfo> torrent{};  ///< required
  std::shared_ptr<storage> store{};           ///< required; size_bytes() == torrent->total_bytes
  std::array<std::uint8_t, 4> address{127, 0, 0, 1};  ///< ours to listen and dial from; 127.0.0.0/8
  std::uint16_t port = 0;                              ///< 0: any free port (see client::port())
  /// Tracker: nullopt uses the torrent's announce URL; an empty string means no tracker.
  std::optional<std::string> announce_url{};
  initial_data initial = initial_data::verify;
  double upload_bytes_per_s = 0;    ///< wire bytes per second; 0 = unlimited
  double download_bytes_per_s = 0;  ///< wire bytes per second; 0 = unlimited
  bool upload = true;               ///< false: never unchoke anyone (client-server leechers)
  upload_policy upload_order = upload_policy::fair;  ///< used when the upload is limited
  bool connect_to_leechers = true;  ///< false: keep only connections to seeds (while leeching)
  bool seed_when_complete = true;   ///< false: stop (announcing stopped) once complete
  choker_config choker{};
  picker_knobs picker{};
  std::size_t max_peers = 80;              ///< open connections, both directions
  std::uint32_t max_hash_failures = 2;     ///< pieces failed by one address before it is banned
  std::size_t max_queued_requests = 250;   ///< a peer's requests queued here; more are ignored
  std::optional<std::uint64_t> rng_seed{};  ///< peer id and policies; nullopt: random_device
  duration handshake_timeout = std::chrono::seconds(10);  ///< connect + handshake
  duration idle_timeout = std::chrono::seconds(120);      ///< nothing received: drop
  duration keepalive_interval = std::chrono::seconds(60);  ///< nothing sent: keep-alive
  duration request_timeout = std::chrono::seconds(20);  ///< no block while requests wait: snubbed
  duration tick_interval = std::chrono::milliseconds(250);  ///< timeouts checked this often
  duration refill_interval = std::chrono::milliseconds(5);  ///< token buckets refilled this often
  duration tracker_timeout = std::chrono::seconds(5);       ///< one announce, all included
  duration stop_announce_timeout = std::chrono::seconds(2);  ///< the `stopped` announce
  duration tracker_retry_min = std::chrono::seconds(1);      ///< first backoff after a failure
  duration tracker_retry_max = std::chrono::seconds(60);     ///< backoff cap
  int numwant = 50;                                          ///< peers asked of the tracker
  /// Called on the instance's strand; must not block (never wait for stop() in it).
  std::function<void(const client_event&)> on_event{};
};

/// A snapshot of an instance's counters.
struct client_stats {
  std::uint64_t payload_up_bytes = 0;    ///< block bytes sent
  std::uint64_t payload_down_bytes = 0;  ///< block bytes received (duplicates included)
  std::uint64_t wire_up_bytes = 0;       ///< all bytes written to peers
  std::uint64_t wire_down_bytes = 0;     ///< all bytes read from peers
  std::uint64_t wasted_bytes = 0;        ///< block bytes received but not used (duplicate, unasked)
  std::uint32_t pieces_held = 0;
  std::uint32_t piece_count = 0;
  bool complete = false;
  std::optional<time_point> started_at{};    ///< when start() ran
  std::optional<time_point> completed_at{};  ///< when the last piece was verified
  std::size_t peers_connected = 0;            ///< connections past the handshake
  std::uint64_t hash_failures = 0;            ///< pieces that failed their check
  std::uint64_t peers_banned = 0;             ///< addresses banned
  std::uint64_t hash_failed_bytes = 0;        ///< bytes of the pieces that failed their check
  std::uint64_t snubs = 0;                    ///< request timeouts: a peer sent no block for request_timeout
  std::uint64_t protocol_drops = 0;           ///< connections closed because the peer broke the wire protocol
  std::uint64_t handshake_timeouts = 0;       ///< connections closed before their handshake completed in time
  std::uint64_t announces = 0;                ///< successful tracker announces
  bool stopped = false;                       ///< stop() has finished
};

/// A client instance. Non-copyable, non-movable.
class client {
 public:
  /// Checks the config (throws std::invalid_argument: no torrent or storage, size mismatch,
  /// an address outside 127.0.0.0/8, a bad announce URL). Does not touch the network.
  client(asio::io_context& io, client_config config);
  /// Begins stop() if needed; does not wait. Any thread.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Checks or trusts the storage (config.initial), listens, then announces `started` and
  /// runs. Any thread, once, before the other calls below. Throws std::system_error when
  /// it cannot listen or read its storage, std::logic_error when called twice.
  void start();
  /// Dials a peer (127.0.0.0/8 only; ignored otherwise, or when it is us, banned, already
  /// connected or max_peers is reached). Any thread.
  void connect_to(const endpoint_v4& peer);
  /// Stops: announces `stopped` (bounded by stop_announce_timeout), closes the listener and
  /// every connection, cancels timers. `on_stopped` runs on the strand once all is closed.
  /// Idempotent; any thread; never blocks.
  void stop(std::function<void()> on_stopped = {});

  /// The port we listen on (valid after start()). Any thread.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Our address. Any thread.
  [[nodiscard]] std::array<std::uint8_t, 4> address() const noexcept;
  /// Our peer id: "-PD0001-" and 12 random bytes. Any thread.
  [[nodiscard]] const peer_id& id() const noexcept;
  /// A consistent snapshot of the counters. Any thread.
  [[nodiscard]] client_stats stats() const;
  /// Every piece is verified. Any thread.
  [[nodiscard]] bool is_complete() const;

 private:
  std::shared_ptr<detail::client_impl> impl_;
};

}  // namespace p2pdist::bt
