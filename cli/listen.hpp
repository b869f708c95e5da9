#pragma once
// The --listen flag of the long-running commands (tracker, seed, get).

#include <string>

#include "cli/commands.hpp"
#include "loopback/protocol/endpoint.hpp"

namespace p2pdist::cli {

/// Parses ADDR:PORT with ADDR in 127.0.0.0/8; throws usage_error naming --listen otherwise.
/// `who` says what listens ("the tracker", "peers"), `example` a good value.
inline bt::endpoint_v4 parse_listen_flag(const std::string& text, const std::string& who,
                                         const std::string& example) {
  const auto endpoint = bt::parse_endpoint(text);
  if (!endpoint) {
    throw usage_error("--listen: expected ADDR:PORT with a dotted IPv4 address, e.g. " + example + " (got '" +
                      text + "')");
  }
  if (!bt::is_loopback(endpoint->ip)) {
    throw usage_error("--listen: " + who + " only listen" + (who == "peers" ? "" : "s") +
                      " on 127.0.0.0/8 (got '" + text + "')");
  }
  return *endpoint;
}

}  // namespace p2pdist::cli
