#include "loopback/net/metadata_fetch.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "loopback/net/asio_endpoint.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/extension.hpp"
#include "loopback/protocol/sha1.hpp"
#include "loopback/protocol/wire.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (see
// tracker_client.cpp); off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt {
namespace {

using asio::ip::tcp;
using strand_type = asio::strand<asio::io_context::executor_type>;

std::string endpoint_text(const peer_endpoint& p) { return to_string(endpoint{.ip = p.ip, .port = p.port}); }

/// The peers every tracker lists for the torrent (each once, in order).
asio::awaitable<std::vector<peer_endpoint>> ask_trackers(strand_type strand, const metadata_fetch_config& c,
                                                          std::vector<udp_tracker_state>& udp_states) {
  const announce_request request{.info_hash = c.info_hash,
                                 .id = c.id,
                                 .port = c.listen_port,
                                 .left_bytes = 1,  // we hold nothing (the size is not known yet)
                                 .event = announce_event::none,
                                 .numwant = 50};
  std::vector<peer_endpoint> peers;
  for (std::size_t i = 0; i < c.trackers.size(); ++i) {
    const auto& url = c.trackers[i];
    announce_outcome outcome;
    if (url.scheme == tracker_scheme::udp) {
      const auto socket = std::make_shared<asio::ip::udp::socket>(strand);
      outcome = co_await udp_announce(strand, socket, c.local_ip, url, request, c.tracker_timeout,
                                      std::chrono::seconds(15), udp_states[i]);
    } else {
      const auto socket = std::make_shared<tcp::socket>(strand);
      outcome = co_await http_announce(strand, socket, c.local_ip, url, request, c.tracker_timeout);
    }
    if (!outcome.response || outcome.response->failure_reason) {
      if (c.log)
        c.log("tracker " + url.host + ":" + std::to_string(url.port) + ": " +
              (outcome.response ? "tracker: " + *outcome.response->failure_reason : outcome.error));
      continue;
    }
    for (auto p : outcome.response->peers) {
      p.id.reset();
      if (p.ip == c.local_ip && p.port == c.listen_port) continue;  // ourselves
      if (std::find(peers.begin(), peers.end(), p) == peers.end()) peers.push_back(p);
    }
  }
  co_return peers;
}

/// One connection to one peer, asking it for the metadata. An empty `error` with
/// info_bytes set is success.
class metadata_peer {
 public:
  metadata_peer(strand_type strand, const metadata_fetch_config& config)
      : strand_(strand), config_(config), socket_(std::make_shared<tcp::socket>(strand)),
        decoder_(wire_config{.metadata_only = true}) {}

  asio::awaitable<metadata_fetch_result> run(const peer_endpoint& peer, time_point deadline) {
    asio::steady_timer watchdog(strand_);
    watchdog.expires_at(std::min(deadline, clock::now() + config_.peer_timeout));
    watchdog.async_wait([socket = socket_](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        socket->close(ignored);
      }
    });
    auto result = co_await talk(peer);
    watchdog.cancel();
    std::error_code ignored;
    socket_->close(ignored);
    if (result.error.empty() && result.info_bytes.empty()) result.error = "no metadata";
    co_return result;
  }

 private:
  using clock = std::chrono::steady_clock;

  static metadata_fetch_result failed(std::string why) { return {.error = std::move(why)}; }

