#pragma once
// An IPv4 address and port of the engine's own types as an Asio endpoint.

#include <array>
#include <cstdint>

#include <asio/ip/address_v4.hpp>
#include <asio/ip/tcp.hpp>

namespace p2pdist::bt {

/// `ip`:`port` as an endpoint of `Protocol` (TCP unless said: asio::ip::udp for UDP).
template <class Protocol = asio::ip::tcp>
typename Protocol::endpoint make_endpoint(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
  return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{ip[0], ip[1], ip[2], ip[3]}), port};
}

}  // namespace p2pdist::bt
