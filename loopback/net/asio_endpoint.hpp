#pragma once
// The engine's addresses (protocol/endpoint.hpp) as Asio's, and back.

#include <cstdint>

#include <system_error>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>

#include "loopback/protocol/endpoint.hpp"

namespace p2pdist::bt {

/// The address as Asio's: IPv4 for an IPv4 (IPv4-mapped) one, IPv6 otherwise.
inline asio::ip::address to_asio(const ip_address& ip) {
  if (ip.is_v4()) return asio::ip::address_v4(ip.to_v4());
  return asio::ip::address_v6(ip.bytes());
}

/// Asio's address as the engine's; an IPv4-mapped IPv6 address (an IPv4 peer seen through a
/// dual-stack socket) becomes the IPv4 address it maps.
inline ip_address from_asio(const asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().to_bytes();
  return ip_address::from_v6(address.to_v6().to_bytes());
}

/// `ip`:`port` as an endpoint of `Protocol` (TCP unless said: asio::ip::udp for UDP).
template <class Protocol = asio::ip::tcp>
typename Protocol::endpoint make_endpoint(const ip_address& ip, std::uint16_t port) {
  return {to_asio(ip), port};
}

/// The protocol (IPv4 or IPv6) of a socket that talks to or listens on `ip`.
template <class Protocol = asio::ip::tcp>
Protocol protocol_of(const ip_address& ip) {
  return ip.is_v4() ? Protocol::v4() : Protocol::v6();
}

/// Opens `socket` (closed) to talk to `remote`, in its family, and binds it to `local`
/// (port 0) when that is of the same family: so a peer or tracker sees our own address.
/// With `local` of the other family (listening on "::" and dialing an IPv4 peer, say) the
/// system picks the source address.
template <class Socket>
void open_towards(Socket& socket, const ip_address& local, const ip_address& remote, std::error_code& ec) {
  using protocol = typename Socket::protocol_type;
  socket.open(protocol_of<protocol>(remote), ec);
  if (!ec && local.is_v4() == remote.is_v4()) socket.bind(make_endpoint<protocol>(local, 0), ec);
}

/// On a socket (open, not bound yet) that will listen on `ip`: when that is "::", take IPv4
/// too (dual stack, whatever the host's net.ipv6.bindv6only says), as "0.0.0.0" takes every
/// IPv4 address; IPv4 peers then show as IPv4-mapped addresses, which from_asio maps back.
template <class Socket>
void serve_both_families(Socket& socket, const ip_address& ip, std::error_code& ec) {
  if (!ip.is_v4() && ip.is_unspecified()) socket.set_option(asio::ip::v6_only(false), ec);
}

}  // namespace p2pdist::bt
