#pragma once
// metadata_fetch: a magnet link's missing half. Given an info-hash and trackers, it asks
// the trackers for peers, and asks peers that speak the extension protocol (BEP 10) for the
// info dictionary, 16 KiB at a time (BEP 9, ut_metadata), until the pieces of one peer
// hash to the info-hash. Then `get` goes on as with a .torrent file. One coroutine on the
// caller's strand; every step has a deadline.

// See tracker_client.hpp: Asio's awaitable support under Clang.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/protocol/types.hpp"

namespace p2pdist::bt {

/// What a fetch needs.
struct metadata_fetch_config {
  sha1_digest info_hash{};
  std::vector<tracker_url> trackers{};        ///< asked in turn, each round
  ip_address local_ip{127, 0, 0, 1};          ///< our address: trackers and peers see it
  std::uint16_t listen_port = 0;              ///< announced: where our client will listen (1..65535)
  peer_id id{};                               ///< announced, and in our handshakes
  duration timeout = std::chrono::seconds(60);       ///< the whole fetch
  duration peer_timeout = std::chrono::seconds(10);  ///< one peer: connect to last piece
  duration tracker_timeout = std::chrono::seconds(5);
  duration round_pause = std::chrono::seconds(1);    ///< between rounds with no metadata
  /// One line per step worth telling a user (-v): peers asked and why one failed.
  std::function<void(const std::string&)> log{};
};

/// The outcome: the info dictionary's bytes (their SHA-1 is the info-hash), or why not.
struct metadata_fetch_result {
  std::string info_bytes{};
  std::string from{};   ///< the peer that sent them, "ADDR:PORT"
  std::string error{};  ///< empty on success
};

/// Fetches the metadata of `config.info_hash` within config.timeout. Peers are tried one at
/// a time in the trackers' order (our own address and port skipped); a peer that does not
/// offer the extension protocol or ut_metadata, rejects a piece, sends a malformed message
/// or pieces that do not hash to the info-hash is left for the next. Runs on `strand`.
asio::awaitable<metadata_fetch_result> fetch_metadata(asio::strand<asio::io_context::executor_type> strand,
                                                      metadata_fetch_config config);

}  // namespace p2pdist::bt
