#pragma once
// tracker_client: one HTTP announce (BEP 3) over Asio, as a coroutine: connect from our own
// address, send the GET, read the response (at most 1 MiB), parse it with the tracker codec.
// It decides nothing: the session says when to announce and what the answer means.

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
#include <string>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
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
                                                const std::array<std::uint8_t, 4>& local_ip, const http_url& url,
                                                const announce_request& request, duration timeout);

}  // namespace p2pdist::bt
