#pragma once
// wire: the BitTorrent v1 peer wire codec (BEP 3, and the fast extension's five messages,
// BEP 6). Encoders for the handshake and every
// message, and an incremental decoder fed arbitrary chunks of a peer's byte stream: first
// the 68-byte handshake, then length-prefixed messages. Pure: no socket, no clock.
//
// Stream layout: handshake = 19, "BitTorrent protocol", 8 reserved bytes, info-hash (20),
// peer id (20). Message = 4-byte big-endian length, then `length` bytes: a 1-byte id and
// its payload; length 0 is a keep-alive. All integers on the wire are big-endian uint32.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "loopback/protocol/bitfield.hpp"
#include "loopback/protocol/result.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// Largest length prefix (id + payload, in bytes) the decoder accepts by default:
/// 1 MiB + 16. A bitfield of 1 MiB covers 8 Mi pieces (2 TiB at 256 KiB pieces), and a
/// piece message of up to 1 MiB of data plus its 9-byte header fits too; a 16 KiB block
/// (16 393 bytes) fits with room to spare. Anything longer is refused before buffering.
inline constexpr std::uint32_t max_message_bytes = (1u << 20) + 16;

/// Size of the handshake on the wire, in bytes.
inline constexpr std::size_t handshake_bytes = 68;

/// Size of a piece message's header on the wire (length 4, id 1, index 4, begin 4), in bytes.
inline constexpr std::size_t piece_header_bytes = 13;

/// The protocol string that follows the length byte 19 in a handshake.
inline constexpr std::string_view protocol_name = "BitTorrent protocol";

/// The fast extension's flag in the handshake (BEP 6): reserved byte 7, bit 0x04. Its
/// messages are valid on a connection only when both handshakes carry it.
inline constexpr std::size_t fast_extension_byte = 7;
inline constexpr std::byte fast_extension_bit{0x04};

/// Message ids of BEP 3, BEP 6 and BEP 10. Ids outside this list are reported as msg::unknown.
enum class message_id : std::uint8_t {
  choke = 0,
  unchoke = 1,
  interested = 2,
  not_interested = 3,
  have = 4,
  bitfield = 5,
  request = 6,
  piece = 7,
  cancel = 8,
  suggest_piece = 13,  ///< BEP 6
  have_all = 14,       ///< BEP 6
  have_none = 15,      ///< BEP 6
  reject_request = 16, ///< BEP 6
  allowed_fast = 17,   ///< BEP 6
  extended = 20,       ///< BEP 10: an extended message (extended id byte, then its payload)
};

/// The handshake: reserved bits (extension flags, passed through as sent), the torrent's
/// info-hash and the sender's peer id.
struct handshake {
  std::array<std::byte, 8> reserved{};
  sha1_digest info_hash{};
  peer_id id{};
  friend bool operator==(const handshake&, const handshake&) = default;
};

/// True when the handshake offers the fast extension (BEP 6).
constexpr bool offers_fast_extension(const handshake& h) noexcept {
  return (h.reserved[fast_extension_byte] & fast_extension_bit) != std::byte{0};
}

