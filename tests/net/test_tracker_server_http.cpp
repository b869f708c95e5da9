// The HTTP tracker server's connections, on real loopback sockets: addresses and limits,
// HTTP errors, garbage (oversized, binary, silent, slow, too many connections), stop, and
// several threads. Announces, scrape and floods are tested in test_tracker_server.cpp; the
// helpers (a server on its own thread, a client with bounded waits) are in
// tracker_testing.hpp.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/net/tracker_server.hpp"

#include "tracker_testing.hpp"

using namespace std::chrono_literals;
using namespace p2pdist::bt;
using namespace p2pdist::bt::test;

TEST_CASE("parse_endpoint reads strict ADDR:PORT", "[loopback][endpoint]") {
  CHECK(parse_endpoint("127.0.0.1:6969") == endpoint{.ip = {127, 0, 0, 1}, .port = 6969});
  CHECK(parse_endpoint("10.20.30.40:0") == endpoint{.ip = {10, 20, 30, 40}, .port = 0});
  CHECK(parse_endpoint("255.255.255.255:65535") == endpoint{.ip = {255, 255, 255, 255}, .port = 65535});
  const char* bad[] = {"",           "127.0.0.1",       "127.0.0.1:",     ":6969",        "127.0.0:1",
                       "127.0.0.1.1:80", "127.0.0.256:80", "127.0.0.01:80", "127.0.0.1:65536", "127.0.0.1:-1",
                       "127.0.0.1:+80", "127.0.0.1:080", "localhost:80",  "::1:80",       " 127.0.0.1:80",
                       "127.0.0.1:80 ", "127..0.1:80",    "127.0.0.1:99999999999"};
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_endpoint(text).has_value());
  }
  CHECK(to_string(endpoint{.ip = {127, 0, 0, 12}, .port = 51413}) == "127.0.0.12:51413");
  const auto round = parse_endpoint(to_string(endpoint{.ip = {127, 1, 2, 3}, .port = 1}));
  CHECK(round == endpoint{.ip = {127, 1, 2, 3}, .port = 1});
  CHECK(is_loopback({127, 9, 9, 9}));
  CHECK_FALSE(is_loopback({128, 0, 0, 1}));
  CHECK_FALSE(is_loopback({0, 0, 0, 0}));
}

