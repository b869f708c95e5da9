#pragma once
// Metainfo (.torrent files, BEP 3): parse and create single-file and multi-file torrents.
//
// A single-file torrent is `d 8:announce <url> 4:info d 6:length <n> 4:name <s>
// 12:piece length <n> 6:pieces <20 bytes per piece> e e`. A multi-file torrent has, instead
// of `length`, `5:files l d 6:length <n> 4:path l <component>... e e ... e`: the files
// laid end to end in that order form one stream of bytes that the pieces cut, so a piece
// may span several files; `name` is then the directory that holds them. The info-hash is
// the SHA-1 of the exact bytes of the `info` value as they stand in the file (never of a
// re-encoding). Unknown keys are ignored (BEP 47's `attr` included: a padding file is
// kept as an ordinary file of zeros).
//
// Every path component of a multi-file torrent must be a safe name (is_safe_name), no two
// files may have the same path, and no file's path may be a directory of another's, so that
// every file has one place inside the download directory that no other file claims.
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
#include <utility>
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

/// One file of a torrent: where its bytes lie in the torrent's stream.
struct file_entry {
  /// Path components below the torrent's directory (multi-file), each is_safe_name(); for a
  /// single-file torrent the one component is the torrent's name.
  std::vector<std::string> path{};
  std::uint64_t length = 0;  ///< bytes; may be zero in a multi-file torrent
  std::uint64_t offset = 0;  ///< offset of its first byte in the torrent's data

  /// The components joined by '/', e.g. "docs/a.txt".
  [[nodiscard]] std::string joined() const;
  friend bool operator==(const file_entry&, const file_entry&) = default;
};

/// A parsed torrent.
struct metainfo {
  std::string announce{};                 ///< tracker URL; empty when the file has none
  std::string name{};                     ///< file (or directory) name, is_safe_name() holds
  std::uint32_t piece_bytes = 0;          ///< piece length, is_valid_piece_bytes() holds
  std::uint64_t total_bytes = 0;          ///< length of the data (all files), > 0
  std::vector<sha1_digest> piece_hashes{};  ///< one per piece, ceil(total / piece) of them
  sha1_digest info_hash{};                ///< SHA-1 of the `info` value's bytes in the file
  /// The `info` value's bytes as they stand in the file: what ut_metadata (BEP 9) serves.
  std::string info_bytes{};
  /// The files in the torrent's order, offsets ascending and lengths summing to
  /// total_bytes: one entry {name} for a single-file torrent.
  std::vector<file_entry> files{};
  bool multi_file = false;  ///< `info` holds `files` (then `name` is a directory)

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
  length_and_files,           ///< `info` holds both `length` and `files`
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
  files_not_list,             ///< `files` is not a list, or an empty one
  file_not_dictionary,        ///< an entry of `files` is not a dictionary
  bad_file_length,            ///< a file's `length` is missing, not an integer or negative
  bad_file_path,              ///< a file's `path` is missing, not a list, empty, or holds a non-string
  unsafe_path,                ///< a path component is empty, ".", "..", or holds '/', '\\' or NUL
  duplicate_path,             ///< two files have the same path
  path_conflict,              ///< a file's path is a directory in another file's path
  files_too_large,            ///< the files' lengths sum past 2^62 bytes
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

/// Pairs of files (indices into torrent.files) whose paths differ only in letter case: they
/// are different files here, but one file on a case-insensitive file system (a warning).
std::vector<std::pair<std::size_t, std::size_t>> case_collisions(const metainfo& torrent);

/// Parses a .torrent from untrusted bytes. Never throws on input (only
/// std::bad_alloc, or std::runtime_error from OpenSSL); bencode limits are the defaults,
/// so files above 64 MiB are refused as bencode too_large.
result<metainfo, metainfo_error> parse_metainfo(std::span<const std::byte> input);
/// Parses the bytes of `input`.
result<metainfo, metainfo_error> parse_metainfo(std::string_view input);

/// What create_torrent writes besides the data's hashes.
struct create_options {
  std::string announce{};                ///< tracker URL; empty: no `announce` key
  std::string name{};                    ///< file (or directory) name; must satisfy is_safe_name()
  std::uint32_t piece_bytes = 256 * 1024;  ///< must satisfy is_valid_piece_bytes()
  /// Empty: a single-file torrent. Otherwise a multi-file one of these files (path and
  /// length; offsets are ignored), whose lengths must sum to the data's size and whose
  /// paths must pass the checks parse_metainfo makes.
  std::vector<file_entry> files{};
};

/// The bencoded .torrent for `data` (keys: announce, info{length or files, name, piece
/// length, pieces}). Throws std::invalid_argument when `data` is empty, the name or a path
/// is unsafe, the files do not add up to the data or the piece length is invalid.
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
