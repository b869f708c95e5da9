#pragma once
// endpoint: an IP address (IPv4 or IPv6) and a TCP or UDP port, as a value and as text
// ("127.0.0.1:6969", "[::1]:6969") and back. Pure (no Asio, no socket): the CLI, the
// tracker codec and server, the peer core and the client instance all use it.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace p2pdist::bt {

/// An IP address, IPv4 or IPv6, held as the 16 bytes of its IPv6 form: an IPv4 address is
/// held IPv4-mapped (::ffff:A.B.C.D, RFC 4291 §2.5.5.2). So an IPv4 peer seen through a
/// dual-stack socket listening on [::] and the same peer announced by its IPv4 address are
/// one value, and one compare, hash or ban covers both families.
class ip_address {
 public:
  using v4_bytes = std::array<std::uint8_t, 4>;
  using v6_bytes = std::array<std::uint8_t, 16>;

  /// 0.0.0.0.
  constexpr ip_address() noexcept : ip_address(v4_bytes{}) {}
  /// An IPv4 address, in network order (v4[0] is the first dotted number). Implicit: every
  /// IPv4 address is an IP address.
  constexpr ip_address(const v4_bytes& v4) noexcept {  // NOLINT(google-explicit-constructor)
    bytes_[10] = 0xff;
    bytes_[11] = 0xff;
    for (std::size_t i = 0; i < 4; ++i) bytes_[12 + i] = v4[i];
  }
  /// A.B.C.D.
  constexpr ip_address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) noexcept
      : ip_address(v4_bytes{a, b, c, d}) {}
  /// An IPv6 address from its 16 bytes in network order; an IPv4-mapped one is IPv4.
  static constexpr ip_address from_v6(const v6_bytes& bytes) noexcept {
    ip_address out;
    out.bytes_ = bytes;
    return out;
  }

  /// True for an IPv4 address (held IPv4-mapped).
  [[nodiscard]] constexpr bool is_v4() const noexcept {
    for (std::size_t i = 0; i < 10; ++i)
      if (bytes_[i] != 0) return false;
    return bytes_[10] == 0xff && bytes_[11] == 0xff;
  }
  /// The IPv4 address. Precondition: is_v4().
  [[nodiscard]] constexpr v4_bytes to_v4() const noexcept { return {bytes_[12], bytes_[13], bytes_[14], bytes_[15]}; }
  /// The 16 bytes of the IPv6 form (IPv4-mapped for IPv4).
  [[nodiscard]] constexpr const v6_bytes& bytes() const noexcept { return bytes_; }

  /// 127.0.0.0/8 or ::1.
  [[nodiscard]] constexpr bool is_loopback() const noexcept {
    if (is_v4()) return bytes_[12] == 127;
    for (std::size_t i = 0; i < 15; ++i)
      if (bytes_[i] != 0) return false;
    return bytes_[15] == 1;
  }
  /// 0.0.0.0 or :: ("any address" to a listener).
  [[nodiscard]] constexpr bool is_unspecified() const noexcept {
    if (is_v4()) return to_v4() == v4_bytes{};
    for (auto b : bytes_)
      if (b != 0) return false;
    return true;
  }
  /// An address no host owns as its own: IPv4 224.0.0.0 and up (multicast, reserved,
  /// broadcast), IPv6 ff00::/8 (multicast).
  [[nodiscard]] constexpr bool is_multicast_or_broadcast() const noexcept {
    return is_v4() ? bytes_[12] >= 224 : bytes_[0] == 0xff;
  }

  friend constexpr auto operator<=>(const ip_address&, const ip_address&) = default;
  friend constexpr bool operator==(const ip_address&, const ip_address&) = default;

 private:
  v6_bytes bytes_{};
};

/// An address and a port.
struct endpoint {
  ip_address ip{};
  std::uint16_t port = 0;
  friend constexpr auto operator<=>(const endpoint&, const endpoint&) = default;
  friend constexpr bool operator==(const endpoint&, const endpoint&) = default;
};

namespace detail {

/// A decimal number of 1..max_digits digits, without sign or leading zero (a lone "0" is
/// fine), at most `max_value`; nullopt otherwise.
constexpr std::optional<std::uint32_t> parse_small_decimal(std::string_view text,
                                                           std::size_t max_digits,
                                                           std::uint32_t max_value) noexcept {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > max_value) return std::nullopt;
  return value;
}

}  // namespace detail

/// True for an address in 127.0.0.0/8 or ::1.
constexpr bool is_loopback(const ip_address& ip) noexcept { return ip.is_loopback(); }

/// Parses a strict dotted IPv4 address ("127.0.0.1"): four decimal numbers 0..255 without
/// leading zeros or spaces; nullopt otherwise.
constexpr std::optional<ip_address::v4_bytes> parse_ipv4(std::string_view text) noexcept {
  ip_address::v4_bytes out{};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? text.find('.') : text.size();
    if (dot == std::string_view::npos) return std::nullopt;
    const auto part = detail::parse_small_decimal(text.substr(0, dot), 3, 255);
    if (!part) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(*part);
    text = i < 3 ? text.substr(dot + 1) : std::string_view{};
  }
  return out;
}

/// Parses an IPv6 address in the text forms of RFC 4291 §2.2 ("::1", "fd00::2",
/// "::ffff:10.0.0.1"; no brackets, no zone id such as "%eth0"); nullopt otherwise. An
/// IPv4-mapped address comes back as the IPv4 address it maps.
std::optional<ip_address> parse_ipv6(std::string_view text);

/// A dotted IPv4 address or an IPv6 address (without brackets); nullopt otherwise.
std::optional<ip_address> parse_ip(std::string_view text);

/// Parses "A.B.C.D:PORT" (strict dotted quad) or "[IPV6]:PORT", the port decimal 0..65535
/// (0 means "any free port" to a listener). nullopt for anything else: a host name, IPv6
/// without brackets, a missing or signed port.
std::optional<endpoint> parse_endpoint(std::string_view text);

/// "A.B.C.D" for IPv4; the compressed lower-case form of RFC 5952 for IPv6 ("fd00::2").
std::string to_string(const ip_address& ip);
/// "A.B.C.D:PORT", or "[IPV6]:PORT".
std::string to_string(const endpoint& endpoint);
/// The address as a URL host: "A.B.C.D" or "[IPV6]".
std::string url_host(const ip_address& ip);

}  // namespace p2pdist::bt

template <>
struct std::hash<p2pdist::bt::ip_address> {
  std::size_t operator()(const p2pdist::bt::ip_address& ip) const noexcept {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    std::memcpy(&hi, ip.bytes().data(), 8);
    std::memcpy(&lo, ip.bytes().data() + 8, 8);
    return std::hash<std::uint64_t>{}(lo ^ (hi * 0x9e3779b97f4a7c15ULL));
  }
};

template <>
struct std::hash<p2pdist::bt::endpoint> {
  std::size_t operator()(const p2pdist::bt::endpoint& e) const noexcept {
    return std::hash<p2pdist::bt::ip_address>{}(e.ip) * 31 + e.port;
  }
};
