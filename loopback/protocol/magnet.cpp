#include "loopback/protocol/magnet.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "loopback/protocol/sha1.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::bt {
namespace {

unexpected<magnet_error> fail(magnet_errc code, std::size_t offset) {
  return unexpected<magnet_error>{magnet_error{.code = code, .offset = offset}};
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

/// `text` (which starts at `offset` in the link) with %XX decoded; the offset of a bad escape.
result<std::string, magnet_error> percent_decode(std::string_view text, std::size_t offset) {
  auto out = bt::percent_decode(text);
  if (!out) return fail(magnet_errc::bad_escape, offset + out.error().offset);
  return std::move(*out);
}

/// How many characters of `raw` (valid percent-encoded text) decode to its first `decoded`
/// characters: where the hash starts in the link when "urn:btih:" was written escaped.
std::size_t raw_length_of(std::string_view raw, std::size_t decoded) {
  std::size_t i = 0;
  for (std::size_t n = 0; n < decoded && i < raw.size(); ++n) i += raw[i] == '%' ? 3 : 1;
  return i;
}

/// The info-hash of 40 hex digits or 32 base32 characters (RFC 4648, either case).
std::optional<sha1_digest> decode_info_hash(std::string_view v) {
  if (v.size() == 40) return parse_hex_digest(v);
  sha1_digest h{};
  if (v.size() == 32) {  // 32 characters of 5 bits: exactly 160 bits
    std::uint64_t acc = 0;
    int bits = 0;
    std::size_t n = 0;
    for (char c : v) {
      c = lower(c);
      int value = -1;
      if (c >= 'a' && c <= 'z') value = c - 'a';
      if (c >= '2' && c <= '7') value = c - '2' + 26;
      if (value < 0) return std::nullopt;
      acc = (acc << 5) | static_cast<std::uint64_t>(value);
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        h[n++] = static_cast<std::byte>((acc >> bits) & 0xff);
      }
    }
    return h;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(magnet_errc code) noexcept {
  switch (code) {
    case magnet_errc::not_a_magnet: return "not a magnet link (magnet:?...)";
    case magnet_errc::bad_escape: return "a '%' not followed by two hex digits";
    case magnet_errc::no_info_hash: return "no info-hash (xt=urn:btih:...)";
    case magnet_errc::bad_info_hash: return "the info-hash is neither 40 hex digits nor 32 base32 characters";
    case magnet_errc::two_info_hashes: return "two different info-hashes";
    case magnet_errc::too_long: return "longer than 64 KiB";
  }
  return "unknown magnet error";
}

bool looks_like_magnet(std::string_view text) noexcept {
  constexpr std::string_view scheme = "magnet:";
  if (text.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (lower(text[i]) != scheme[i]) return false;
  return true;
}

result<magnet_link, magnet_error> parse_magnet(std::string_view text) {
  if (text.size() > max_magnet_bytes) return fail(magnet_errc::too_long, max_magnet_bytes);
  if (!looks_like_magnet(text) || text.size() < 8 || text[7] != '?') return fail(magnet_errc::not_a_magnet, 0);
  magnet_link link;
  std::optional<sha1_digest> hash;
  std::size_t at = 8;
  while (at <= text.size()) {
    const auto amp = std::min(text.find('&', at), text.size());
    const auto param = text.substr(at, amp - at);
    const auto eq = param.find('=');
    const auto key = param.substr(0, eq);
    const auto raw = eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    const auto value_at = at + (eq == std::string_view::npos ? param.size() : eq + 1);
    const bool tracker = key == "tr" || key.rfind("tr.", 0) == 0;
    if (key == "xt" || key.rfind("xt.", 0) == 0) {
      auto value = percent_decode(raw, value_at);
      if (!value) return unexpected{value.error()};
      constexpr std::string_view urn = "urn:btih:";
      std::string prefix = value->substr(0, urn.size());
      std::transform(prefix.begin(), prefix.end(), prefix.begin(), lower);
      if (prefix == urn) {
        const auto h = decode_info_hash(std::string_view(*value).substr(urn.size()));
        if (!h) return fail(magnet_errc::bad_info_hash, value_at + raw_length_of(raw, urn.size()));
        if (hash && *hash != *h) return fail(magnet_errc::two_info_hashes, value_at);
        hash = h;
      }
    } else if (key == "dn" || tracker) {
      auto value = percent_decode(raw, value_at);
      if (!value) return unexpected{value.error()};
      if (!tracker) {
        link.display_name = std::move(*value);
      } else if (!value->empty() &&
                 std::find(link.trackers.begin(), link.trackers.end(), *value) == link.trackers.end()) {
        link.trackers.push_back(std::move(*value));
      }
    }
    at = amp + 1;
  }
  if (!hash) return fail(magnet_errc::no_info_hash, text.size());
  link.info_hash = *hash;
  return link;
}

std::string make_magnet(const sha1_digest& info_hash, std::string_view display_name,
                        const std::vector<std::string>& trackers) {
  std::string out = "magnet:?xt=urn:btih:" + to_hex(info_hash);
  if (!display_name.empty()) out += "&dn=" + percent_encode(display_name);
  for (const auto& t : trackers) out += "&tr=" + percent_encode(t);
  return out;
}

}  // namespace p2pdist::bt
