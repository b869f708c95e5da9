#pragma once
// Metainfo (.torrent files, BEP 3): parse and create single-file torrents.
//
// A torrent is `d 8:announce <url> 4:info d 6:length <n> 4:name <s> 12:piece length <n>
// 6:pieces <20 bytes per piece> e e`. The info-hash is the SHA-1 of the exact bytes of the
// `info` value as they stand in the file (never of a re-encoding). Unknown keys are ignored.
//
// Piece length: this engine accepts a multiple of 16 KiB (one block) from 16 KiB to 64 MiB.
// Real clients accept any multiple of 16 KiB and mktorrent writes powers of two from
// 32 KiB; a piece length that is not a whole number of blocks, or above 64 MiB (a single
// piece would then be too large to hold and verify in memory), is refused as absurd.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/result.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// Smallest piece length accepted: one 16 KiB block.
inline constexpr std::uint32_t min_piece_bytes = block_bytes;
/// Largest piece length accepted: 64 MiB.
inline constexpr std::uint32_t max_piece_bytes = 64u << 20;

/// True when `piece_bytes` is a multiple of 16 KiB within [min_piece_bytes, max_piece_bytes].
constexpr bool is_valid_piece_bytes(std::uint64_t piece_bytes) noexcept {
  return piece_bytes >= min_piece_bytes && piece_bytes <= max_piece_bytes &&
         piece_bytes % block_bytes == 0;
}

/// True when `name` can only name one file inside the download directory: not empty,
/// not "." or "..", and holding no '/', '\\' or NUL byte.
bool is_safe_name(std::string_view name) noexcept;

/// A parsed single-file torrent.
struct metainfo {
  std::string announce{};                 ///< tracker URL; empty when the file has none
  std::string name{};                     ///< file name, is_safe_name() holds
  std::uint32_t piece_bytes = 0;          ///< piece length, is_valid_piece_bytes() holds
  std::uint64_t total_bytes = 0;          ///< file length, > 0
  std::vector<sha1_digest> piece_hashes{};  ///< one per piece, ceil(total / piece) of them
  sha1_digest info_hash{};                ///< SHA-1 of the `info` value's bytes in the file

  /// Number of pieces.
  std::uint32_t piece_count() const noexcept {
    return static_cast<std::uint32_t>(piece_hashes.size());
  }
  /// Size in bytes of piece `index` (the last one may be shorter). Precondition:
  /// index < piece_count().
  std::uint32_t piece_size(std::uint32_t index) const noexcept;
  /// Offset in bytes of piece `index` in the file. Precondition: index < piece_count().
  std::uint64_t piece_offset(std::uint32_t index) const noexcept {
    return std::uint64_t{index} * piece_bytes;
  }
};

/// Why a .torrent file was refused. Bencode errors are carried too, as
/// from_bencode(bencode_errc) (see bencode_cause()); the offset of a decode_error is
/// that of the offending value in the file (the enclosing dictionary for a missing key).
enum class metainfo_errc : int {
  not_a_dictionary = 1,       ///< the top-level value is not a dictionary
  announce_not_string,        ///< `announce` is present but not a string
  missing_info,               ///< no `info` key
  info_not_dictionary,        ///< `info` is not a dictionary
  multi_file,                 ///< `info` holds `files`: multi-file torrents are not supported
  missing_name,               ///< no `name` in `info`
  name_not_string,            ///< `name` is not a string
  empty_name,                 ///< `name` is empty
  unsafe_name,                ///< `name` is "." or "..", or holds '/', '\\' or NUL
  missing_piece_length,       ///< no `piece length` in `info`
  piece_length_not_integer,   ///< `piece length` is not an integer
  bad_piece_length,           ///< `piece length` fails is_valid_piece_bytes()
  missing_pieces,             ///< no `pieces` in `info`
  pieces_not_string,          ///< `pieces` is not a string
  pieces_not_multiple_of_20,  ///< `pieces` is not a whole number of 20-byte hashes
  missing_length,             ///< no `length` in `info`
  length_not_integer,         ///< `length` is not an integer
  bad_length,                 ///< `length` is zero or negative
  piece_count_mismatch,       ///< number of hashes differs from ceil(length / piece length)
};

/// The value from which metainfo_errc codes wrap bencode errors: from_bencode(c) is
/// metainfo_bencode_base + c. No named metainfo_errc reaches this value.
inline constexpr int metainfo_bencode_base = 1000;

/// The metainfo error code that carries bencode error `code`.
constexpr metainfo_errc from_bencode(bencode_errc code) noexcept {
  return static_cast<metainfo_errc>(metainfo_bencode_base + static_cast<int>(code));
}
/// The bencode error carried by `code`, or std::nullopt for a metainfo error proper.
constexpr std::optional<bencode_errc> bencode_cause(metainfo_errc code) noexcept {
  const int v = static_cast<int>(code);
  if (v <= metainfo_bencode_base) return std::nullopt;
  return static_cast<bencode_errc>(v - metainfo_bencode_base);
}

using metainfo_error = decode_error<metainfo_errc>;

/// A short English description, e.g. "pieces is not a multiple of 20 bytes" or, for a
/// bencode error, "bencode: integer has a leading zero".
std::string to_string(metainfo_errc code);
/// One line for a user: the description and the offset, e.g.
/// "bencode: integer has a leading zero at byte 17".
std::string describe(const metainfo_error& error);

/// Parses a single-file .torrent from untrusted bytes. Never throws on input (only
/// std::bad_alloc, or std::runtime_error from OpenSSL); bencode limits are the defaults,
/// so files above 64 MiB are refused as bencode too_large.
result<metainfo, metainfo_error> parse_metainfo(std::span<const std::byte> input);
/// Parses the bytes of `input`.
result<metainfo, metainfo_error> parse_metainfo(std::string_view input);

/// What create_torrent writes besides the data's hashes.
struct create_options {
  std::string announce{};                ///< tracker URL; empty: no `announce` key
  std::string name{};                    ///< file name; must satisfy is_safe_name()
  std::uint32_t piece_bytes = 256 * 1024;  ///< must satisfy is_valid_piece_bytes()
};

/// The bencoded .torrent for `data` (keys: announce, info{length, name, piece length,
/// pieces}). Throws std::invalid_argument when `data` is empty, the name is unsafe or the
/// piece length invalid.
std::string create_torrent(std::span<const std::byte> data, const create_options& options);

/// Like create_torrent, for `total_bytes` bytes read through `read(offset, out)` one piece
/// at a time, so that the data is never held whole (generated content). Throws
/// std::invalid_argument as create_torrent does.
std::string create_torrent_from(std::uint64_t total_bytes,
                                const std::function<void(std::uint64_t offset, std::span<std::byte> out)>& read,
                                const create_options& options);

/// Like create_torrent, reading the file at `path` one piece at a time (never all of it
/// in memory). An empty options.name means the file's base name. Throws std::system_error
/// naming the file on an I/O failure, std::invalid_argument as create_torrent does (an
/// empty file included).
std::string create_torrent_from_file(const std::filesystem::path& path,
                                     const create_options& options);

}  // namespace p2pdist::bt