/// The messages after the handshake, one small struct each, with BEP 3's field names:
/// `index` is a piece index, `begin` an offset in that piece and `length` a block length,
/// both in bytes; all uint32 as on the wire.
namespace msg {

/// Length 0: keeps the connection open.
struct keep_alive {
  friend bool operator==(const keep_alive&, const keep_alive&) = default;
};
/// The sender will not upload to us for now.
struct choke {
  friend bool operator==(const choke&, const choke&) = default;
};
/// The sender will answer our requests.
struct unchoke {
  friend bool operator==(const unchoke&, const unchoke&) = default;
};
/// The sender wants pieces we have.
struct interested {
  friend bool operator==(const interested&, const interested&) = default;
};
/// The sender no longer wants anything from us.
struct not_interested {
  friend bool operator==(const not_interested&, const not_interested&) = default;
};
/// The sender now has piece `index`.
struct have {
  std::uint32_t index = 0;
  friend bool operator==(const have&, const have&) = default;
};
/// The pieces the sender has. The decoder checks its size and spare bits, so it arrives
/// as a validated bt::bitfield (one copy of ceil(pieces / 8) bytes, once per connection).
struct bitfield {
  bt::bitfield pieces;
  friend bool operator==(const bitfield&, const bitfield&) = default;
};
/// Asks for `length` bytes of piece `index` from byte `begin` of that piece.
struct request {
  std::uint32_t index = 0;
  std::uint32_t begin = 0;   ///< offset in the piece, bytes
  std::uint32_t length = 0;  ///< bytes, 1 .. the decoder's max_request_bytes
  friend bool operator==(const request&, const request&) = default;
};
/// A block of data: bytes [begin, begin + data.size()) of piece `index`.
/// From the decoder, `data` points into the decoder's buffer and stays valid until the next
/// call of a non-const member of that decoder (feed, prepare, commit, next): no copy is
/// made of a block on its way from the socket to the caller.
struct piece {
  std::uint32_t index = 0;
  std::uint32_t begin = 0;  ///< offset in the piece, bytes
  std::span<const std::byte> data;
  /// Equal when index, offset and the bytes of data are equal.
  friend bool operator==(const piece& a, const piece& b) noexcept;
};
/// Withdraws an earlier request with the same fields.
struct cancel {
  std::uint32_t index = 0;
  std::uint32_t begin = 0;   ///< offset in the piece, bytes
  std::uint32_t length = 0;  ///< bytes
  friend bool operator==(const cancel&, const cancel&) = default;
};
/// BEP 6: the sender advises us to download piece `index` (it has it cached, or it is
/// super seeding). Advisory only.
struct suggest_piece {
  std::uint32_t index = 0;
  friend bool operator==(const suggest_piece&, const suggest_piece&) = default;
};
/// BEP 6: in place of a bitfield, the sender has every piece.
struct have_all {
  friend bool operator==(const have_all&, const have_all&) = default;
};
/// BEP 6: in place of a bitfield, the sender has no piece.
struct have_none {
  friend bool operator==(const have_none&, const have_none&) = default;
};
/// BEP 6: the sender will not answer our request with these fields.
struct reject_request {
  std::uint32_t index = 0;
  std::uint32_t begin = 0;   ///< offset in the piece, bytes
  std::uint32_t length = 0;  ///< bytes
  friend bool operator==(const reject_request&, const reject_request&) = default;
};
/// BEP 6: we may request piece `index` from the sender even while it chokes us.
struct allowed_fast {
  std::uint32_t index = 0;
  friend bool operator==(const allowed_fast&, const allowed_fast&) = default;
};
/// A message whose id none of BEP 3, 6 and 10 defines (9 port, ...). Not an
/// error: the caller may ignore it. `payload` (without the id byte) points into the
/// decoder's buffer, with the same lifetime as msg::piece::data.
struct unknown {
  std::uint8_t id = 0;
  std::span<const std::byte> payload;
  /// Equal when the ids and the bytes of the payloads are equal.
  friend bool operator==(const unknown& a, const unknown& b) noexcept;
};

/// An extended message (BEP 10): the extended id (0: the extended handshake) and the
/// payload after it, copied (extended messages are few and small; see extension.hpp).
struct extended {
  std::uint8_t id = 0;
  std::vector<std::byte> payload{};
  friend bool operator==(const extended&, const extended&) = default;
};

}  // namespace msg

/// One item of a peer's stream: the handshake (always first) or a message.
using wire_event = std::variant<handshake, msg::keep_alive, msg::choke, msg::unchoke, msg::interested,
                                msg::not_interested, msg::have, msg::bitfield, msg::request, msg::piece,
                                msg::cancel, msg::suggest_piece, msg::have_all, msg::have_none,
                                msg::reject_request, msg::allowed_fast, msg::unknown, msg::extended>;

/// A short name for logs: "handshake", "keep-alive", "choke", ..., "unknown".
std::string_view event_name(const wire_event& event) noexcept;
/// The same by the alternative's index in wire_event (event.index()); "unknown" past the end.
std::string_view event_name(std::size_t index) noexcept;

// ---------------------------------------------------------------------------------------
// Encoders: each appends the exact wire bytes to `out`.

/// Appends the 68-byte handshake.
void wire_append(const handshake& value, std::vector<std::byte>& out);
/// Appends 4 bytes (length 0).
void wire_append(const msg::keep_alive& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::choke& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::unchoke& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::interested& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::not_interested& value, std::vector<std::byte>& out);
/// Appends 9 bytes.
void wire_append(const msg::have& value, std::vector<std::byte>& out);
/// Appends 5 + ceil(pieces / 8) bytes. Precondition: that fits a uint32 length.
void wire_append(const msg::bitfield& value, std::vector<std::byte>& out);
/// Appends 17 bytes.
void wire_append(const msg::request& value, std::vector<std::byte>& out);
/// Appends the 13-byte header and the data. Precondition: 9 + data.size() fits a uint32.
void wire_append(const msg::piece& value, std::vector<std::byte>& out);
/// Appends 17 bytes.
void wire_append(const msg::cancel& value, std::vector<std::byte>& out);
/// Appends 9 bytes.
void wire_append(const msg::suggest_piece& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::have_all& value, std::vector<std::byte>& out);
/// Appends 5 bytes.
void wire_append(const msg::have_none& value, std::vector<std::byte>& out);
/// Appends 17 bytes.
void wire_append(const msg::reject_request& value, std::vector<std::byte>& out);
/// Appends 9 bytes.
void wire_append(const msg::allowed_fast& value, std::vector<std::byte>& out);
/// Appends 5 + payload.size() bytes. Precondition: 1 + payload.size() fits a uint32.
void wire_append(const msg::unknown& value, std::vector<std::byte>& out);
/// Appends an extended message: length, id 20, the extended id, the payload.
void wire_append(const msg::extended& value, std::vector<std::byte>& out);
/// Appends whichever item `event` holds.
void wire_append(const wire_event& event, std::vector<std::byte>& out);
/// The number of bytes wire_append(event, out) appends, without encoding it.
[[nodiscard]] std::size_t wire_size(const wire_event& event) noexcept;

