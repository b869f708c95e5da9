#pragma once
// The --listen flag of the long-running commands (tracker, seed, get).

#include <string>

#include "cli/commands.hpp"
#include "loopback/protocol/endpoint.hpp"

namespace p2pdist::cli {

/// Parses ADDR:PORT with ADDR an IPv4 address a socket can listen on: any unicast address
/// of this host, or 0.0.0.0 for all of them (IPv6 is not supported yet); throws usage_error
/// naming --listen otherwise (multicast, broadcast). `who` says what listens ("the
/// tracker", "peers"), `example` a good value. An address this host does not have is
/// refused later, when the socket binds.
inline bt::endpoint_v4 parse_listen_flag(const std::string& text, const std::string& who,
                                         const std::string& example) {
  const auto endpoint = bt::parse_endpoint(text);
  if (!endpoint) {
    throw usage_error("--listen: expected ADDR:PORT with a dotted IPv4 address, e.g. " + example + " (got '" +
                      text + "')");
  }
  const auto first = endpoint->ip[0];
  if (first >= 224) {
    throw usage_error("--listen: " + who + " cannot listen on a multicast or broadcast address (got '" + text +
                      "'); give an address of this host, or 0.0.0.0 for all");
  }
  return *endpoint;
}

}  // namespace p2pdist::cli
