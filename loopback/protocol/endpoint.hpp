#pragma once
// endpoint: an IPv4 address and TCP port as text ("127.0.0.1:6969") and back. Header-only
// and pure (no Asio, no socket): the CLI, the tracker server and the client instance all
// read their --listen flags with it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace p2pdist::bt {

/// An IPv4 address in network order (ip[0] is the first dotted number) and a TCP port.
struct endpoint_v4 {
  std::array<std::uint8_t, 4> ip{};
  std::uint16_t port = 0;
  friend bool operator==(const endpoint_v4&, const endpoint_v4&) = default;
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

/// The address as one number (ip[0] in the top byte), for maps and sets keyed by address.
constexpr std::uint32_t ip_key(const std::array<std::uint8_t, 4>& ip) noexcept {
  return (std::uint32_t{ip[0]} << 24) | (std::uint32_t{ip[1]} << 16) | (std::uint32_t{ip[2]} << 8) | ip[3];
}

/// The endpoint as one number (address, then port), for maps and sets keyed by endpoint.
constexpr std::uint64_t endpoint_key(const endpoint_v4& e) noexcept { return (std::uint64_t{ip_key(e.ip)} << 16) | e.port; }

/// True for an address in 127.0.0.0/8, the only addresses this project listens on.
constexpr bool is_loopback(const std::array<std::uint8_t, 4>& ip) noexcept { return ip[0] == 127; }

/// Parses "A.B.C.D:PORT": a strict dotted quad (four decimal numbers 0..255, no leading
/// zeros, no spaces) and a decimal port 0..65535 (0 means "any free port" to a listener).
/// Returns nullopt for anything else, e.g. a host name, IPv6, a missing or signed port.
constexpr std::optional<endpoint_v4> parse_endpoint(std::string_view text) noexcept {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  endpoint_v4 out;
  std::string_view address = text.substr(0, colon);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? address.find('.') : address.size();
    if (dot == std::string_view::npos) return std::nullopt;
    const auto part = detail::parse_small_decimal(address.substr(0, dot), 3, 255);
    if (!part) return std::nullopt;
    out.ip[i] = static_cast<std::uint8_t>(*part);
    address = i < 3 ? address.substr(dot + 1) : std::string_view{};
  }
  const auto port = detail::parse_small_decimal(text.substr(colon + 1), 5, 65535);
  if (!port) return std::nullopt;
  out.port = static_cast<std::uint16_t>(*port);
  return out;
}

/// Formats "A.B.C.D:PORT".
inline std::string to_string(const endpoint_v4& endpoint) {
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    out += std::to_string(endpoint.ip[i]);
  }
  out += ':';
  out += std::to_string(endpoint.port);
  return out;
}

}  // namespace p2pdist::bt
