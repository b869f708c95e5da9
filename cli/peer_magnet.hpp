#pragma once
// `get MAGNET`: from a magnet link to a torrent. The link's trackers are asked for peers,
// and peers for the info dictionary (BEP 9); once it hashes to the link's info-hash, get
// goes on as with a .torrent file.

#include <optional>
#include <string>

#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/protocol/time.hpp"

namespace p2pdist::cli {

/// The torrent of the magnet link `link`, its metadata fetched from peers within `timeout`;
/// its announce URL is the link's first tracker this client reaches. `listen` is where get
/// will listen: a port 0 is replaced by a free port, so that the trackers list us where we
/// will be. On failure prints one line ("p2pdist: ...: why") and returns nullopt. With
/// `verbose`, each tracker and peer that fails is logged on stderr.
std::optional<bt::metainfo> torrent_from_magnet(const std::string& link, bt::endpoint& listen, bt::duration timeout,
                                                bool verbose);

}  // namespace p2pdist::cli
