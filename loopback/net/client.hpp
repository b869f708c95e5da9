#pragma once
// client: one BitTorrent client instance for one torrent, on loopback: the network driver of
// a session (loopback/core/session.hpp), which makes every decision — whom to dial, what to
// request, whom to unchoke, when to announce. The client carries them out: it listens on its
// own 127.0.0.x address, accepts and dials TCP connections, reads and writes the wire, paces
// both directions with one upload and one download token bucket shared by all its
// connections (rate_limiter), stores blocks and hashes pieces (piece_store), makes the HTTP
// announces, and wakes the session at the time it asks. A leecher becomes a seed when complete.
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

#include "loopback/core/session_config.hpp"
#include "loopback/core/session_io.hpp"
#include "loopback/policy/choker.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/types.hpp"
#include "loopback/storage/storage.hpp"

namespace p2pdist::bt {

namespace detail {
class client_impl;
}

/// Where a client starts from.
enum class initial_data {
  verify,           ///< hash every piece of the storage (a seed's check, or a resume)
  assume_complete,  ///< trust the storage to hold the whole torrent (harness seeds)
  assume_empty,     ///< trust the storage to hold nothing (harness leechers)
};

/// The delays an emulated path adds to one connection (zero: the loopback's own).
struct path_delay {
  duration inbound{};   ///< what this instance receives on it waits this long before it counts
  /// What this instance sends takes this long at the far end (applied there, if at all): told
  /// to the session as part of the round trip, not applied here.
  duration outbound{};
};

/// Settings of a client instance; build it with designated initializers.
struct client_config {
  std::shared_ptr<const metainfo> torrent{};  ///< required
  std::shared_ptr<storage> store{};           ///< required; size_bytes() == torrent->total_bytes
  ip_address address{127, 0, 0, 1};  ///< ours to listen and dial from (0.0.0.0 or ::: any)
  /// Listen, dial and accept only in 127.0.0.0/8 and ::1 (the in-process harness and its
  /// tests); false for the standalone seed and get, which work on any IPv4 or IPv6 network.
  bool loopback_only = true;
  std::uint16_t port = 0;                              ///< 0: any free port (see client::port())
  /// Tracker: nullopt uses the torrent's announce URL; an empty string means no tracker.
  std::optional<std::string> announce_url{};
  initial_data initial = initial_data::verify;
  double upload_bytes_per_s = 0;    ///< wire bytes per second; 0 = unlimited
  double download_bytes_per_s = 0;  ///< wire bytes per second; 0 = unlimited
  bool upload = true;               ///< false: never unchoke anyone (client-server leechers)
  upload_policy upload_order = upload_policy::fair;  ///< used when the upload is limited
  bool connect_to_leechers = true;  ///< false: keep only connections to seeds (while leeching)
  bool seed_when_complete = true;   ///< false: stop (announcing completed, then stopped) once complete
  choker_config choker{};
  picker_knobs picker{};
  std::size_t max_peers = 80;              ///< open connections, both directions
  std::uint32_t max_hash_failures = 2;     ///< pieces failed by one address before it is banned
  std::size_t max_queued_requests = 250;   ///< a peer's requests queued here; more are ignored
  std::optional<std::uint64_t> rng_seed{};  ///< peer id and policies; nullopt: random_device
  duration handshake_timeout = std::chrono::seconds(10);  ///< connect + handshake
  duration evict_silent_after = std::chrono::seconds(5);  ///< see session_config
  duration idle_timeout = std::chrono::seconds(120);      ///< nothing received: drop
  duration keepalive_interval = std::chrono::seconds(60);  ///< nothing sent: keep-alive
  duration request_timeout = std::chrono::seconds(20);  ///< no block while requests wait: snubbed
  duration have_batch_interval = std::chrono::seconds(1);  ///< see session_config (zero: no batching)
  bool fast_extension = true;                                ///< see session_config
  bool extension_protocol = true;                            ///< see session_config
  duration tick_interval = std::chrono::milliseconds(250);  ///< timeouts checked this often
  duration tracker_timeout = std::chrono::seconds(5);       ///< one announce, all included
  /// A udp:// tracker: the first wait for an answer before sending again (BEP 15: 15 s,
  /// doubling), within tracker_timeout.
  duration udp_tracker_retransmit = std::chrono::seconds(15);
  duration stop_announce_timeout = std::chrono::seconds(2);  ///< the `stopped` announce
  duration tracker_retry_min = std::chrono::seconds(1);      ///< first backoff after a failure
  duration tracker_retry_max = std::chrono::seconds(60);     ///< backoff cap
  int numwant = 50;                                          ///< peers asked of the tracker
  /// Network emulation: the delays of the path to a peer at this address (both ends of an
  /// in-process swarm draw the same); empty: none. See peer_connection.
  std::function<path_delay(const ip_address& remote)> path{};
  duration jitter{};  ///< emulated paths: each read waits up to this much longer (order kept)
  /// Called on the instance's strand; must not block (never wait for stop() in it).
  std::function<void(const client_event&)> on_event{};
};

/// The session settings a client runs its core with: the config's own fields, the upload
/// rate as the pacer applies it, and a random seed when the config names none. The
/// simulator builds its peers' sessions with it too, so that a simulated peer is configured
/// exactly as the real one.
session_config session_config_for(const client_config& c, bool has_tracker);

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
  /// Dials a peer (loopback only unless loopback_only is false; ignored otherwise, or when it is us, banned, already
  /// connected or max_peers is reached). Any thread.
  void connect_to(const endpoint& peer);
  /// Stops: announces `stopped` (bounded by stop_announce_timeout), closes the listener and
  /// every connection, cancels timers. `on_stopped` runs on the strand once all is closed.
  /// Idempotent; any thread; never blocks.
  void stop(std::function<void()> on_stopped = {});

  /// The port we listen on (valid after start()). Any thread.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Our address. Any thread.
  [[nodiscard]] ip_address address() const noexcept;
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
