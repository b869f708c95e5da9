#pragma once
// tracker_codec: the HTTP tracker protocol (BEP 3, compact peers BEP 23, IPv6 peers BEP 7) as bytes in and
// bytes out, for both sides. The client builds the announce query and parses the bencoded
// response; the tracker server parses the request line and its announce (or scrape) target
// and encodes the response. Pure: no socket, no clock, no global state. Everything read
// from the network returns a result with an error code and the byte offset of the problem.
// The shared parts and the client side are defined in tracker_codec.cpp, the server side
// in tracker_codec_server.cpp.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/result.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// Why tracker input (a URL, a request line, an announce target or a response) was refused.
enum class tracker_errc {
  // URLs (parse_tracker_url).
  bad_url_scheme = 1,      ///< the URL does not start with "http://" or "udp://"
  bad_url_host,            ///< the host is not a dotted IPv4 address, "[IPv6]" or "localhost"
  bad_url_port,            ///< the port is empty, not decimal, 0 or above 65535
  // Request line and target (tracker server side).
  request_line_too_long,   ///< the request line is longer than the caller's limit
  bad_request_line,        ///< not "METHOD SP target SP HTTP/1.x" with single spaces
  bad_method,              ///< a method other than GET
  bad_http_version,        ///< a version other than HTTP/1.0 or HTTP/1.1
  bad_character,           ///< a byte outside 0x21..0x7e in a request target
  bad_path,                ///< the path is not the one expected (/announce, /scrape)
  bad_escape,              ///< '%' not followed by two hex digits
  duplicate_parameter,     ///< a known announce parameter given twice
  missing_info_hash,       ///< no info_hash parameter
  missing_peer_id,         ///< no peer_id parameter
  missing_port,            ///< no port parameter
  missing_uploaded,        ///< no uploaded parameter
  missing_downloaded,      ///< no downloaded parameter
  missing_left,            ///< no left parameter
  bad_info_hash,           ///< info_hash does not decode to exactly 20 bytes
  bad_peer_id,             ///< peer_id (or a response's "peer id") is not exactly 20 bytes
  bad_port,                ///< port not decimal or outside 1..65535 (0..65535 in responses)
  bad_number,              ///< a number that is empty or holds a non-digit
  number_overflow,         ///< a number with more than 20 digits or outside its type
  bad_compact,             ///< compact other than 0 or 1
  // Responses (client side).
  bad_bencode,             ///< the response body is not valid bencode
  not_a_dictionary,        ///< the response (or a peer entry) is not a dictionary
  wrong_type,              ///< a known key holds a value of the wrong kind
  missing_interval,        ///< no "interval" in a response without "failure reason"
  bad_interval,            ///< interval or min interval outside 1 s .. max_announce_interval
  missing_peers,           ///< neither "peers" nor "peers6" in a non-failure response
  bad_peers_length,        ///< compact "peers" (or "peers6") whose length is not a multiple of 6 (18)
  bad_peer_entry,          ///< a peer dictionary without "ip" or "port"
  bad_count,               ///< a negative "complete" or "incomplete"
  missing_files,           ///< a scrape response without "files"
  no_scrape,               ///< an announce URL whose last path part does not begin with "announce" (BEP 48)
};

/// A short English description of an error code, e.g. "invalid percent escape".
std::string_view to_string(tracker_errc code) noexcept;

using tracker_error = decode_error<tracker_errc>;

/// The longest announce interval a response may carry (longer ones are refused as
/// unreasonable): one week.
inline constexpr std::chrono::seconds max_announce_interval{7 * 24 * 3600};

/// The event an announce reports (BEP 3); `none` is a regular re-announce.
enum class announce_event { none, started, completed, stopped };

/// "started", "completed", "stopped", or "" for none.
std::string_view to_string(announce_event event) noexcept;

/// One announce, as the client sends it and the tracker server receives it.
struct announce_request {
  sha1_digest info_hash{};
  peer_id id{};                         ///< the announcing peer's id (sent as peer_id)
  std::uint16_t port = 0;               ///< the peer's listening TCP port, 1..65535
  std::uint64_t uploaded_bytes = 0;     ///< payload bytes sent since `started`
  std::uint64_t downloaded_bytes = 0;   ///< payload bytes received since `started`
  std::uint64_t left_bytes = 0;         ///< bytes still missing (0 for a seed)
  announce_event event = announce_event::none;
  bool compact = true;                  ///< ask for the compact peer list (6 bytes a peer)
  std::optional<int> numwant{};         ///< how many peers wanted, >= 0
  std::optional<std::string> key{};     ///< opaque client key, decoded bytes
  std::optional<std::string> ip{};      ///< address the client claims, decoded bytes
  friend bool operator==(const announce_request&, const announce_request&) = default;
};

