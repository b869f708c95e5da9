#include "loopback/net/tracker_client.hpp"

#include <algorithm>
#include <functional>
#include <string_view>
#include <system_error>
#include <variant>

#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "loopback/net/asio_endpoint.hpp"
#include "loopback/protocol/udp_tracker_codec.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames (its
// awaitable_frame_base pairs its own operator new and delete); the warning is off here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace p2pdist::bt {

namespace {

using asio::ip::tcp;
using asio::ip::udp;

constexpr std::size_t max_tracker_response_bytes = 1u << 20;

/// The body of a whole HTTP response, or why there is none.
struct http_body {
  std::string body{};
  std::string error{};
};

http_body body_of(const std::string& response) {
  const auto head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) return {.error = "not an HTTP response"};
  const auto sp = response.find(' ');
  if (sp == std::string::npos || sp > head_end || response.compare(sp + 1, 3, "200") != 0)
    return {.error = "HTTP status " + response.substr(sp == std::string::npos ? 0 : sp + 1, 3)};
  return {.body = response.substr(head_end + 4)};
}

std::string bad_response(const tracker_error& e) {
  return "bad response: " + std::string(to_string(e.code)) + " at byte " + std::to_string(e.offset);
}

/// GETs `target` from the tracker at `url` from `local_ip` (port 0), all within `timeout`.
asio::awaitable<http_body> http_get(asio::strand<asio::io_context::executor_type> strand,
                                    std::shared_ptr<tcp::socket> socket, const ip_address& local_ip,
                                    const tracker_url& url, const std::string& target, duration timeout) {
  const std::string get = "GET " + target + " HTTP/1.0\r\nHost: " + url.host + ":" + std::to_string(url.port) +
                          "\r\nUser-Agent: p2pdist/0.1\r\nConnection: close\r\n\r\n";
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
    open_towards(*socket, local_ip, url.address, ec);  // the tracker sees our own address
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
  if (ec) co_return http_body{.error = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor
                                           ? "timeout"
                                           : ec.message()};
  if (response.size() > max_tracker_response_bytes) co_return http_body{.error = "response too large"};
  co_return body_of(response);
}

}  // namespace

asio::awaitable<announce_outcome> http_announce(asio::strand<asio::io_context::executor_type> strand,
                                                std::shared_ptr<tcp::socket> socket,
                                                const ip_address& local_ip, const tracker_url& url,
                                                const announce_request& request, duration timeout) {
  const auto got = co_await http_get(strand, std::move(socket), local_ip, url, announce_target(url.target, request), timeout);
  if (!got.error.empty()) co_return announce_outcome{.error = got.error};
  auto parsed = parse_announce_response(got.body);
  if (!parsed) co_return announce_outcome{.error = bad_response(parsed.error())};
  if (parsed->failure_reason) co_return announce_outcome{.error = "tracker: " + *parsed->failure_reason};
  co_return announce_outcome{.response = std::move(parsed).value()};
}

asio::awaitable<scrape_outcome> http_scrape(asio::strand<asio::io_context::executor_type> strand,
                                            std::shared_ptr<tcp::socket> socket,
                                            const ip_address& local_ip, const tracker_url& url,
                                            std::vector<sha1_digest> info_hashes, duration timeout) {
  const auto target = scrape_target(url.target, info_hashes);
  if (!target) co_return scrape_outcome{.error = std::string(to_string(target.error().code))};
  const auto got = co_await http_get(strand, std::move(socket), local_ip, url, *target, timeout);
  if (!got.error.empty()) co_return scrape_outcome{.error = got.error};
  auto parsed = parse_scrape_response(got.body);
  if (!parsed) co_return scrape_outcome{.error = bad_response(parsed.error())};
  if (parsed->failure_reason) co_return scrape_outcome{.error = "tracker: " + *parsed->failure_reason};
  // One entry per hash asked, in order; a torrent the tracker does not list counts 0.
  scrape_outcome out;
  for (const auto& h : info_hashes) {
    const auto it = std::find_if(parsed->entries.begin(), parsed->entries.end(),
                                 [&](const scrape_entry& e) { return e.info_hash == h; });
    out.entries.push_back(it != parsed->entries.end() ? *it : scrape_entry{.info_hash = h});
  }
  co_return out;
}

duration udp_retransmit_wait(duration base, unsigned n) noexcept { return base * (1 << std::min(n, 8u)); }

