#pragma once
// tracker_server: an HTTP BitTorrent tracker (BEP 3, compact peers BEP 23, scrape BEP 48)
// and, with tracker_config::udp, a UDP one (BEP 15) on the same port, running on the
// caller's asio::io_context. It parses with the tracker codecs and holds the swarms in
// memory: per info-hash, peers keyed by (address, port), where the address is the
// connection's (or datagram's) source and the port the one announced. It answers one HTTP
// request per connection and closes it, and it stays up, with bounded memory, under
// garbage: an oversized request is cut at max_request_bytes, a slow or silent connection is
// closed at idle_timeout, and at max_connections the oldest connection makes room for the
// newest; a UDP answer to a source not yet proven (a connect, an error) is never longer
// than what it sent, so a spoofed packet cannot be amplified. Under a flood of announces
// (random info-hashes, fake peers for a real torrent) an address holds at most
// max_peers_per_address entries, an address range max_peers_per_range, a torrent
// max_peers_per_torrent and the table max_peers (each cap replaces its least recently
// announced peer), and a response spreads its peers over the addresses of the swarm (one
// per address in turn, in random order), so fake peers behind a few addresses cannot crowd
// the honest ones out of the answers.
//
// Threads: every handler of the server runs on one strand of the io_context, so the
// context may be run by one thread or several. start(), stop(), port() and stats() may be
// called from any thread.

// Standard headers before Asio's: Asio 1.22 decides between aligned_alloc/free and
// operator new/delete from a libstdc++ macro, so a translation unit that includes Asio
// before any standard header disagrees with the others (ASan: alloc-dealloc-mismatch).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <asio/io_context.hpp>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

/// What a tracker_server listens on and the limits it enforces.
struct tracker_config {
  /// Address to listen on; port 0 picks a free port (see port()).
  endpoint listen{.ip = {127, 0, 0, 1}, .port = 0};
  /// Refuse a listen address outside 127.0.0.0/8 (the harness and its tests); false for the
  /// standalone `tracker` command, which serves any address.
  bool loopback_only = true;
  /// The `interval` told to clients. Whole seconds, at least 1 s: the protocol carries an
  /// integer of seconds. For fast experiments shorten peer_expiry instead.
  std::chrono::seconds interval{5};
  /// A peer not heard from for this long is dropped; nullopt means 2 × interval + 5 s.
  /// May be sub-second (tests, experiments).
  std::optional<duration> peer_expiry{};
  /// Most peers in one response (a client's numwant is capped by it; default numwant 50).
  std::size_t max_peers_returned = 50;
  /// Most bytes of request line plus headers read from one connection; beyond it the
  /// server answers 414 (no complete request line yet) or 431 and closes.
  std::size_t max_request_bytes = 8192;
  /// A connection must deliver its whole request, and take its answer, within this long
  /// after it was accepted, or it is closed.
  duration idle_timeout = std::chrono::seconds{10};
  /// Most connections open at once; a new one beyond it closes the oldest.
  std::size_t max_connections = 1024;
  /// Most torrents held; an announce for a new one beyond it gets a failure reason.
  std::size_t max_torrents = 10'000;
  /// Most peers held per torrent; a new peer beyond it replaces the torrent's least
  /// recently announced peer (so a newcomer is never locked out by fake peers).
  std::size_t max_peers_per_torrent = 10'000;
  /// Most peers held for one address (all its ports, all torrents); a new one beyond it
  /// replaces that address's least recently announced peer. One address flooding
  /// announces (random info-hashes, fake ports) thus churns only its own entries.
  std::size_t max_peers_per_address = 1024;
  /// The same for an address range (IPv4 /24: a host's neighbours, or one 127.0.x.0/24 of
  /// the loopback's 65 536), so that a flood from many addresses of a few ranges churns
  /// only those ranges' entries. The harness gives each instance its own address, at most
  /// 256 to a /24. An IPv6 range is a /64, which one host can fill with addresses.
  std::size_t max_peers_per_range = 4096;
  /// Most peers held in all (all torrents); a new one beyond it replaces the least
  /// recently announced peer of the table. Bounds the tracker's memory (a few hundred bytes
  /// a peer) whatever addresses a flood comes from: 127.0.0.0/8 alone has 65 536 ranges.
  std::size_t max_peers = 200'000;
  /// Seed of the generator that picks which peers a response holds.
  std::uint64_t rng_seed = 0x7261636b6572;
  /// Also serve BEP 15 (UDP) on the same address and port number as HTTP. Its connection
  /// ids are an HMAC of the asker's address and the minute under a secret drawn at start,
  /// valid two minutes: an announce from a spoofed source address cannot carry one.
  /// A UDP answer holds at most max_peers_returned peers, and never more than 200 (1220 bytes).
  bool udp = false;
};

/// The tracker's peer expiry: config.peer_expiry, or 2 × interval + 5 s when unset.
duration effective_peer_expiry(const tracker_config& config);

/// Counters since start(); a snapshot, read without locking from any thread.
struct tracker_stats {
  std::uint64_t announces = 0;            ///< announces answered with peers (stopped included)
  std::uint64_t scrapes = 0;              ///< scrapes answered with counts
  std::uint64_t failures = 0;             ///< announces/scrapes answered with "failure reason"
  std::uint64_t http_errors = 0;          ///< requests answered with 4xx (bad line, path, size)
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_dropped = 0;  ///< closed to stay within max_connections
  std::uint64_t timeouts = 0;             ///< closed for passing idle_timeout
  std::uint64_t bytes_received = 0;       ///< request bytes read, all connections
  std::uint64_t torrents = 0;             ///< torrents held now
  std::uint64_t peers_held = 0;           ///< peers held now, all torrents
  std::uint64_t peers_evicted = 0;        ///< peers replaced to stay within a cap (address, range, torrent, all)
  std::uint64_t udp_packets = 0;          ///< UDP datagrams received
  std::uint64_t udp_malformed = 0;        ///< of them, not a BEP 15 request (answered with an error when they carry a transaction id)
  std::uint64_t udp_bad_connection_ids = 0;  ///< announces and scrapes refused for their connection id
};

namespace detail {
class tracker_impl;
}

/// An HTTP tracker on the caller's io_context. Not copyable; destroying it stops it
/// (handlers still queued in the context keep the state they need alive).
class tracker_server {
 public:
  /// Checks the configuration; binds nothing yet. `io` must outlive this object.
  /// Throws std::invalid_argument when config.listen is outside 127.0.0.0/8, the interval
  /// is outside 1 s .. 1 week, a duration is not positive, max_request_bytes is below 16
  /// or another limit (max_peers_returned aside) is zero.
  tracker_server(asio::io_context& io, const tracker_config& config);
  ~tracker_server();
  tracker_server(const tracker_server&) = delete;
  tracker_server& operator=(const tracker_server&) = delete;

  /// Binds, listens and starts accepting (on the context's threads). Call once, before
  /// stop(). Throws std::system_error naming the address, e.g. when the port is in use,
  /// and std::logic_error when called a second time.
  void start();
  /// The port listened on (the chosen one when config.listen.port was 0); 0 before start().
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Closes the acceptor and every connection. Safe to call twice and from any thread
  /// (from outside the context it takes effect when the context next runs).
  void stop();
  /// Counters and sizes now.
  [[nodiscard]] tracker_stats stats() const noexcept;

 private:
  std::shared_ptr<detail::tracker_impl> impl_;
};

}  // namespace p2pdist::bt
