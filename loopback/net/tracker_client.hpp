#pragma once
// tracker_client: one announce over Asio, as a coroutine. HTTP (BEP 3): connect from our own
// address, send the GET, read the response (at most 1 MiB), parse it with the tracker codec.
// UDP (BEP 15): a connection id (kept for a minute), then the announce, each sent again
// after 15 s, 30 s, 60 s, ... without an answer, all within the caller's timeout. It decides
// nothing: the session says when to announce and what the answer means. Scrapes (BEP 48,
// BEP 15) go the same ways.

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC (for Clang it looks for the Coroutines TS); enable Asio's awaitable support here
// (the macro affects Asio's coroutine headers only).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/strand.hpp>

#include "loopback/protocol/time.hpp"
#include "loopback/protocol/tracker_codec.hpp"

namespace p2pdist::bt {

/// The outcome of one announce: the response, or why there is none.
struct announce_outcome {
  std::optional<announce_response> response{};
  std::string error{};  ///< "timeout", a socket error, "HTTP status 404", "tracker: <reason>", ...
};

/// Sends `request` to the tracker at `url` from `local_ip` (port 0) and reads the answer,
/// all within `timeout`. `socket` is where the connection lives while it runs, so that the
/// caller can close it to abandon the announce (it then fails at once). Runs on `strand`.
asio::awaitable<announce_outcome> http_announce(asio::strand<asio::io_context::executor_type> strand,
                                                std::shared_ptr<asio::ip::tcp::socket> socket,
                                                const ip_address& local_ip, const tracker_url& url,
                                                const announce_request& request, duration timeout);

/// The outcome of one scrape: an entry per torrent asked, in order (a torrent the tracker
/// does not list counts 0), or why there is none.
struct scrape_outcome {
  std::vector<scrape_entry> entries{};
  std::string error{};
};

/// Scrapes the HTTP tracker at `url` (BEP 48: the announce path's last part "announce..."
/// becomes "scrape...") for `info_hashes`, from `local_ip`, within `timeout`.
asio::awaitable<scrape_outcome> http_scrape(asio::strand<asio::io_context::executor_type> strand,
                                            std::shared_ptr<asio::ip::tcp::socket> socket,
                                            const ip_address& local_ip, const tracker_url& url,
                                            std::vector<sha1_digest> info_hashes, duration timeout);

/// What a client keeps from one UDP announce to the next: the tracker's connection id, when
/// it came (BEP 15: usable for a minute), and the source of transaction ids.
struct udp_tracker_state {
  std::optional<std::uint64_t> connection_id{};
  time_point obtained{};
  std::mt19937 transaction_ids{std::random_device{}()};
};

/// The BEP 15 retransmission schedule: the n-th wait for an answer (n from 0) lasts
/// base × 2^n, n at most 8 (3840 s with the BEP's base of 15 s).
duration udp_retransmit_wait(duration base, unsigned n) noexcept;

/// Announces `request` to the UDP tracker at `url` from `local_ip` (port 0) within
/// `timeout`, retransmitting after udp_retransmit_wait(retransmit_base, n). Datagrams from
/// elsewhere never arrive (the socket is connected); one without our transaction id is
/// ignored, one with it that does not parse ends the announce ("bad response: ..."). An
/// error packet forgets the connection id; when that id was kept from an earlier announce
/// it connects again (the tracker may have restarted), else the announce ends ("tracker:
/// <message>"). `socket` lets the caller abandon the announce by closing it; `state` must
/// outlive the coroutine.
asio::awaitable<announce_outcome> udp_announce(asio::strand<asio::io_context::executor_type> strand,
                                               std::shared_ptr<asio::ip::udp::socket> socket,
                                               const ip_address& local_ip, const tracker_url& url,
                                               const announce_request& request, duration timeout,
                                               duration retransmit_base, udp_tracker_state& state);

/// Scrapes the UDP tracker at `url` for 1..74 `info_hashes`, as udp_announce announces.
asio::awaitable<scrape_outcome> udp_scrape(asio::strand<asio::io_context::executor_type> strand,
                                           std::shared_ptr<asio::ip::udp::socket> socket,
                                           const ip_address& local_ip, const tracker_url& url,
                                           std::vector<sha1_digest> info_hashes, duration timeout,
                                           duration retransmit_base, udp_tracker_state& state);

}  // namespace p2pdist::bt
