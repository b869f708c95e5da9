#pragma once
// The --listen flag of the long-running commands (tracker, seed, get).

#include <string>

#include "cli/commands.hpp"
#include "loopback/protocol/endpoint.hpp"

namespace p2pdist::cli {

/// Parses ADDR:PORT with ADDR an address a socket can listen on: any unicast IPv4 address
/// of this host ("10.0.0.2:6881") or IPv6 one in brackets ("[fd00::2]:6881"), 0.0.0.0 for
/// every IPv4 address, [::] for every address of both families. Throws usage_error naming
/// --listen otherwise (a host name, IPv6 without brackets, multicast, broadcast). `who`
/// says what listens ("the tracker", "peers"), `example` a good value. An address this
/// host does not have is refused later, when the socket binds.
inline bt::endpoint parse_listen_flag(const std::string& text, const std::string& who, const std::string& example) {
  const auto endpoint = bt::parse_endpoint(text);
  if (!endpoint) {
    throw usage_error("--listen: expected ADDR:PORT with a dotted IPv4 address or an IPv6 address in brackets, e.g. " +
                      example + " or [::1]:0 (got '" + text + "')");
  }
  if (endpoint->ip.is_multicast_or_broadcast()) {
    throw usage_error("--listen: " + who + " cannot listen on a multicast or broadcast address (got '" + text +
                      "'); give an address of this host, or 0.0.0.0 or [::] for all");
  }
  return *endpoint;
}

}  // namespace p2pdist::cli
