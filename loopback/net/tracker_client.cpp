#include "loopback/net/tracker_client.hpp"

#include <string_view>
#include <system_error>

#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt {

namespace {

using asio::ip::tcp;

constexpr std::size_t max_tracker_response_bytes = 1u << 20;

tcp::endpoint make_endpoint(const std::array<std::uint8_t, 4>& ip, std::uint16_t port) {
  return {asio::ip::address_v4(asio::ip::address_v4::bytes_type{ip[0], ip[1], ip[2], ip[3]}), port};
}

// The bencoded body of an HTTP response, or why there is none.
announce_outcome parse_http_response(const std::string& response) {
  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) return {.error = "not an HTTP response"};
  const auto sp = response.find(' ');
  if (sp == std::string::npos || sp > head_end || response.compare(sp + 1, 3, "200") != 0)
    return {.error = "HTTP status " + response.substr(sp == std::string::npos ? 0 : sp + 1, 3)};
  auto parsed = parse_announce_response(std::string_view(response).substr(head_end + 4));
  if (!parsed)
    return {.error = "bad response: " + std::string(to_string(parsed.error().code)) + " at byte " +
                     std::to_string(parsed.error().offset)};
  if (parsed->failure_reason) return {.error = "tracker: " + *parsed->failure_reason};
  return {.response = std::move(parsed).value()};
}

}  // namespace

asio::awaitable<announce_outcome> http_announce(asio::strand<asio::io_context::executor_type> strand,
                                                std::shared_ptr<tcp::socket> socket,
                                                const std::array<std::uint8_t, 4>& local_ip, const http_url& url,
                                                const announce_request& request, duration timeout) {
  const std::string get = "GET " + announce_target(url.target, request) + " HTTP/1.0\r\nHost: " + url.host + ":" +
                          std::to_string(url.port) + "\r\nUser-Agent: p2pdist/0.1\r\nConnection: close\r\n\r\n";
  asio::steady_timer watchdog(strand);
  watchdog.expires_after(timeout);
  watchdog.async_wait([socket](std::error_code ec) {
    if (!ec) {
      std::error_code ignored;
      socket->close(ignored);
    }
  });
  std::error_code ec;
  std::string response;
  do {
    socket->open(tcp::v4(), ec);
    if (ec) break;
    socket->bind(make_endpoint(local_ip, 0), ec);  // the tracker sees our own address
    if (ec) break;
    co_await socket->async_connect(make_endpoint(url.address, url.port), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(*socket, asio::buffer(get), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    std::array<char, 16 * 1024> buf;
    while (response.size() <= max_tracker_response_bytes) {
      const std::size_t n =
          co_await socket->async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      response.append(buf.data(), n);
      if (ec) break;
    }
    if (ec == asio::error::eof) ec.clear();
  } while (false);
  watchdog.cancel();
  std::error_code ignored;
  socket->close(ignored);
  if (ec) co_return announce_outcome{.error = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor
                                                  ? "timeout"
                                                  : ec.message()};
  if (response.size() > max_tracker_response_bytes) co_return announce_outcome{.error = "response too large"};
  co_return parse_http_response(response);
}

}  // namespace p2pdist::bt
