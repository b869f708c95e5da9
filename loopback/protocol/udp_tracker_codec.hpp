#pragma once
// udp_tracker_codec: the UDP tracker protocol (BEP 15) as bytes in and bytes out, for both
// sides. Every packet is a fixed layout of big-endian integers: a client first asks for a
// connection id (connect), then announces or scrapes with it; the tracker answers each with
// the same transaction id, or with an error packet. Pure: no socket, no clock. Everything
// read from the network returns a result with an error code and the byte offset of the
// problem; trailing bytes after a request's fixed part (BEP 41's options) are ignored.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loopback/protocol/result.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// The magic constant of a connect request (BEP 15).
inline constexpr std::uint64_t udp_protocol_id = 0x41727101980;

/// The action field of every packet.
enum class udp_action : std::uint32_t { connect = 0, announce = 1, scrape = 2, error = 3 };

/// Sizes of the fixed parts (BEP 15).
inline constexpr std::size_t udp_connect_bytes = 16;            ///< request and response
inline constexpr std::size_t udp_announce_request_bytes = 98;
inline constexpr std::size_t udp_announce_response_header_bytes = 20;  ///< then 6 (IPv6: 18) bytes a peer
inline constexpr std::size_t udp_scrape_request_header_bytes = 16;     ///< then 20 bytes a hash
inline constexpr std::size_t udp_error_header_bytes = 8;               ///< then the message
/// Most info-hashes one scrape may carry: BEP 15's "about 74", what fits a 1500-byte MTU.
inline constexpr std::size_t udp_max_scrape_hashes = 74;

/// Why a UDP tracker packet was refused.
enum class udp_errc {
  too_short = 1,     ///< shorter than its action's fixed part
  bad_protocol_id,   ///< a connect request without the magic constant
  unknown_action,    ///< an action other than the four of BEP 15 (or one the side does not take)
  bad_length,        ///< a variable part that is not a whole number of entries
  bad_event,         ///< an announce event outside 0..3
  bad_port,          ///< an announce with port 0
  too_many_hashes,   ///< a scrape of more than udp_max_scrape_hashes info-hashes
};

/// A short English description of an error code, e.g. "packet too short".
std::string_view to_string(udp_errc code) noexcept;

using udp_error = decode_error<udp_errc>;

/// Client → tracker: ask for a connection id.
struct udp_connect_request {
  std::uint32_t transaction_id = 0;
  friend bool operator==(const udp_connect_request&, const udp_connect_request&) = default;
};

/// Client → tracker: an announce. `request` holds what BEP 3's announce holds (numwant
/// nullopt for BEP 15's -1, the default; key and ip as 4 raw bytes when not zero); the
/// tracker uses the packet's source address, never `request.ip`.
struct udp_announce_request {
  std::uint64_t connection_id = 0;
  std::uint32_t transaction_id = 0;
  announce_request request{};
  friend bool operator==(const udp_announce_request&, const udp_announce_request&) = default;
};

/// Client → tracker: counts for one or more torrents.
struct udp_scrape_request {
  std::uint64_t connection_id = 0;
  std::uint32_t transaction_id = 0;
  std::vector<sha1_digest> info_hashes{};
  friend bool operator==(const udp_scrape_request&, const udp_scrape_request&) = default;
};

/// Tracker → client: the connection id to use for the next minute.
struct udp_connect_response {
  std::uint32_t transaction_id = 0;
  std::uint64_t connection_id = 0;
  friend bool operator==(const udp_connect_response&, const udp_connect_response&) = default;
};

/// Tracker → client: an announce's answer. `response` has interval (read back within 1 s ..
/// max_announce_interval), complete (seeders), incomplete (leechers) and the peers set. The
/// packet does not say the peers' family: an answer sent over IPv6 carries IPv6 peers (18
/// bytes each), one over IPv4 IPv4 peers (6 bytes each), as BEP 15 has it.
struct udp_announce_response {
  std::uint32_t transaction_id = 0;
  announce_response response{};
  bool ipv6 = false;  ///< the answer goes (came) over IPv6: its peers are IPv6 ones
  friend bool operator==(const udp_announce_response&, const udp_announce_response&) = default;
};

/// One torrent's counts in a scrape answer, in the order asked (a negative one reads as 0).
struct udp_scrape_counts {
  std::int32_t seeders = 0;
  std::int32_t completed = 0;
  std::int32_t leechers = 0;
  friend bool operator==(const udp_scrape_counts&, const udp_scrape_counts&) = default;
};

struct udp_scrape_response {
  std::uint32_t transaction_id = 0;
  std::vector<udp_scrape_counts> entries{};
  friend bool operator==(const udp_scrape_response&, const udp_scrape_response&) = default;
};

/// Tracker → client: the request failed; `message` is the tracker's text.
struct udp_error_response {
  std::uint32_t transaction_id = 0;
  std::string message{};
  friend bool operator==(const udp_error_response&, const udp_error_response&) = default;
};

using udp_request = std::variant<udp_connect_request, udp_announce_request, udp_scrape_request>;
using udp_response = std::variant<udp_connect_response, udp_announce_response, udp_scrape_response, udp_error_response>;

// Encoders. Each returns the packet's bytes.
std::string encode_udp_request(const udp_connect_request& r);
/// Numbers that BEP 15 carries in 32 bits are clamped to them (numwant to INT32_MAX);
/// key and ip are sent when they hold exactly 4 bytes, else as 0.
std::string encode_udp_request(const udp_announce_request& r);
/// Precondition: 1..udp_max_scrape_hashes info-hashes.
std::string encode_udp_request(const udp_scrape_request& r);
std::string encode_udp_response(const udp_connect_response& r);
/// Interval, seeders and leechers are clamped to 0..INT32_MAX. Only the peers of r.ipv6's
/// family are written; the others cannot be told apart on the wire.
std::string encode_udp_response(const udp_announce_response& r);
std::string encode_udp_response(const udp_scrape_response& r);
std::string encode_udp_response(const udp_error_response& r);

/// Parses a packet a tracker received. A connect must carry the protocol id; an announce
/// needs its 98 bytes (event 0..3, port 1..65535); a scrape 1..74 whole info-hashes.
/// Errors: too_short (offset: the packet's size), bad_protocol_id (0), unknown_action (8),
/// bad_event (80), bad_port (96), bad_length and too_many_hashes (16).
result<udp_request, udp_error> parse_udp_request(std::string_view packet);

/// The transaction id of a packet before the rest is parsed: a request's (bytes 12..15, at
/// least 16 bytes) or an answer's (bytes 4..7, at least 8 bytes); nullopt when too short.
/// The tracker answers even a malformed request with it; the client matches answers by it.
std::optional<std::uint32_t> udp_request_transaction(std::string_view packet) noexcept;
std::optional<std::uint32_t> udp_response_transaction(std::string_view packet) noexcept;

/// Parses a packet a client received, over IPv6 when `ipv6` (an announce answer's peers are
/// then 18 bytes each). Errors: too_short, unknown_action (0), bad_length (the start of
/// the incomplete entry).
result<udp_response, udp_error> parse_udp_response(std::string_view packet, bool ipv6 = false);

}  // namespace p2pdist::bt
