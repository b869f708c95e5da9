#pragma once
// Helpers shared by the tracker server's tests on real loopback sockets
// (test_tracker_server.cpp, test_tracker_server_http.cpp): a server on 127.0.0.1 port 0
// runs its io_context on a thread; the test thread talks to it with non-blocking sockets
// and every wait bounded by a deadline (poll(2)), so a broken server fails a test instead
// of hanging it. Expected peer bytes are written out by hand from the addresses and ports
// used.

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/net/tracker_server.hpp"

namespace p2pdist::bt::test {

using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using ipv4_bytes = std::array<std::uint8_t, 4>;

/// How long any single wait of a test may take before the test fails.
inline constexpr std::chrono::milliseconds wait_limit = std::chrono::seconds{5};

/// Polls `condition` every millisecond until it holds or `limit` passes.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds limit = wait_limit) {
  const auto deadline = steady::now() + limit;
  while (!condition()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

/// A tracker running on its own io_context thread; stopped and joined on destruction.
class running_tracker {
 public:
  explicit running_tracker(const tracker_config& config, int threads = 1) : server_(io_, config) {
    server_.start();
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  running_tracker(const running_tracker&) = delete;
  running_tracker& operator=(const running_tracker&) = delete;
  ~running_tracker() {
    server_.stop();
    for (auto& t : threads_) t.join();
  }
  std::uint16_t port() const { return server_.port(); }
  tracker_stats stats() const { return server_.stats(); }
  void stop() { server_.stop(); }

 private:
  asio::io_context io_;
  tracker_server server_;
  std::vector<std::thread> threads_;
};

/// How a bounded read or write ended.
enum class ending { done, end_of_stream, reset, timed_out };

/// A client connection with non-blocking I/O and a deadline on every wait.
class test_client {
 public:
  explicit test_client(std::uint16_t port, ipv4_bytes from = {127, 0, 0, 1}, int send_buffer_bytes = 0)
      : socket_(io_) {
    socket_.open(tcp::v4());
    if (send_buffer_bytes > 0) socket_.set_option(asio::socket_base::send_buffer_size(send_buffer_bytes));
    socket_.bind(tcp::endpoint(asio::ip::address_v4(from), 0));
    socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    socket_.set_option(tcp::no_delay(true));
    socket_.non_blocking(true);
  }

  /// Sends `data` until all is sent, an error, or the deadline; returns bytes sent.
  std::size_t send(std::string_view data, ending& how, std::chrono::milliseconds limit = wait_limit) {
    const auto deadline = steady::now() + limit;
    std::size_t sent = 0;
    while (sent < data.size()) {
      std::error_code ec;
      sent += socket_.write_some(asio::buffer(data.data() + sent, data.size() - sent), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (!wait_for(POLLOUT, deadline)) {
          how = ending::timed_out;
          return sent;
        }
      } else if (ec) {
        how = ending::reset;
        return sent;
      }
    }
    how = ending::done;
    return sent;
  }
  /// Sends all of `data`; fails the test otherwise.
  void send_all(std::string_view data) {
    ending how{};
    REQUIRE(send(data, how) == data.size());
    REQUIRE(how == ending::done);
  }

  /// Reads until the peer closes (end_of_stream or reset) or the deadline (timed_out).
  std::string read_to_end(ending& how, std::chrono::milliseconds limit = wait_limit) {
    const auto deadline = steady::now() + limit;
    std::string out;
    std::array<char, 4096> chunk{};
    for (;;) {
      std::error_code ec;
      const std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
      out.append(chunk.data(), n);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (!wait_for(POLLIN, deadline)) {
          how = ending::timed_out;
          return out;
        }
      } else if (ec == asio::error::eof) {
        how = ending::end_of_stream;
        return out;
      } else if (ec) {
        how = ending::reset;
        return out;
      }
    }
  }

  /// True when the server has neither closed nor reset the connection yet (checked now,
  /// without waiting); the server must not have sent anything.
  bool open_now() {
    pollfd p{.fd = socket_.native_handle(), .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  bool wait_for(short events, steady::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = socket_.native_handle(), .events = events, .revents = 0};
    return ::poll(&p, 1, static_cast<int>(left.count()) + 1) > 0;
  }

  asio::io_context io_;
  tcp::socket socket_;
};

/// An HTTP reply split into status, headers and body.
struct http_reply {
  int status = 0;
  std::string headers;
  std::string body;
};

/// Splits a raw reply; checks its status line, Content-Length and Connection: close.
inline http_reply parse_reply(const std::string& raw) {
  http_reply out;
  REQUIRE(raw.rfind("HTTP/1.", 0) == 0);
  REQUIRE(raw.size() >= 12);
  out.status = std::stoi(raw.substr(9, 3));
  const std::size_t end = raw.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  out.headers = raw.substr(0, end + 2);
  out.body = raw.substr(end + 4);
  const std::string length = "Content-Length: " + std::to_string(out.body.size()) + "\r\n";
  CHECK(out.headers.find(length) != std::string::npos);
  CHECK(out.headers.find("Connection: close\r\n") != std::string::npos);
  return out;
}

/// Sends one raw request and reads the whole reply (the server closes after it).
inline http_reply http_exchange(std::uint16_t port, std::string_view request,
                                ipv4_bytes from = {127, 0, 0, 1}) {
  test_client client(port, from);
  client.send_all(request);
  ending how{};
  const std::string raw = client.read_to_end(how);
  REQUIRE(how == ending::end_of_stream);
  return parse_reply(raw);
}

/// GETs `target` with HTTP/1.1 from the address `from`.
inline http_reply get(std::uint16_t port, std::string_view target, ipv4_bytes from = {127, 0, 0, 1}) {
  return http_exchange(port, "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", from);
}

/// An info-hash of 20 bytes `c`.
inline sha1_digest hash_of(char c) {
  sha1_digest h{};
  h.fill(static_cast<std::byte>(c));
  return h;
}

/// The peer id numbered n: "-PD0001-00000000" and 1000 + n.
inline peer_id id_of(int n) {
  const std::string text = "-PD0001-" + std::string(8, '0') + std::to_string(1000 + n);
  peer_id id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::byte>(text[i]);
  return id;
}

/// A peer id as a string of its 20 bytes.
inline std::string id_string(const peer_id& id) {
  std::string s;
  for (auto b : id) s += static_cast<char>(b);
  return s;
}

/// One announce as the tests send it.
struct announce_args {
  sha1_digest info_hash = hash_of('a');
  int peer = 1;                     ///< peer id number
  std::uint16_t port = 6881;
  std::uint64_t left_bytes = 1000;
  announce_event event = announce_event::started;
  bool compact = true;
  std::optional<int> numwant{};
  std::optional<std::string> ip{};
  ipv4_bytes from{127, 0, 0, 1};    ///< source address of the connection
};

/// The announce target for `a`.
inline std::string target_for(const announce_args& a) {
  announce_request r;
  r.info_hash = a.info_hash;
  r.id = id_of(a.peer);
  r.port = a.port;
  r.left_bytes = a.left_bytes;
  r.event = a.event;
  r.compact = a.compact;
  r.numwant = a.numwant;
  r.ip = a.ip;
  return announce_target("/announce", r);
}

/// Announces and decodes the bencoded body of a 200 reply.
inline bvalue announce(std::uint16_t port, const announce_args& a) {
  const http_reply reply = get(port, target_for(a), a.from);
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.find("Content-Type: text/plain\r\n") != std::string::npos);
  auto body = bdecode(reply.body);
  REQUIRE(body.has_value());
  REQUIRE(body->is_dict());
  return std::move(body).value();
}

/// The `files` dictionary of a 200 scrape reply to `target` (its torrents by info-hash).
inline bvalue::dict scrape_files(std::uint16_t port, const std::string& target) {
  const http_reply reply = get(port, target);
  REQUIRE(reply.status == 200);
  auto body = bdecode(reply.body);
  REQUIRE(body.has_value());
  const bvalue* files = body->find("files");
  REQUIRE(files != nullptr);
  REQUIRE(files->is_dict());
  return *files->as_dict();
}

/// The integer under `key` of a dictionary; fails the test when there is none.
inline std::int64_t int_at(const bvalue& dict, std::string_view key) {
  const bvalue* v = dict.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_int());
  return *v->as_int();
}

/// The string under `key` of a dictionary; fails the test when there is none.
inline std::string string_at(const bvalue& dict, std::string_view key) {
  const bvalue* v = dict.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_string());
  return *v->as_string();
}

/// The compact entries of a response, 6 bytes each.
inline std::set<std::string> compact_peers(const bvalue& response) {
  const std::string peers = string_at(response, "peers");
  REQUIRE(peers.size() % 6 == 0);
  std::set<std::string> out;
  for (std::size_t i = 0; i < peers.size(); i += 6) out.insert(peers.substr(i, 6));
  REQUIRE(out.size() == peers.size() / 6);  // no peer twice
  return out;
}

/// A compact entry written by hand: 4 address bytes, then the port big-endian.
inline std::string entry(ipv4_bytes ip, std::uint16_t port) {
  return {static_cast<char>(ip[0]), static_cast<char>(ip[1]), static_cast<char>(ip[2]),
          static_cast<char>(ip[3]), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

/// A tracker on 127.0.0.1, a free port, default limits.
inline tracker_config test_config() { return tracker_config{.listen = {.ip = {127, 0, 0, 1}, .port = 0}}; }

}  // namespace p2pdist::bt::test