/// A peer: address (IPv4 or IPv6), TCP port and, in the list form only, the peer's id.
struct peer_endpoint {
  ip_address ip{};
  std::uint16_t port = 0;
  std::optional<peer_id> id{};
  friend bool operator==(const peer_endpoint&, const peer_endpoint&) = default;
};

/// A tracker's answer to an announce. When `failure_reason` is set the announce was
/// refused and the other fields hold their defaults.
struct announce_response {
  std::optional<std::string> failure_reason{};
  std::optional<std::string> warning{};         ///< "warning message"
  std::chrono::seconds interval{0};             ///< re-announce after this long
  std::optional<std::chrono::seconds> min_interval{};
  std::optional<std::int64_t> complete{};       ///< seeds in the swarm
  std::optional<std::int64_t> incomplete{};     ///< leechers in the swarm
  std::vector<peer_endpoint> peers{};           ///< "peers" then "peers6", each in the tracker's order
  friend bool operator==(const announce_response&, const announce_response&) = default;
};

/// How the tracker server writes `peers`: compact (BEP 23) or a list of dictionaries.
enum class peer_form { compact, dictionaries };

/// How a tracker is reached: HTTP (BEP 3) or UDP (BEP 15).
enum class tracker_scheme { http, udp };

/// A parsed tracker URL: "http://host[:port][/path[?query]]" or "udp://host:port[/path]".
struct tracker_url {
  tracker_scheme scheme = tracker_scheme::http;
  std::string host{};                   ///< as written: dotted IPv4, "[IPv6]" or "localhost"
  ip_address address{};                 ///< the host's address (localhost is 127.0.0.1)
  std::uint16_t port = 80;
  std::string target = "/";             ///< path and query, as written; "/" when absent
};

/// Parses an announce URL: http:// or udp:// (scheme case-insensitive) with a dotted IPv4
/// host, an IPv6 host in brackets ("[::1]", RFC 3986 §3.2.2) or "localhost"
/// (case-insensitive) and a port 1..65535, optional for http (80), required for udp
/// (BEP 15 has no default); user info, zone ids, other names and a fragment ('#') are
/// refused. A udp URL's path (often "/announce") means nothing to the
/// protocol and is kept as written.
/// Errors: bad_url_scheme, bad_url_host, bad_url_port, bad_character (offsets into `url`).
result<tracker_url, tracker_error> parse_tracker_url(std::string_view url);

/// Percent-encodes bytes per RFC 3986: unreserved bytes (A-Z a-z 0-9 - . _ ~) as they
/// are, every other byte as "%XX" with upper-case hex.
std::string percent_encode(std::span<const std::byte> bytes);
std::string percent_encode(std::string_view bytes);

/// Decodes "%XX" escapes (either case); other bytes, '+' included, stand for themselves.
/// Error: bad_escape at the offset of the '%' when it is not followed by two hex digits.
result<std::string, tracker_error> percent_decode(std::string_view text);

/// The query of an announce, without '?': info_hash, peer_id, port, uploaded, downloaded,
/// left, event (omitted when none), compact (always), then numwant, key and ip when set.
std::string announce_query(const announce_request& request);

/// The request target for an announce: `url_target` (path, and maybe a query, from the
/// announce URL) followed by '?' (or '&' when it already has a query) and announce_query().
std::string announce_target(std::string_view url_target, const announce_request& request);

/// The path part of a request target: everything before the first '?'.
std::string_view target_path(std::string_view target) noexcept;

/// The parts of an HTTP request line that matter to the tracker server.
struct request_line {
  std::string_view target;   ///< points into the parsed line
  int minor_version = 1;     ///< 0 for HTTP/1.0, 1 for HTTP/1.1
};

/// Parses an HTTP request line without its CRLF, "GET SP target SP HTTP/1.x" (a single
/// trailing '\r' is tolerated). The result points into `line`.
/// Errors: request_line_too_long (offset max_bytes) when line.size() > max_bytes, then
/// bad_request_line, bad_method (offset 0), bad_character (a byte outside 0x21..0x7e in
/// the target), bad_http_version, each with the offset of the fault in `line`.
result<request_line, tracker_error> parse_request_line(std::string_view line,
                                                       std::size_t max_bytes = 8192);

