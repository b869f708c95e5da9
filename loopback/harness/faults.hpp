#pragma once
// faults: adversarial peers for the loopback harness (`p2pdist swarm --fault KIND[:COUNT]`).
// They are not bt::client instances: each is a small hand-written peer on its own
// 127.0.200.x address, running on the harness's io_context (a strand of its own), that
// speaks the wire protocol through the pure encoders (wire.hpp) and announces to the
// harness's tracker through the tracker codec, so honest peers learn of it as of any peer;
// it also dials every honest peer the tracker lists, and accepts their connections.
//
// Kinds (what one adversarial peer does on every connection, after a valid handshake):
//   corrupt    full bitfield, unchoke, answers every request with random bytes (the
//              piece fails its SHA-1 check; honest peers ban the address)
//   drop       full bitfield, unchoke, answers the first request with a piece header and
//              half the block, then closes; dials again after a short pause, and repeats
//   stall      full bitfield, unchoke, accepts requests and never answers (keep-alives
//              only): the requester's request_timeout must snub it and fetch elsewhere
//   garbage    random bytes whose first length prefix is above the limit, or a length
//              prefix of 4 GiB (alternately); dials again after a short pause
//   slowloris  `slowloris_connections` connections to every honest peer and to the
//              tracker, each sending one byte (of a valid handshake, or of a GET line)
//              every drip_interval; reconnects when cut
//   chatter    an empty bitfield, then nothing but control messages, chatter_bytes_per_s
//              of them on every connection: `have` for random pieces it does not hold,
//              interested and not interested, requests each cancelled at once, keep-alives
//              (every message valid, none carrying data: honest peers must go on trading;
//              past session_config::max_idle_messages_per_s they cut and ban it)
//   churn      not a peer: the harness stops the first COUNT honest leechers once each,
//              mid-download, and restarts them from what they hold (see plan_churn)
//
// Every loop ends when the fault swarm stops: stop() closes every socket and timer and
// waits (bounded) until every coroutine has ended. Nothing here starts a thread.
//
// The specs and plans (kinds, parse_fault, addresses, plan_churn) are defined in
// fault_specs.cpp, the adversarial peers and fault_swarm in faults.cpp.

// Standard headers before Asio's (see tracker_server.hpp).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC; enable Asio's awaitable support here (as client.hpp does).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <asio/io_context.hpp>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::loopback {

/// The kinds of adversary `--fault` adds (see the file comment).
enum class fault_kind { corrupt, drop, stall, garbage, slowloris, chatter, churn };

/// Every kind, in the order of the enumeration.
inline constexpr std::array<fault_kind, 7> all_fault_kinds{
    fault_kind::corrupt,   fault_kind::drop,    fault_kind::stall, fault_kind::garbage,
    fault_kind::slowloris, fault_kind::chatter, fault_kind::churn};

/// "corrupt", "drop", "stall", "garbage", "slowloris", "chatter", "churn".
std::string_view to_string(fault_kind kind) noexcept;
/// The kind named exactly so (lower case); nullopt otherwise.
std::optional<fault_kind> parse_fault_kind(std::string_view text) noexcept;

/// One `--fault` flag: `count` adversarial peers of a kind (for churn: leechers that churn).
struct fault_spec {
  fault_kind kind = fault_kind::corrupt;
  std::size_t count = 1;  ///< >= 1
  friend bool operator==(const fault_spec&, const fault_spec&) = default;
};

/// Parses "KIND" or "KIND:COUNT" (COUNT a decimal whole number >= 1, default 1). Throws
/// std::invalid_argument with a one-line reason naming the accepted form, e.g. "'rot' is
/// not a fault kind (use corrupt, drop, stall, garbage, slowloris or churn)".
fault_spec parse_fault(std::string_view text);

/// The adversarial peers (not churn) a list of specs asks for, summed over the list.
std::size_t fault_peer_count(const std::vector<fault_spec>& faults);
/// The leechers that churn, summed over the list.
std::size_t churn_count(const std::vector<fault_spec>& faults);

/// The address plan for adversarial peers: peer j on 127.0.200.(1 + j), j < 250, clear of
/// the tracker (127.0.0.1), the seeds (127.0.0.2-9) and the leechers (127.0.0.10 onwards,
/// which reach 127.0.200.x only past 51 000 leechers; validate() refuses such a mix).
inline constexpr std::size_t max_fault_peers = 250;
/// Precondition: j < max_fault_peers.
std::array<std::uint8_t, 4> fault_address(std::size_t j);
/// The address is in the adversaries' range 127.0.200.0/24.
bool is_fault_address(const bt::ip_address& ip) noexcept;

