#include "loopback/protocol/endpoint.hpp"

#include <arpa/inet.h>

namespace p2pdist::bt {

std::optional<ip_address> parse_ipv6(std::string_view text) {
  // inet_pton reads the forms of RFC 4291 §2.2 and refuses the rest (zone ids, brackets,
  // spaces); the longest valid form is 45 characters.
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string terminated(text);
  ip_address::v6_bytes bytes{};
  if (inet_pton(AF_INET6, terminated.c_str(), bytes.data()) != 1) return std::nullopt;
  return ip_address::from_v6(bytes);
}

std::optional<ip_address> parse_ip(std::string_view text) {
  if (const auto v4 = parse_ipv4(text)) return ip_address(*v4);
  return parse_ipv6(text);
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  std::optional<ip_address> ip;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    ip = parse_ipv6(host.substr(1, host.size() - 2));
  } else if (const auto v4 = parse_ipv4(host)) {
    ip = ip_address(*v4);
  }
  if (!ip) return std::nullopt;
  const auto port = detail::parse_small_decimal(text.substr(colon + 1), 5, 65535);
  if (!port) return std::nullopt;
  return endpoint{.ip = *ip, .port = static_cast<std::uint16_t>(*port)};
}

std::string to_string(const ip_address& ip) {
  if (ip.is_v4()) {
    const auto v4 = ip.to_v4();
    std::string out;
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) out += '.';
      out += std::to_string(v4[i]);
    }
    return out;
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, ip.bytes().data(), text, sizeof text);
  return text;
}

std::string url_host(const ip_address& ip) { return ip.is_v4() ? to_string(ip) : "[" + to_string(ip) + "]"; }

std::string to_string(const endpoint& endpoint) { return url_host(endpoint.ip) + ":" + std::to_string(endpoint.port); }

}  // namespace p2pdist::bt