  // GCC 12 destroys some temporaries of a co_await's full expression twice: every value
  // that crosses a co_await here is a named local.
  asio::awaitable<std::error_code> write(const std::vector<std::byte>& bytes) {
    std::error_code ec;
    co_await asio::async_write(*socket_, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
  }

  static std::vector<std::byte> framed(const wire_event& event) {
    std::vector<std::byte> bytes;
    wire_append(event, bytes);
    return bytes;
  }

  /// The next item of the peer's stream: nullopt and `error` set when it fails or closes.
  asio::awaitable<std::optional<wire_event>> next(std::string& error) {
    for (;;) {
      auto item = decoder_.next();
      if (!item) {
        error = "protocol: " + std::string(to_string(item.error().code));
        co_return std::nullopt;
      }
      if (item->has_value()) co_return std::move(**item);
      std::error_code ec;
      auto area = decoder_.prepare(16 * 1024);
      const auto n = co_await socket_->async_read_some(asio::buffer(area.data(), area.size()),
                                                       asio::redirect_error(asio::use_awaitable, ec));
      decoder_.commit(ec ? 0 : n);
      if (ec) {
        error = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ? "timeout" : ec.message();
        co_return std::nullopt;
      }
    }
  }

  asio::awaitable<metadata_fetch_result> talk(const peer_endpoint& peer) {
    std::error_code ec;
    open_towards(*socket_, config_.local_ip, peer.ip, ec);
    if (!ec)
      co_await socket_->async_connect(make_endpoint(peer.ip, peer.port), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return failed("cannot connect: " + ec.message());

    handshake ours{.info_hash = config_.info_hash, .id = config_.id};
    ours.reserved[extension_protocol_byte] |= extension_protocol_bit;
    const auto hello = framed(ours);
    ec = co_await write(hello);
    if (ec) co_return failed(ec.message());
    std::string error;
    auto first = co_await next(error);
    if (!first) co_return failed(error);
    const auto* theirs = std::get_if<handshake>(&*first);
    if (theirs == nullptr || theirs->info_hash != config_.info_hash) co_return failed("handshake for another torrent");
    if ((theirs->reserved[extension_protocol_byte] & extension_protocol_bit) == std::byte{0})
      co_return failed("no extension protocol (BEP 10) in its handshake");
    const extension_handshake ask{.messages = {{std::string(ut_metadata_name), our_ut_metadata_id}}, .client = "p2pdist"};
    const auto ask_bytes = framed(msg::extended{.id = extended_handshake_id, .payload = encode_extension_handshake(ask)});
    ec = co_await write(ask_bytes);
    if (ec) co_return failed(ec.message());

    // Its extended handshake: the id it gave ut_metadata and the metadata's size.
    std::uint8_t their_id = 0;
    std::uint64_t size = 0;
    std::vector<bool> got;
    std::string info;
    std::uint32_t missing = 0;
    for (;;) {
      auto item = co_await next(error);
      if (!item) co_return failed(error);
      const auto* ext = std::get_if<msg::extended>(&*item);
      if (ext == nullptr) continue;  // bitfield, have, choke, ...: not what we came for
      if (ext->id == extended_handshake_id && their_id == 0) {
        const auto h = decode_extension_handshake(ext->payload);
        if (!h) co_return failed(std::string(to_string(h.error().code)));
        their_id = h->id_of(ut_metadata_name);
        if (their_id == 0) co_return failed("no ut_metadata (BEP 9) in its extended handshake");
        if (!h->metadata_size) co_return failed("no metadata_size in its extended handshake");
        size = *h->metadata_size;
        const auto pieces = metadata_piece_count(size);
        got.assign(pieces, false);
        info.assign(static_cast<std::size_t>(size), '\0');
        missing = pieces;
        std::vector<std::byte> requests;  // every piece at once: at most 1024 small messages
        for (std::uint32_t i = 0; i < pieces; ++i) {
          const metadata_message request{.type = metadata_type::request, .piece = i};
          wire_append(msg::extended{.id = their_id, .payload = encode_metadata_message(request)}, requests);
        }
        ec = co_await write(requests);
        if (ec) co_return failed(ec.message());
        continue;
      }
      if (ext->id != our_ut_metadata_id || their_id == 0) continue;
      const auto m = decode_metadata_message(ext->payload);
      if (!m) co_return failed(std::string(to_string(m.error().code)));
      if (m->type == metadata_type::reject) co_return failed("rejected metadata piece " + std::to_string(m->piece));
      if (m->type != metadata_type::data) continue;  // a request: we have nothing to give
      if (m->total_size != size) co_return failed("total_size differs from its metadata_size");
      if (got[m->piece]) continue;
      got[m->piece] = true;
      std::copy(m->data.begin(), m->data.end(),
                reinterpret_cast<std::byte*>(info.data()) + std::size_t{m->piece} * metadata_piece_bytes);
      if (--missing > 0) continue;
      if (sha1(std::as_bytes(std::span<const char>(info.data(), info.size()))) != config_.info_hash)
        co_return failed("its metadata does not hash to the info-hash");
      co_return metadata_fetch_result{.info_bytes = std::move(info), .from = endpoint_text(peer)};
    }
  }

  strand_type strand_;
  const metadata_fetch_config& config_;
  std::shared_ptr<tcp::socket> socket_;
  wire_decoder decoder_;
};

}  // namespace

asio::awaitable<metadata_fetch_result> fetch_metadata(strand_type strand, metadata_fetch_config config) {
  const auto deadline = std::chrono::steady_clock::now() + config.timeout;
  std::vector<udp_tracker_state> udp_states(config.trackers.size());
  std::string last_error = "no tracker listed a peer";
  while (std::chrono::steady_clock::now() < deadline) {
    const auto peers = co_await ask_trackers(strand, config, udp_states);
    for (const auto& peer : peers) {
      if (std::chrono::steady_clock::now() >= deadline) break;
      metadata_peer p(strand, config);
      auto result = co_await p.run(peer, deadline);
      if (result.error.empty()) co_return result;
      last_error = endpoint_text(peer) + ": " + result.error;
      if (config.log) config.log("metadata from " + last_error);
    }
    asio::steady_timer pause(strand);
    pause.expires_at(std::min(deadline, std::chrono::steady_clock::now() + config.round_pause));
    std::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return metadata_fetch_result{.error = "no metadata within the timeout (last: " + last_error + ")"};
}

}  // namespace p2pdist::bt
