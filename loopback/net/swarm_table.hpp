#pragma once
// swarm_table: the tracker server's swarms as plain state, with no socket and no clock:
// per info-hash, the peers keyed by (address, port); caps per address, per address range
// (IPv4 /24), per torrent and in all, each making room by evicting the least recently
// announced peer it counts, so that the table stays bounded whatever addresses a flood
// comes from and a newcomer is always held; expiry; and the spreading of a response's
// peers over the addresses of the swarm. The server (tracker_server.cpp) drives it with
// `now` and a generator, on its strand.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "loopback/net/tracker_server.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt::detail {

/// The swarms: pure state, driven with `now` and a generator by the server. Not
/// thread-safe: the server calls it from its strand only.
class swarm_table {
 public:
  /// An empty table with the server's limits, interval and peer expiry.
  explicit swarm_table(const tracker_config& config)
      : config_(config), expiry_(effective_peer_expiry(config)) {}

  /// Records an announce from the peer at (ip, request.port) and builds its answer. With
  /// `own_family_only` the answer lists only peers of ip's family (IPv4 or IPv6): a UDP
  /// answer can carry no others (BEP 15), so its numwant is spent on those it can carry.
  announce_response announce(const announce_request& request, const ip_address& ip,
                             time_point at, std::mt19937_64& rng, bool own_family_only = false);

  /// The counts of each torrent asked for (zeros for an unknown one), or of every torrent.
  std::vector<scrape_entry> scrape(const scrape_request& request) const;

  /// Drops every peer not seen since `at - peer_expiry`, and the swarms left empty.
  void expire(time_point at);

  /// Torrents held now.
  std::size_t torrents() const noexcept { return torrents_.size(); }
  /// Peers held now, all torrents.
  std::size_t peers() const noexcept { return peers_; }
  /// Peers replaced so far to stay within a cap (address, range, torrent, all).
  std::uint64_t evicted() const noexcept { return evicted_; }

 private:
  /// One peer of a swarm.
  struct peer_record {
    endpoint key{};  ///< its address and port
    peer_id id{};
    std::uint64_t left_bytes = 0;
    time_point last_seen{};
    std::uint64_t touched = 0;      ///< the table's announce counter at its last announce
    bool counted_download = false;  ///< its `completed` was counted in torrent::downloaded
  };

  /// Where one peer is held: its torrent and its key there.
  struct peer_place {
    sha1_digest info_hash{};
    endpoint key{};
  };
  /// Peers by `touched`, least recently announced first.
  using book = std::map<std::uint64_t, peer_place>;

  /// One swarm: its peers in a vector (for random picks) indexed by key.
  struct torrent {
    std::vector<peer_record> peers;
    std::unordered_map<endpoint, std::size_t> index;
    book by_touched;              ///< its peers, least recently announced first
    std::int64_t downloaded = 0;  ///< `completed` events seen

    /// Removes the peer at `i` (the last one takes its place).
    void remove_at(std::size_t i);
    /// Peers with nothing left to download.
    std::int64_t seeds() const;
  };

  /// An answer carrying only `reason` as its failure reason.
  static announce_response failure(std::string reason);

  /// Removes the peer at `i` of `t` from the torrent and from every book.
  void remove(torrent& t, std::size_t i);

  /// Files the peer at `i` of `t` (its key and `touched` set) in every book; unfile takes
  /// it out again.
  void file(torrent& t, std::size_t i, const sha1_digest& info_hash);
  void unfile(torrent& t, std::size_t i);

  /// Makes room for one more peer in `t` (about to hold it): evicts the least recently
  /// announced peer of each cap that `key` would pass.
  void make_room(torrent& t, const endpoint& key);

  /// Drops the peers of `t` last seen before `cutoff`.
  void purge(torrent& t, time_point cutoff);

  /// Removes the least recently announced peer of a book (not empty), and its torrent when
  /// that is left empty, unless it is `keep`. The book may be gone after (an address's or a
  /// range's, when it held one peer).
  void evict_oldest(const book& from, const torrent* keep);

  /// Up to `wanted` peers of `t` other than the one at `self`, spread over addresses: in
  /// rounds, each address still holding candidates gives one peer chosen at random, the
  /// addresses taken in a random order. When every peer has its own address this is a
  /// uniform random choice; when one address holds most peers (a flood of fake ports),
  /// the others still get their share of the answer. With `own_family_only`, only peers of
  /// the asker's family (IPv4 or IPv6) are candidates.
  static void pick_peers(const torrent& t, std::size_t self, std::size_t wanted, bool own_family_only,
                         std::mt19937_64& rng, std::vector<peer_endpoint>& out);

  tracker_config config_;
  duration expiry_;
  std::map<sha1_digest, torrent> torrents_;  // ordered: no hash flooding by chosen info-hashes
  /// Per address, per range (IPv4 /24, IPv6 /64) and in all, the peers by `touched`
  /// (oldest first). Ordered maps, as above.
  std::map<ip_address, book> by_address_;
  std::map<ip_address, book> by_range_;
  book all_;
  std::size_t peers_ = 0;
  std::uint64_t announces_ = 0;
  std::uint64_t evicted_ = 0;
};

}  // namespace p2pdist::bt::detail
