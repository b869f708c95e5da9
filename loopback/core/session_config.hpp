#pragma once
// session_config: what a session (the sans-IO peer, session.hpp) is told when it is made —
// the torrent, our address, the choking and picking policies, limits and timeouts. Pure
// values; every interval is a duration the driver's clock will be compared against.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "loopback/policy/choker.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::bt {

/// How a session that starts complete (an initial seed) announces its pieces.
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
  /// sending rate, plus the connection's round trip when the driver reports one
  /// (session::handle_round_trip; the bandwidth-delay product), from min_pipeline_depth
  /// (pipeline_depth over a round trip longer than this queue time) up to pipeline_depth, or
  /// up to max_pipeline_depth when the round trip takes more. Zero: always pipeline_depth.
  duration request_queue_time = duration::zero();
  /// With request_queue_time, while our download binds (session_config::download_bytes_per_s
  /// set, and we receive at 80 % of it or more): the requests cover at least this long. A
  /// client-server client at 1 MB/s then keeps three blocks asked, not two: two left ~8 ms
  /// of slack that a busy machine's scheduling now and then exceeded. Where our download
  /// does not bind, more requests in flight cost the heterogeneous swarms (a peer's slow
  /// uploaders hold more of the blocks it waits for), so only there.
  duration binding_queue_time = std::chrono::milliseconds(45);
  std::uint32_t min_pipeline_depth = 2;  ///< with request_queue_time, >= 1
  /// With request_queue_time: the most requests kept at a peer, however long its round trip
  /// (pipeline_depth is the most when the round trip is unknown). At most the requests a
  /// peer queues (250 here; libtorrent's default is 500).
  std::uint32_t max_pipeline_depth = 250;
  std::uint32_t end_game_free_blocks = 0;  ///< end game when at most this many blocks unrequested
  initial_seeding seeding = initial_seeding::standard;  ///< used only if we start complete
  /// each_piece_once_first: unsent pieces offered to a peer at a time, >= 1. More than one
  /// let a peer that passes pieces on quickly take more than an equal share of the seed's
  /// upload. Three, not two: the seed keeps about 100 ms of its upload on offer (six 64 KiB
  /// pieces at 4 MB/s), so with two the leechers that owe least were full and the rest went
  /// round to the slow ones: at N = 4, uploads 2/6/2/6 MB/s, every leecher got a quarter of
  /// the pieces, the slow ones could not pass theirs on, and the fast ones fetched that
  /// backlog from them at the end (1.025 of the bound, real; 1.006 with three). Eight
  /// crowded the few pieces of a small file onto one peer (16 pieces: 1.127 -> 1.144).
  std::uint32_t offers_per_peer = 3;
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

/// Settings of a session; build it with designated initializers.
struct session_config {
  std::shared_ptr<const metainfo> torrent{};          ///< required
  ip_address address{127, 0, 0, 1};  ///< ours (a dial to ourselves is skipped)
  /// Dial and accept only loopback addresses, 127.0.0.0/8 and ::1 (the in-process harness
  /// and its tests).
  bool loopback_only = true;
  bool has_tracker = false;          ///< announce (the driver carries the announces)
  bool upload = true;                ///< false: never unchoke anyone (client-server leechers)
  /// Our upload's rate limit in wire bytes/s, 0 = unlimited. A limited upload that idles
  /// unchokes one more peer; a super-seeding seed that does not reach it offers more pieces.
  double upload_bytes_per_s = 0;
  /// Our download's rate limit in wire bytes/s, 0 = unlimited. While we receive near it,
  /// the end game asks a second peer for a block only when that peer would bring it
  /// clearly sooner (a duplicate costs the link that binds).
  double download_bytes_per_s = 0;
  upload_policy upload_order = upload_policy::fair;  ///< used when the upload is limited
  bool connect_to_leechers = true;   ///< false: keep only connections to seeds (while leeching)
  bool seed_when_complete = true;    ///< false: ask to stop (output stop) once complete
  choker_config choker{};
  picker_knobs picker{};
  std::size_t max_peers = 80;             ///< connections, both directions
  std::size_t max_half_open = 8;          ///< our dials still connecting, at most
  /// Incoming connections from one address, at most: more are refused at once, so that one
  /// address that floods us with connections (silent, or handshakes and then nothing) holds
  /// a few of the max_peers slots and never all of them. libtorrent allows one per address
  /// by default; several leave room for peers behind one NAT and clients sharing 127.0.0.1.
  std::size_t max_peers_per_address = 8;
  std::uint32_t max_hash_failures = 2;    ///< pieces failed by one address before it is banned
  /// A peer that sends more than this many messages a second that move no data (keep-alive,
  /// interested or not, a `have` it sent before, a request we ignore, a cancel), over about
  /// a second, floods us: it is cut and its address banned. An honest peer sends a few a
  /// second, bursts of at most its request queue (a choke voids it); 0 or less: no limit.
  double max_idle_messages_per_s = 1000;
  std::size_t max_queued_requests = 250;  ///< a peer's requests queued here; more are ignored
  /// Offer the fast extension (BEP 6) in our handshake. Where the peer offers it too: have
  /// all / have none in place of the bitfield, every request of the peer answered by its
  /// block or a reject (a choke rejects what is queued), and a choke from the peer no longer
  /// voids our requests: we wait for its rejects or blocks.
  bool fast_extension = true;
  /// Offer the extension protocol (BEP 10) in our handshake; where the peer's offers it too,
  /// send an extended handshake and serve the torrent's metadata (BEP 9, ut_metadata), so
  /// that a client given only a magnet link can fetch the info dictionary from us.
  bool extension_protocol = true;
  std::uint64_t rng_seed = 0;             ///< peer id and every random choice
  duration handshake_timeout = std::chrono::seconds(10);   ///< connect + handshake
  /// At max_peers, an incoming connection silent since its handshake gives way to a new one
  /// only once it is this old (so that peers at the limit do not keep replacing each other).
  duration evict_silent_after = std::chrono::seconds(5);
  duration idle_timeout = std::chrono::seconds(120);       ///< nothing received: drop
  duration keepalive_interval = std::chrono::seconds(60);  ///< nothing sent: keep-alive
  duration request_timeout = std::chrono::seconds(20);     ///< no block while requests wait: snubbed
  duration tick_interval = std::chrono::milliseconds(250);  ///< timeouts checked this often
  /// `have` messages to a peer we choke wait up to this long (checked every tick) while our
  /// upload is busy (blocks queued for a peer we serve), and leave together, or with the next message to that peer (zero: each
  /// at once). It cannot ask us for the piece until we unchoke it, and the unchoke carries
  /// them; what waits is only its count of who has what. Transmission batches its haves the
  /// same way. Saves a message and a wake-up per peer and piece.
  duration have_batch_interval = std::chrono::seconds(1);
  duration tracker_timeout = std::chrono::seconds(5);        ///< one announce, all included
  duration stop_announce_timeout = std::chrono::seconds(2);  ///< the `stopped` announce
  duration tracker_retry_min = std::chrono::seconds(1);      ///< first backoff after a failure
  duration tracker_retry_max = std::chrono::seconds(60);     ///< backoff cap
  int numwant = 50;                                          ///< peers asked of the tracker
};

}  // namespace p2pdist::bt