/// When one churning leecher leaves: once it holds `leave_at_fraction` of the file.
struct churn_entry {
  std::size_t leecher = 0;         ///< index of the honest leecher
  double leave_at_fraction = 0.5;  ///< of the file's bytes held (verified), in [0.2, 0.8)
};

/// The churn plan: leechers 0 .. churners-1 (the first K) each leave once, at a fraction of
/// the file drawn uniformly from [0.2, 0.8) by a generator seeded with `seed`.
/// Precondition: churners <= leechers.
std::vector<churn_entry> plan_churn(std::size_t leechers, std::size_t churners, std::uint64_t seed);

/// Timings and settings of the adversarial peers; the harness scales them with its time
/// scale (see harness.hpp).
struct fault_swarm_config {
  std::shared_ptr<const bt::metainfo> torrent{};  ///< required
  bt::endpoint tracker{};                      ///< the harness's tracker
  std::vector<fault_spec> faults{};               ///< churn entries are ignored here
  bt::duration announce_interval = std::chrono::seconds(1);   ///< re-announce, learn peers
  bt::duration reconnect_pause = std::chrono::milliseconds(500);  ///< drop, garbage, slowloris
  bt::duration drip_interval = std::chrono::seconds(3);       ///< slowloris: one byte this often
  bt::duration keepalive_interval = std::chrono::seconds(5);  ///< stall: a keep-alive this often
  bt::duration announce_timeout = std::chrono::seconds(2);    ///< one announce, all included
  std::size_t slowloris_connections = 8;  ///< per target (each peer, and the tracker)
  /// chatter: control-message bytes a second on each connection (4 096 messages of 9 to 17
  /// bytes a second at the default: a hundred times what an honest peer sends).
  double chatter_bytes_per_s = 48'000;
  /// An outgoing target is given up after this many sessions in a row where it sent no
  /// request (it banned us, or is a seed, or keeps another connection to us). Garbage and
  /// slowloris never give up.
  std::size_t attempts_without_request = 3;
  std::uint64_t rng_seed = 1;  ///< peer ids, garbage, corrupt data, variants
};

/// Counters of one adversarial peer (a snapshot).
struct fault_peer_stats {
  std::string address;                  ///< e.g. "127.0.200.1"
  fault_kind kind = fault_kind::corrupt;
  std::uint64_t connections = 0;        ///< TCP connections established, both directions
  std::uint64_t requests = 0;           ///< block requests received
  std::uint64_t bytes_sent = 0;         ///< all bytes written
  std::uint64_t cut_by_us = 0;          ///< connections it closed on purpose (drop)
  std::uint64_t cut_by_peer = 0;        ///< connections the other side closed
  std::uint64_t announces = 0;          ///< successful announces
};

namespace detail {
class fault_peer;
}

/// The adversarial peers of one run. Not copyable. Threads: every handler runs on a strand
/// of the given io_context; start(), stop(), stats() and announced() may be called from
/// any thread. Destroy it before the io_context (the destructor stops it, bounded).
class fault_swarm {
 public:
  /// One peer per spec unit (fault_peer_count), on fault_address(0), (1), ... in spec order.
  /// Throws std::invalid_argument with no torrent or more than max_fault_peers peers.
  fault_swarm(asio::io_context& io, fault_swarm_config config);
  ~fault_swarm();
  fault_swarm(const fault_swarm&) = delete;
  fault_swarm& operator=(const fault_swarm&) = delete;

  /// Listens on every peer's address and starts announcing and dialing. Once. Throws
  /// std::system_error when an address cannot be bound.
  void start();
  /// Closes every socket and timer and waits until every coroutine has ended, at most
  /// `limit`; true when all ended. Idempotent.
  bool stop(std::chrono::milliseconds limit);
  /// Every peer has had at least one announce answered.
  [[nodiscard]] bool announced() const;
  /// The counters of every peer, in address order.
  [[nodiscard]] std::vector<fault_peer_stats> stats() const;

 private:
  std::vector<std::shared_ptr<detail::fault_peer>> peers_;
  bool stopped_ = false;  // stop() has run (the destructor need not wait again)
};

}  // namespace p2pdist::loopback