/// The 13-byte header of a piece message carrying `data_bytes` bytes of piece `index` from
/// offset `begin`: send it, then the block itself, without copying the block (scatter/gather).
/// Precondition: data_bytes <= 2^32 - 10.
std::array<std::byte, piece_header_bytes> piece_header(std::uint32_t index, std::uint32_t begin,
                                                        std::uint32_t data_bytes) noexcept;

// ---------------------------------------------------------------------------------------
// Decoder.

/// Why a peer's stream was refused. The offset reported with each code is a byte offset
/// in the whole stream since the decoder was constructed, pointing as said below.
enum class wire_errc {
  bad_protocol_length = 1,  ///< first byte is not 19 (offset 0); seen at once
  bad_protocol_string,      ///< not "BitTorrent protocol" (offset of the first wrong byte)
  message_too_long,         ///< length prefix above the limit (offset of the prefix)
  bad_message_length,       ///< length does not fit the id, e.g. have != 5 (offset of the prefix)
  bad_bitfield_size,        ///< bitfield payload != ceil(pieces / 8) bytes (offset of the prefix)
  bitfield_spare_bits,      ///< a spare bit after the last piece is set (offset of the last byte)
  piece_out_of_range,       ///< piece index >= piece count: have, request, piece, cancel,
                            ///< suggest, reject, allowed fast (offset of the index field)
  bad_block_length,         ///< request/cancel/reject length 0 or above max_request_bytes
                            ///< (offset of the length field)
  block_past_piece_end,     ///< begin + length beyond that piece's size: request, piece,
                            ///< cancel, reject (offset of the begin field)
};

/// A short English description of an error code, e.g. "length prefix above the limit".
std::string_view to_string(wire_errc code) noexcept;

using wire_error = decode_error<wire_errc>;

/// What the decoder needs to know of the torrent, and its limits.
struct wire_config {
  std::uint64_t piece_bytes = 0;  ///< nominal piece length, bytes; > 0
  std::uint64_t total_bytes = 0;  ///< file length, bytes; the last piece may be shorter
  std::uint32_t max_message_bytes = bt::max_message_bytes;  ///< largest length prefix accepted
  std::uint32_t max_request_bytes = block_bytes;  ///< largest request/cancel length (16 KiB)
  /// A peer asked only for the torrent's metadata (BEP 9), whose size is not known yet:
  /// every message but an extended one comes as msg::unknown, unchecked (piece_bytes and
  /// total_bytes are then unused).
  bool metadata_only = false;
};

/// Incremental decoder of one peer's stream: the handshake, then messages. Feed bytes in
/// chunks of any size, then call next() until it returns nullopt (needs more bytes) or an
/// error. After an error it stays failed: next() returns the same error again.
///
/// Memory: the decoder holds only bytes not yet returned as events. A length prefix is
/// checked as soon as its 4 bytes (and the id byte) arrive, so a peer cannot make it wait
/// for more than 4 + max_message_bytes bytes; when the caller drains next() between feeds,
/// the buffer never exceeds that plus the size of one fed chunk. Consumed bytes are
/// dropped when more are fed (the buffer is compacted, not grown). With feed_view the
/// decoder reads the caller's bytes in place and keeps only an incomplete message's tail;
/// release() frees its buffer once it holds nothing.
///
/// Left to the caller, as session state rather than framing: that a bitfield (or have all,
/// have none) comes only right after the handshake, that a piece answers a request we sent
/// (its data length is bounded by the piece's end and max_message_bytes, not by
/// max_request_bytes), and that BEP 6's messages come only where both handshakes offered it.
///
/// Not thread-safe; use it from the connection's own strand.
class wire_decoder {
 public:
  /// Precondition: config.piece_bytes > 0 (or config.total_bytes == 0).
  explicit wire_decoder(const wire_config& config);

