#pragma once
// Magnet links (BEP 9): `magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>...`.
// The info-hash is 40 hex digits or 32 base32 characters (either case); `dn` and every
// `tr` are percent-decoded. Other parameters (and an `xt` that is not `urn:btih:`, such as
// BEP 52's `urn:btmh:`) are ignored. Bytes in, bytes out: no socket, no clock.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "loopback/protocol/result.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// What a magnet link says.
struct magnet_link {
  sha1_digest info_hash{};
  std::string display_name{};         ///< `dn`, empty when absent
  std::vector<std::string> trackers{};  ///< every `tr` (and `tr.N`), in order, without repeats
};

/// Why a magnet link was refused; the offset is that of the offending character.
enum class magnet_errc {
  not_a_magnet = 1,   ///< does not start with "magnet:?"
  bad_escape,         ///< a '%' not followed by two hex digits
  no_info_hash,       ///< no `xt=urn:btih:`
  bad_info_hash,      ///< the btih value is neither 40 hex digits nor 32 base32 characters
  two_info_hashes,    ///< two btih values that differ
  too_long,           ///< longer than max_magnet_bytes
};

/// Longest magnet link accepted (a few hundred trackers).
inline constexpr std::size_t max_magnet_bytes = 64 * 1024;

std::string_view to_string(magnet_errc code) noexcept;

using magnet_error = decode_error<magnet_errc>;

/// True when `text` starts with "magnet:" (case-insensitive): it is meant as a link, not a
/// file name.
bool looks_like_magnet(std::string_view text) noexcept;

/// Parses a magnet link from untrusted text.
result<magnet_link, magnet_error> parse_magnet(std::string_view text);

/// A magnet link for `info_hash` (hex), with `dn` and each `tr` percent-encoded.
std::string make_magnet(const sha1_digest& info_hash, std::string_view display_name,
                        const std::vector<std::string>& trackers);

}  // namespace p2pdist::bt
