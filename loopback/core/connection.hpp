#pragma once
// connection: what a session knows of one peer connection (an internal of session.cpp and
// its siblings): the protocol state of both sides, our requests in flight at the peer, the
// blocks it asked of us that wait to be uploaded, and the counters the choker reads.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "loopback/core/session_io.hpp"
#include "loopback/policy/piece_picker.hpp"
#include "loopback/policy/request_pipeline.hpp"
#include "loopback/protocol/bitfield.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/time.hpp"
#include "loopback/protocol/types.hpp"
#include "loopback/protocol/wire.hpp"

namespace p2pdist::bt::detail {

/// One connection of a session.
struct connection {
  peer_key key{};
  endpoint remote{};  ///< for an outgoing connection, the endpoint dialed
  bool outgoing = false;
  bool connected = false;           ///< the TCP connection is up (an outgoing one: handle_connected)
  bool closing = false;             ///< the session asked to close it, or it is stopping
  std::string close_reason;         ///< why, once closing
  bool handshake_done = false;
  bool first_message_seen = false;  ///< a message after the handshake arrived
  bool fast = false;                ///< both handshakes offered the fast extension (BEP 6)
  bool extensions = false;          ///< both handshakes offered the extension protocol (BEP 10)
  std::uint8_t peer_ut_metadata = 0;  ///< the peer's id for ut_metadata (0: it has none)
  std::uint32_t metadata_served = 0;  ///< ut_metadata pieces sent to it
  bool in_picker = false;           ///< added to the piece picker
  std::optional<peer_id> id;        ///< from its handshake
  bool am_choking = true;
  bool am_interested = false;
  bool peer_choking = true;
  bool peer_interested = false;
  bool snubbed = false;
  bitfield peer_has;                       ///< pieces it announced
  std::vector<std::uint32_t> haves_waiting;  ///< our `have`s batched for it (session_config::have_batch_interval)
  time_point haves_waiting_since{};          ///< when the first of them was batched
  std::vector<block_request> outstanding;  ///< our requests in flight at it, oldest first
  decayed_rate rate_from{};                ///< its recent sending rate to us (blocks received)
  decayed_rate rate_to{std::chrono::milliseconds(400)};  ///< our recent sending rate to it (blocks sent)
  decayed_rate idle_messages{std::chrono::seconds(1)};   ///< its messages that move no data, a second
  duration round_trip{};                   ///< the transport's, as the driver reports it (0: unknown)
  time_point connected_at{};
  time_point last_received{};              ///< any bytes read
  time_point last_sent{};                  ///< any bytes written
  time_point waiting_since{};              ///< last block from it, or first request since
  std::optional<time_point> last_unchoked;  ///< when we last choked it after an unchoke
  time_point unchoked_since{};             ///< when we last unchoked it
  std::uint64_t payload_down_bytes = 0;    ///< block bytes received from it
  std::uint64_t payload_up_bytes = 0;      ///< block bytes sent to it

  /// Blocks it asked of us, to upload in order, and their wire bytes (13 + length each). A
  /// vector, not a deque: at most max_queued_requests (250) blocks, so taking the front
  /// moves little, and an empty one holds no memory (a deque holds half a KiB even empty,
  /// on every one of a peer's tens of connections).
  std::vector<block_request> uploads;
  std::uint64_t upload_bytes = 0;
  bool serving = false;  ///< counted in session::serving_: open, unchoked, blocks queued
  /// For each piece with a block in `uploads`: the session's count of first asks when its
  /// first block was queued (its place in the order pieces were asked for).
  std::vector<std::pair<std::uint32_t, std::uint64_t>> upload_since;

  // super seeding
  std::vector<std::uint32_t> offered;  ///< pieces announced to it
  std::unordered_map<std::uint32_t, std::uint32_t> sent_by_piece;  ///< bytes sent, by piece

  /// Choker rate samples: payload totals at the last two rechokes.
  struct sample {
    time_point at{};
    std::uint64_t down = 0, up = 0;
  };
  std::optional<sample> sample_old, sample_new;

  [[nodiscard]] bool is_open() const noexcept { return !closing; }
};

}  // namespace p2pdist::bt::detail