TEST_CASE("tracker refuses a non-loopback address and bad limits", "[loopback][tracker]") {
  asio::io_context io;
  CHECK_THROWS_AS(tracker_server(io, tracker_config{.listen = {.ip = {0, 0, 0, 0}, .port = 0}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(tracker_server(io, tracker_config{.listen = {.ip = {192, 168, 1, 2}, .port = 0}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(tracker_server(io, tracker_config{.interval = 0s}), std::invalid_argument);
  CHECK_THROWS_AS(tracker_server(io, tracker_config{.max_connections = 0}), std::invalid_argument);
  CHECK_NOTHROW(tracker_server(io, tracker_config{.listen = {.ip = {127, 0, 0, 3}, .port = 0}}));
}

TEST_CASE("tracker reports a port in use, naming the address", "[loopback][tracker]") {
  running_tracker first(test_config());
  asio::io_context io;
  tracker_server second(io, tracker_config{.listen = {.ip = {127, 0, 0, 1}, .port = first.port()}});
  try {
    second.start();
    FAIL("start() on a port in use did not throw");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::address_in_use);
    CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
  }
}

TEST_CASE("HTTP errors: other paths, methods and versions", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  CHECK(get(port, "/").status == 404);
  CHECK(get(port, "/announce.php?info_hash=x").status == 404);
  CHECK(get(port, "/favicon.ico").status == 404);
  CHECK(http_exchange(port, "POST /announce HTTP/1.1\r\n\r\n").status == 400);
  CHECK(http_exchange(port, "GET /announce HTTP/2.0\r\n\r\n").status == 400);
  CHECK(http_exchange(port, "GET  /announce HTTP/1.1\r\n\r\n").status == 400);
  CHECK(http_exchange(port, "GET /announce HTTP/1.0\r\n\r\n").status == 200);  // failure reason
  CHECK(tracker.stats().http_errors == 6);
  CHECK(tracker.stats().failures == 1);
}

TEST_CASE("garbage: a 4 MiB request line is cut off without being buffered", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const std::size_t huge_bytes = 4u << 20;
  std::string request = "GET /announce?x=";
  request.resize(huge_bytes, 'a');
  {
    // A small send buffer keeps the kernels from swallowing the whole 4 MiB at once.
    test_client client(port, {127, 0, 0, 1}, 16 * 1024);
    ending how{};
    const std::size_t sent = client.send(request, how);
    CHECK(how == ending::reset);
    CHECK(sent < huge_bytes);
  }
  CHECK(eventually([&] { return tracker.stats().connections_open == 0; }));
  const tracker_stats s = tracker.stats();
  CHECK(s.bytes_received <= tracker_config{}.max_request_bytes);
  CHECK(s.http_errors == 1);
  // Still serving.
  CHECK(int_at(announce(port, {.peer = 1}), "interval") == 5);
}

TEST_CASE("garbage: a request of exactly max_request_bytes gets 414 or 431", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_request_bytes = 1000;
  running_tracker tracker(config);
  const auto port = tracker.port();

  std::string line = "GET /announce?";
  line.resize(1000, 'x');  // no CRLF anywhere
  CHECK(http_exchange(port, line).status == 414);

  std::string headers = "GET /announce HTTP/1.1\r\nX-Filler: ";
  headers.resize(1000, 'y');  // a complete line, headers never ending
  CHECK(http_exchange(port, headers).status == 431);

  // One byte less than the limit, ending the headers, is a request like any other.
  std::string fits = "GET /nowhere HTTP/1.1\r\nX-Filler: ";
  fits.resize(1000 - 4, 'y');
  fits += "\r\n\r\n";
  REQUIRE(fits.size() == 1000);
  CHECK(http_exchange(port, fits).status == 404);
  CHECK(tracker.stats().bytes_received == 3000);
}

TEST_CASE("garbage: binary bytes are refused at once", "[loopback][tracker]") {
  running_tracker tracker(test_config());  // idle_timeout 10 s: longer than wait_limit
  test_client client(tracker.port());
  client.send_all(std::string("\x13" "BitTorrent protocol", 20));
  ending how{};
  const std::string raw = client.read_to_end(how);
  CHECK(how != ending::timed_out);
  CHECK(raw.rfind("HTTP/1.1 400", 0) == 0);
}

TEST_CASE("garbage: a silent connection is closed at idle_timeout, others are served",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.idle_timeout = 300ms;
  running_tracker tracker(config);
  const auto port = tracker.port();
  test_client silent(port);
  REQUIRE(eventually([&] { return tracker.stats().connections_accepted == 1; }));

  CHECK(int_at(announce(port, {.peer = 1}), "interval") == 5);
  CHECK(silent.open_now());
  CHECK(tracker.stats().timeouts == 0);

  ending how{};
  const std::string raw = silent.read_to_end(how);
  CHECK(how == ending::end_of_stream);
  CHECK(raw.empty());
  CHECK(tracker.stats().timeouts == 1);
  CHECK(tracker.stats().connections_open == 0);
}

TEST_CASE("garbage: a request sent one byte at a time is answered", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const std::string request = "GET " + target_for({.peer = 1}) + " HTTP/1.0\r\n\r\n";
  test_client client(port);
  for (std::size_t i = 0; i < request.size(); ++i) {
    client.send_all(request.substr(i, 1));
    // The server has seen exactly this many bytes: each one arrived in a read of its own.
    REQUIRE(eventually([&] { return tracker.stats().bytes_received == i + 1; }));
  }
  ending how{};
  const http_reply reply = parse_reply(client.read_to_end(how));
  CHECK(how == ending::end_of_stream);
  REQUIRE(reply.status == 200);
  auto body = bdecode(reply.body);
  REQUIRE(body.has_value());
  CHECK(int_at(*body, "interval") == 5);
  CHECK(tracker.stats().peers_held == 1);
}

TEST_CASE("garbage: max_connections drops the oldest connection for a new one", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_connections = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  test_client a(port), b(port), c(port);
  REQUIRE(eventually([&] { return tracker.stats().connections_open == 3; }));

  CHECK(int_at(announce(port, {.peer = 1}), "interval") == 5);
  CHECK(tracker.stats().connections_dropped == 1);
  ending how{};
  CHECK(a.read_to_end(how).empty());
  CHECK(how == ending::end_of_stream);
  CHECK(eventually([&] { return tracker.stats().connections_open == 2; }));
  CHECK(tracker.stats().connections_open <= 3);
  CHECK(b.open_now());
  CHECK(c.open_now());
}

TEST_CASE("stop closes the listener and open connections, twice is fine", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  test_client idle(port);
  REQUIRE(eventually([&] { return tracker.stats().connections_open == 1; }));
  tracker.stop();
  tracker.stop();
  ending how{};
  idle.read_to_end(how);
  CHECK(how != ending::timed_out);
  CHECK(eventually([&] {
    try {
      test_client late(port);
      return false;
    } catch (const std::system_error& e) {
      return e.code() == asio::error::connection_refused;
    }
  }));
}

TEST_CASE("several threads on the context and many clients at once", "[loopback][tracker]") {
  running_tracker tracker(test_config(), 2);
  const auto port = tracker.port();
  constexpr int clients = 4, each = 25;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < each; ++i) {
        const int n = c * each + i;
        test_client client(port);
        client.send_all("GET " + target_for({.peer = n, .port = static_cast<std::uint16_t>(8000 + n)}) +
                        " HTTP/1.1\r\n\r\n");
        ending how{};
        const std::string raw = client.read_to_end(how);
        if (how == ending::end_of_stream && raw.rfind("HTTP/1.1 200", 0) == 0 &&
            raw.find("8:intervali5e") != std::string::npos) {
          ++answered;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(answered == clients * each);
  CHECK(tracker.stats().peers_held == clients * each);
  CHECK(tracker.stats().announces == clients * each);
}
