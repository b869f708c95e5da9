#pragma once
// The extension protocol (BEP 10) and the metadata exchange over it (BEP 9, ut_metadata):
// the codecs of the extended handshake and of ut_metadata's request, data and reject
// messages. Bytes in, bytes out; untrusted input returns an error code and the offset of
// the offending byte in the message's payload (the bytes after the extended message id).
//
// An extended message is wire message 20: one byte of extended id (0: the extended
// handshake; otherwise the id the receiver chose for that extension in its own
// handshake's `m` dictionary), then a payload. The handshake is a bencoded dictionary:
// `m` maps extension names to ids, `metadata_size` (BEP 9) the info dictionary's length,
// `p` the sender's listen port, `v` its name. A ut_metadata message is a bencoded
// dictionary {msg_type, piece[, total_size]}, followed for data by the piece's bytes:
// the info dictionary cut in 16 KiB pieces.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loopback/protocol/result.hpp"

namespace p2pdist::bt {

/// The extension protocol's flag in the handshake (BEP 10): reserved byte 5, bit 0x10.
inline constexpr std::size_t extension_protocol_byte = 5;
inline constexpr std::byte extension_protocol_bit{0x10};
/// The wire message id of every extended message.
inline constexpr std::uint8_t extended_message_id = 20;
/// The extended id of the extended handshake.
inline constexpr std::uint8_t extended_handshake_id = 0;
/// The name of the metadata extension (BEP 9) in `m`.
inline constexpr std::string_view ut_metadata_name = "ut_metadata";
/// The id we give ut_metadata in our handshake: what peers send us its messages under.
inline constexpr std::uint8_t our_ut_metadata_id = 1;
/// The metadata is exchanged in pieces of 16 KiB (the last may be shorter).
inline constexpr std::uint32_t metadata_piece_bytes = 16 * 1024;
/// The largest metadata_size accepted: an info dictionary of 16 MiB holds about 800 000
/// piece hashes, far beyond any torrent this engine shares.
inline constexpr std::uint64_t max_metadata_bytes = 16u << 20;

/// Number of 16 KiB metadata pieces of `total_bytes`.
constexpr std::uint32_t metadata_piece_count(std::uint64_t total_bytes) noexcept {
  return static_cast<std::uint32_t>((total_bytes + metadata_piece_bytes - 1) / metadata_piece_bytes);
}

/// The extended handshake's fields this engine reads and writes.
struct extension_handshake {
  /// `m`: extension name to the id the sender wants its messages under (id 0, which
  /// disables an extension, is left out).
  std::map<std::string, std::uint8_t, std::less<>> messages{};
  std::optional<std::uint64_t> metadata_size{};  ///< BEP 9: the info dictionary's length
  std::optional<std::uint16_t> listen_port{};    ///< `p`
  std::string client{};                          ///< `v`, e.g. "p2pdist"

  /// The sender's id for extension `name`, or 0 when it does not speak it.
  [[nodiscard]] std::uint8_t id_of(std::string_view name) const {
    const auto it = messages.find(name);
    return it == messages.end() ? 0 : it->second;
  }
  friend bool operator==(const extension_handshake&, const extension_handshake&) = default;
};

/// The three ut_metadata messages (BEP 9's msg_type).
enum class metadata_type : std::uint8_t { request = 0, data = 1, reject = 2 };

/// One ut_metadata message.
struct metadata_message {
  metadata_type type = metadata_type::request;
  std::uint32_t piece = 0;
  std::uint64_t total_size = 0;        ///< data only: the whole metadata's length
  std::span<const std::byte> data{};   ///< data only: the piece's bytes (into the payload)
};

/// Why an extended message was refused.
enum class extension_errc {
  bad_bencode = 1,     ///< the payload does not start with a valid bencoded value
  not_a_dictionary,    ///< the value is not a dictionary
  bad_messages,        ///< handshake: `m` is not a dictionary of integers 0..255
  bad_metadata_size,   ///< handshake: metadata_size is not an integer from 1 to max_metadata_bytes
  bad_listen_port,     ///< handshake: `p` is an integer outside 1 to 65535 (not an integer: ignored)
  bad_msg_type,        ///< ut_metadata: msg_type missing or not 0, 1 or 2
  bad_piece,           ///< ut_metadata: piece missing, negative, or past the metadata's end
  bad_total_size,      ///< ut_metadata data: total_size missing or not 1 to max_metadata_bytes
  bad_data_length,     ///< ut_metadata data: the bytes after the dictionary are not the piece's size
  trailing_bytes,      ///< handshake, request or reject: bytes after the dictionary
};

/// A short English description, e.g. "ut_metadata: piece past the metadata's end".
std::string_view to_string(extension_errc code) noexcept;

using extension_error = decode_error<extension_errc>;

/// Decodes an extended handshake's payload. Unknown keys are ignored, and so are `v` and
/// `p` when mistyped (a client's name is advice); `m` and metadata_size are checked.
result<extension_handshake, extension_error> decode_extension_handshake(std::span<const std::byte> payload);
/// The payload of an extended handshake (without the extended id byte).
std::vector<std::byte> encode_extension_handshake(const extension_handshake& handshake);

/// Decodes a ut_metadata payload. A data message's piece must lie within total_size, and
/// its bytes must be that piece's size exactly (16 KiB, or the rest for the last piece).
/// data points into `payload`.
result<metadata_message, extension_error> decode_metadata_message(std::span<const std::byte> payload);
/// The payload of a ut_metadata message (for data: the dictionary, then message.data).
std::vector<std::byte> encode_metadata_message(const metadata_message& message);

}  // namespace p2pdist::bt