  /// Appends bytes of the stream. Invalidates spans from earlier events.
  void feed(std::span<const std::byte> bytes);

  /// Zero-copy feeding: a writable area of exactly `max_bytes` at the end of the buffer, e.g.
  /// for a socket's read_some; then commit(n) with the number of bytes written there.
  /// Invalidates spans from earlier events and from an earlier prepare().
  std::span<std::byte> prepare(std::size_t max_bytes);
  /// Appends the first `bytes` of the area from the last prepare(). Precondition: bytes <=
  /// the size of that area, and no other call on this decoder in between.
  void commit(std::size_t bytes);

  /// Zero-copy feeding from the caller's memory (e.g. one read buffer that many connections
  /// share): when the decoder holds nothing, next() decodes `bytes` in place and events
  /// point into them; the unparsed tail (an incomplete message) is copied into the
  /// decoder's own buffer when next() runs out. Otherwise the bytes are appended as by
  /// feed(). Precondition: `bytes` stay valid and unchanged until next() has returned
  /// nullopt or an error (call next() until then before reusing them).
  void feed_view(std::span<const std::byte> bytes);

  /// Frees the decoder's own buffer if it holds no bytes (an idle connection then costs
  /// no buffer memory). Invalidates spans from earlier events.
  void release() noexcept;

  /// The next item of the stream: nullopt when more bytes are needed, or the error that
  /// closes this peer. Spans in the event stay valid until the next call of feed, prepare,
  /// commit or next.
  result<std::optional<wire_event>, wire_error> next();

  /// Number of pieces of the torrent: ceil(total_bytes / piece_bytes).
  std::uint64_t piece_count() const noexcept { return piece_count_; }
  /// Bytes fed but not yet returned as events (the decoder's unparsed data).
  std::size_t buffered_bytes() const noexcept { return end_ - begin_; }
  /// Bytes the buffer holds room for (its memory), whether in use or not.
  std::size_t capacity_bytes() const noexcept { return capacity_; }
  /// Bytes of the stream returned as events so far (the offset of the next item).
  std::uint64_t consumed_bytes() const noexcept { return base_offset_ + begin_; }
  /// Whether the decoder has failed (every later next() returns that error).
  bool failed() const noexcept { return error_.has_value(); }

 private:
  result<std::optional<wire_event>, wire_error> fail(wire_errc code, std::uint64_t offset);
  result<std::optional<wire_event>, wire_error> next_handshake();
  result<std::optional<wire_event>, wire_error> next_message();
  /// The error of a length prefix that does not fit message `id` (checked as soon as the
  /// id arrives, before the payload); nullopt when it fits. Precondition: length >= 1.
  std::optional<wire_errc> length_error(std::uint8_t id, std::uint32_t length) const noexcept;
  /// Decodes the whole message of `length` bytes (after its prefix) at `p`, the stream's
  /// `offset`, whose length fits its id; fails on a bad field. Does not consume it.
  result<std::optional<wire_event>, wire_error> decode_message(std::uint8_t id, std::uint32_t length,
                                                               const std::byte* p, std::uint64_t offset);
  /// Size in bytes of piece `index`; precondition index < piece_count_.
  std::uint64_t piece_size(std::uint64_t index) const noexcept;
  /// Makes room for `bytes` more at end_, compacting first; returns the write position.
  std::byte* reserve_tail(std::size_t bytes);
  /// The bytes [begin_, end_) index: the caller's (feed_view) or the decoder's own buffer.
  const std::byte* data() const noexcept { return view_ != nullptr ? view_ : buf_.get(); }
  /// Leaves the caller's bytes: copies their unparsed tail into the decoder's own buffer.
  void stash_view();
  /// Drops every byte of data(), unread ones included: the next byte goes at its front.
  void rewind() noexcept;

  wire_config config_;
  std::uint64_t piece_count_ = 0;
  std::uint64_t last_piece_bytes_ = 0;
  std::unique_ptr<std::byte[]> buf_;  ///< the decoder's own bytes (not zero-filled)
  std::size_t capacity_ = 0;          ///< bytes buf_ holds room for
  const std::byte* view_ = nullptr;   ///< the caller's bytes from feed_view, until stashed
  std::size_t begin_ = 0;             ///< data() is [begin_, end_)
  std::size_t end_ = 0;
  std::size_t prepared_ = 0;       ///< size of the area handed out by prepare()
  std::uint64_t base_offset_ = 0;  ///< stream offset of data()[0]
  bool handshake_done_ = false;
  std::optional<wire_error> error_;
};

}  // namespace p2pdist::bt
