#pragma once
// session_io: the values that cross the boundary of a session (session.hpp) — what it
// reports (events, counters) and what it asks its driver to do (outputs). A driver polls
// outputs after every call into the session and carries them out: bytes to a socket in the
// network layer, an event in a simulator's queue.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/wire.hpp"

namespace p2pdist::bt {

/// A connection as the session names it. Keys are never reused within a session.
/// Declared opaque (no enumerators), identically in choker.hpp and piece_picker.hpp, so
/// that the headers can be included in one translation unit.
enum class peer_key : std::uint32_t;

/// Direction of traffic, seen from us.
enum class direction : std::uint8_t { up, down };

/// What a session reports (output event, and client_config::on_event in the network layer).
enum class client_event_kind {
  listening,          ///< the driver listens (port in `peer_port`)
  peer_connected,     ///< a peer's handshake was accepted
  peer_disconnected,  ///< a connection that had completed its handshake closed (`detail`: why)
  piece_verified,     ///< a piece passed its SHA-1 check and was stored
  hash_failed,        ///< a piece failed its SHA-1 check (it is downloaded again)
  peer_banned,        ///< a peer's address is banned after repeated hash failures
  completed,          ///< the last piece is verified (the driver finalizes the storage first)
  tracker_announced,  ///< the tracker answered an announce (`detail`: the event sent)
  tracker_failed,     ///< an announce failed (`detail`: why); it is retried with backoff
  error,              ///< an internal error (`detail`), e.g. storage I/O; the instance goes on
  stopped,            ///< the driver stopped: everything is closed
};

/// One event. `at` is the time the session was given with the input that caused it.
struct client_event {
  client_event_kind kind{};
  time_point at{};
  std::optional<std::uint32_t> piece{};                  ///< piece events
  std::optional<ip_address> peer_ip{};  ///< peer events
  std::uint16_t peer_port = 0;                           ///< peer events, listening
  std::string detail{};
};

/// A snapshot of a session's counters (the network layer adds `stopped`).
struct client_stats {
  std::uint64_t payload_up_bytes = 0;    ///< block bytes sent
  std::uint64_t payload_down_bytes = 0;  ///< block bytes received (duplicates included)
  std::uint64_t wire_up_bytes = 0;       ///< all bytes written to peers
  std::uint64_t wire_down_bytes = 0;     ///< all bytes read from peers
  std::uint64_t wasted_bytes = 0;        ///< block bytes received but not used (duplicate, unasked)
  std::uint32_t pieces_held = 0;
  std::uint32_t piece_count = 0;
  bool complete = false;
  std::optional<time_point> started_at{};      ///< when start() ran
  std::optional<time_point> completed_at{};    ///< when the last piece was verified
  std::optional<time_point> first_block_at{};  ///< when the first block we asked for arrived
  std::size_t peers_connected = 0;            ///< connections past the handshake
  std::uint64_t hash_failures = 0;            ///< pieces that failed their check
  std::uint64_t peers_banned = 0;             ///< addresses banned
  std::uint64_t hash_failed_bytes = 0;        ///< bytes of the pieces that failed their check
  std::uint64_t snubs = 0;                    ///< request timeouts: a peer sent no block for request_timeout
  std::uint64_t protocol_drops = 0;           ///< connections closed because the peer broke the wire protocol
  std::uint64_t handshake_timeouts = 0;       ///< connections closed before their handshake completed in time
  std::uint64_t announces = 0;                ///< successful tracker announces
  bool stopped = false;                       ///< the driver has stopped
};

/// Why a connection closed, as the driver tells the session (session::handle_closed).
enum class close_cause : std::uint8_t {
  requested,  ///< the session asked for it (output close), or the driver stops
  peer,       ///< the peer closed it, or a socket error
  protocol,   ///< the peer's bytes broke the wire protocol (the decoder refused them)
  connect,    ///< an outgoing connection could not be established
};

/// The result of hashing a complete piece (session::handle_piece_checked).
enum class piece_verdict : std::uint8_t {
  passed,    ///< the SHA-1 matches; the driver has stored the piece
  failed,    ///< the SHA-1 differs: a peer sent wrong bytes
  io_error,  ///< the piece could not be stored: fetch it again, blame nobody
};

/// Outputs: what the session asks its driver to do, in the order they must be done.
namespace out {
/// Send a message on a connection: the handshake, or a control message (never a piece:
/// blocks to upload are pulled with session::take_upload).
struct send {
  peer_key conn{};
  wire_event message;
};
/// Close a connection; the driver answers with handle_closed once it is closed.
struct close {
  peer_key conn{};
  std::string reason;
};
/// Open a connection to `remote`, under the key given; the driver answers with
/// handle_connected or handle_closed (close_cause::connect).
struct dial {
  peer_key conn{};
  endpoint remote{};
};
/// The blocks queued for upload on `conn` changed (queued, cancelled, cleared, or the front
/// moved to another piece): read upload_queued_bytes and upload_priority again.
struct upload_changed {
  peer_key conn{};
};
/// Every block of `piece` is stored: hash it and answer with handle_piece_checked. With
/// fingerprints_on_pass the session also needs the block fingerprints when it passes.
struct check_piece {
  std::uint32_t piece = 0;
  bool fingerprints_on_pass = false;
};
/// Send this announce to the tracker, bounded by `timeout`; answer with handle_announce.
struct announce {
  announce_request request;
  duration timeout{};
};
/// Report an event.
struct event {
  client_event what;
};
/// The session wants the driver to stop it (seed_when_complete is false and it completed).
struct stop {};
}  // namespace out

/// One output of a session.
using output = std::variant<out::send, out::close, out::dial, out::upload_changed, out::check_piece,
                            out::announce, out::event, out::stop>;

}  // namespace p2pdist::bt