/// Parses the target of an announce request ("/announce?info_hash=...&..."). The path must
/// be exactly /announce. Required: info_hash and peer_id (20 bytes after decoding), port
/// (1..65535), uploaded, downloaded and left (decimal, at most 20 digits, fit 64 bits).
/// Optional: event (an unknown value counts as none), compact (0 or 1; absent means 1,
/// as most trackers do and every client sends compact=1 anyway), numwant (fits int), key,
/// ip. Unknown parameters are ignored; a known one twice is refused. Offsets index `target`:
/// of the bad byte, of the bad value, or target.size() for a missing parameter.
result<announce_request, tracker_error> parse_announce_target(std::string_view target);

/// Encodes a response body. With failure_reason set: {"failure reason": ...} alone.
/// Otherwise interval, min interval, complete, incomplete, warning message when set and
/// peers in `form`: compact drops peer ids and writes IPv4 peers to "peers" (always there,
/// maybe empty) and IPv6 peers to "peers6" (only when there are some); dictionaries hold
/// "ip" (dotted IPv4 or IPv6 text), "port" and "peer id", both families in "peers".
/// Precondition: a non-failure response has interval >= 1 s.
std::string encode_announce_response(const announce_response& response, peer_form form);

/// Encodes a failure response: {"failure reason": reason}.
std::string encode_failure(std::string_view reason);

/// Limits for decoding tracker responses; a response is small, so they are tight.
inline constexpr bencode_limits tracker_response_limits{
    .max_depth = 8, .max_tokens = 1'000'000, .max_bytes = 8u << 20};

/// Parses a bencoded response body. A response carrying "failure reason" (a string) is a
/// success value with failure_reason set and nothing else read. Otherwise "interval" is
/// required (1 s .. max_announce_interval), and "peers" or "peers6" or both. "peers" is
/// either a compact string (6 bytes per peer, address and port in network order) or a list
/// of dictionaries with "ip" (string), "port" (integer 0..65535) and optional "peer id"
/// (20 bytes); list entries whose ip is neither a dotted IPv4 nor an IPv6 address (a host
/// name) are skipped. "peers6" (BEP 7) is a compact string of 18 bytes per peer (IPv6
/// address, port). Unknown keys are ignored.
/// Offsets index `body`: the start of the offending value, or for a missing key the
/// dictionary's closing 'e'; bad_bencode carries the bencode decoder's offset.
result<announce_response, tracker_error> parse_announce_response(
    std::string_view body, const bencode_limits& limits = tracker_response_limits);
result<announce_response, tracker_error> parse_announce_response(
    std::span<const std::byte> body, const bencode_limits& limits = tracker_response_limits);

/// The info-hashes asked for by a scrape (BEP 48); empty means "all torrents".
struct scrape_request {
  std::vector<sha1_digest> info_hashes{};
  friend bool operator==(const scrape_request&, const scrape_request&) = default;
};

/// Parses the target of a scrape request ("/scrape?info_hash=...&info_hash=..."): path
/// exactly /scrape, info_hash repeated for each torrent (20 bytes each), others ignored.
/// Errors: bad_character, bad_path, bad_escape, bad_info_hash, with offsets into `target`.
result<scrape_request, tracker_error> parse_scrape_target(std::string_view target);

/// One torrent's counts in a scrape response.
struct scrape_entry {
  sha1_digest info_hash{};
  std::int64_t complete = 0;     ///< seeds
  std::int64_t downloaded = 0;   ///< completed downloads ever
  std::int64_t incomplete = 0;   ///< leechers
};

/// Encodes a scrape response: {"files": {info_hash: {complete, downloaded, incomplete}}}.
/// Precondition: counts >= 0 and info-hashes distinct.
std::string encode_scrape_response(std::span<const scrape_entry> entries);

/// The scrape request target for an announce URL's target (BEP 48): the path's last part
/// must begin with "announce", which becomes "scrape" (the rest of it and the query are
/// kept), then info_hash=... for each hash. Error no_scrape (offset: the last part's start)
/// when it does not: that tracker offers no scrape.
result<std::string, tracker_error> scrape_target(std::string_view url_target, std::span<const sha1_digest> info_hashes);

/// A tracker's answer to a scrape: its failure reason, or one entry per torrent it knows.
struct scrape_response {
  std::optional<std::string> failure_reason{};
  std::vector<scrape_entry> entries{};  ///< in the order of the response's keys (sorted by hash)
};

/// Parses a bencoded scrape body: "failure reason", or "files" mapping 20-byte info-hashes
/// to dictionaries whose "complete", "downloaded" and "incomplete" (each optional, 0 when
/// absent) are integers >= 0; other keys are ignored.
/// Errors: bad_bencode, not_a_dictionary, wrong_type, missing_files, bad_info_hash,
/// bad_count, with the offset in `body`.
result<scrape_response, tracker_error> parse_scrape_response(std::string_view body,
                                                             const bencode_limits& limits = tracker_response_limits);

}  // namespace p2pdist::bt