namespace {

time_point steady_now() { return std::chrono::time_point_cast<duration>(std::chrono::steady_clock::now()); }

std::string bad_answer(const udp_error& e) {
  return "bad response: " + std::string(to_string(e.code)) + " at byte " + std::to_string(e.offset);
}

/// BEP 15: a client may use a connection id for one minute after it came.
constexpr auto udp_connection_id_lifetime = std::chrono::minutes(1);

/// One request/answer exchange of a UDP announce: sends `packet` and waits for the answer
/// with `tid`, sending again after each retransmission wait, until `deadline`. The answer
/// parsed (or why the packet with our transaction id does not parse), or nullopt when the
/// deadline passed or the socket was closed (`ec` says which).
asio::awaitable<std::optional<result<udp_response, udp_error>>> udp_exchange(asio::strand<asio::io_context::executor_type> strand,
                                                          std::shared_ptr<udp::socket> socket, const std::string& packet,
                                                          std::uint32_t tid, duration base, unsigned& attempt,
                                                          time_point deadline, std::error_code& ec) {
  std::array<char, 8192> buf;  // an answer of 200 peers (the most ours sends) is 1220 bytes, 3620 over IPv6
  while (true) {
    co_await socket->async_send(asio::buffer(packet), asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::connection_refused) ec.clear();  // an earlier datagram's ICMP: resend later
    if (ec) co_return std::nullopt;
    const time_point resend_at = std::min(deadline, steady_now() + udp_retransmit_wait(base, attempt));
    asio::steady_timer resend(strand);
    resend.expires_at(std::chrono::time_point_cast<std::chrono::steady_clock::duration>(resend_at));
    auto armed = std::make_shared<bool>(true);  // a handler already queued when we cancel sees false
    resend.async_wait([socket, armed](std::error_code e) {
      std::error_code ignored;
      if (!e && *armed) socket->cancel(ignored);  // the receive below ends with operation_aborted
    });
    while (true) {
      const std::size_t n =
          co_await socket->async_receive(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      // Connection refused (ICMP port unreachable on a connected socket): nobody listens
      // there yet; wait for the resend as after a lost datagram (the tracker may be starting).
      if (ec == asio::error::connection_refused) continue;
      if (ec) break;
      const std::string_view packet_in(buf.data(), n);
      // Junk, or a late answer to an earlier transaction: wait on.
      if (udp_response_transaction(packet_in) != tid) continue;
      *armed = false;
      resend.cancel();
      std::error_code ignored;  // an answer over IPv6 carries 18-byte peers (BEP 15)
      co_return parse_udp_response(packet_in, socket->remote_endpoint(ignored).protocol() == udp::v6());
    }
    *armed = false;
    resend.cancel();
    if (ec != asio::error::operation_aborted) co_return std::nullopt;  // closed, or a real error
    if (steady_now() >= deadline || !socket->is_open()) {
      ec = asio::error::timed_out;
      co_return std::nullopt;
    }
    ec.clear();
    ++attempt;  // udp_retransmit_wait stops doubling at 8
  }
}

/// One BEP 15 request (announce or scrape) with a connection id: connects first when the
/// state holds no id under a minute old, retransmits, and connects again once when an id
/// kept from an earlier call is refused. The answer, or why there is none.
struct udp_result {
  std::optional<udp_response> answer{};
  std::string error{};
};

asio::awaitable<udp_result> udp_transaction(asio::strand<asio::io_context::executor_type> strand,
                                            std::shared_ptr<udp::socket> socket,
                                            const ip_address& local_ip, const tracker_url& url,
                                            std::function<std::string(std::uint64_t, std::uint32_t)> request,
                                            duration timeout, duration retransmit_base, udp_tracker_state& state) {
  const time_point deadline = steady_now() + timeout;
  std::error_code ec;
  std::optional<udp_result> outcome;
  do {
    open_towards(*socket, local_ip, url.address, ec);  // the tracker sees our own address
    if (ec) break;
    socket->connect(make_endpoint<udp>(url.address, url.port), ec);  // and only its datagrams reach us
    if (ec) break;
    unsigned attempt = 0;  // the retransmission count runs on across both exchanges
    bool fresh_id = false;  // the id in use came in this call (else kept from an earlier one)
    while (!outcome) {
      if (!state.connection_id || steady_now() - state.obtained >= udp_connection_id_lifetime) {
        state.connection_id.reset();
        const auto tid = static_cast<std::uint32_t>(state.transaction_ids());
        const auto answer = co_await udp_exchange(strand, socket, encode_udp_request(udp_connect_request{tid}), tid,
                                                  retransmit_base, attempt, deadline, ec);
        if (!answer) break;
        if (!*answer) {
          outcome = udp_result{.error = bad_answer(answer->error())};
        } else if (const auto* e = std::get_if<udp_error_response>(&**answer)) {
          outcome = udp_result{.error = "tracker: " + e->message};
        } else if (const auto* c = std::get_if<udp_connect_response>(&**answer)) {
          state.connection_id = c->connection_id;
          state.obtained = steady_now();
          fresh_id = true;
        } else {
          outcome = udp_result{.error = "bad response: not a connect answer"};
        }
        continue;
      }
      const auto tid = static_cast<std::uint32_t>(state.transaction_ids());
      const auto answer = co_await udp_exchange(strand, socket, request(*state.connection_id, tid), tid, retransmit_base,
                                                attempt, std::min(deadline, state.obtained + udp_connection_id_lifetime), ec);
      if (!answer) {
        // The id ran out while we retransmitted: a new one, if time is left.
        if (ec == asio::error::timed_out && steady_now() < deadline) {
          state.connection_id.reset();
          ec.clear();
          continue;
        }
        break;
      }
      if (!*answer) {
        outcome = udp_result{.error = bad_answer(answer->error())};
      } else if (const auto* e = std::get_if<udp_error_response>(&**answer)) {
        state.connection_id.reset();  // perhaps it no longer takes our id (restarted): connect again, once
        if (!fresh_id) continue;
        outcome = udp_result{.error = "tracker: " + e->message};
      } else {
        outcome = udp_result{.answer = std::move(answer->value())};
      }
    }
  } while (false);
  std::error_code ignored;
  socket->close(ignored);
  if (outcome) co_return std::move(*outcome);
  co_return udp_result{.error = ec == asio::error::timed_out || ec == asio::error::operation_aborted ||
                                        ec == asio::error::bad_descriptor
                                    ? "timeout"
                                    : ec.message()};
}

}  // namespace

asio::awaitable<announce_outcome> udp_announce(asio::strand<asio::io_context::executor_type> strand,
                                               std::shared_ptr<udp::socket> socket,
                                               const ip_address& local_ip, const tracker_url& url,
                                               const announce_request& request, duration timeout,
                                               duration retransmit_base, udp_tracker_state& state) {
  auto r = co_await udp_transaction(
      strand, std::move(socket), local_ip, url,
      [&request](std::uint64_t cid, std::uint32_t tid) {
        return encode_udp_request(udp_announce_request{.connection_id = cid, .transaction_id = tid, .request = request});
      },
      timeout, retransmit_base, state);
  if (!r.answer) co_return announce_outcome{.error = std::move(r.error)};
  auto* a = std::get_if<udp_announce_response>(&*r.answer);
  if (a == nullptr) co_return announce_outcome{.error = "bad response: not an announce answer"};
  co_return announce_outcome{.response = std::move(a->response)};
}

asio::awaitable<scrape_outcome> udp_scrape(asio::strand<asio::io_context::executor_type> strand,
                                           std::shared_ptr<udp::socket> socket,
                                           const ip_address& local_ip, const tracker_url& url,
                                           std::vector<sha1_digest> info_hashes, duration timeout,
                                           duration retransmit_base, udp_tracker_state& state) {
  if (info_hashes.empty() || info_hashes.size() > udp_max_scrape_hashes)
    co_return scrape_outcome{.error = "a UDP scrape asks for 1 to 74 torrents"};
  auto r = co_await udp_transaction(
      strand, std::move(socket), local_ip, url,
      [&info_hashes](std::uint64_t cid, std::uint32_t tid) {
        return encode_udp_request(udp_scrape_request{.connection_id = cid, .transaction_id = tid, .info_hashes = info_hashes});
      },
      timeout, retransmit_base, state);
  if (!r.answer) co_return scrape_outcome{.error = std::move(r.error)};
  const auto* a = std::get_if<udp_scrape_response>(&*r.answer);
  if (a == nullptr || a->entries.size() != info_hashes.size())
    co_return scrape_outcome{.error = "bad response: not a scrape answer for " + std::to_string(info_hashes.size()) +
                                      " torrents"};
  scrape_outcome out;
  for (std::size_t i = 0; i < info_hashes.size(); ++i)
    out.entries.push_back(scrape_entry{.info_hash = info_hashes[i],
                                       .complete = a->entries[i].seeders,
                                       .downloaded = a->entries[i].completed,
                                       .incomplete = a->entries[i].leechers});
  co_return out;
}

}  // namespace p2pdist::bt
