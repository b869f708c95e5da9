// The HTTP tracker server on real loopback sockets: a server on 127.0.0.1 port 0 runs its
// io_context on a thread; the test thread talks to it with non-blocking sockets and every
// wait bounded by a deadline (poll(2)), so a broken server fails a test instead of hanging
// it. Expected peer bytes are written out by hand from the addresses and ports used.

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "loopback/protocol/bencode.hpp"
#include "loopback/protocol/endpoint.hpp"
#include "loopback/protocol/tracker_codec.hpp"
#include "loopback/net/tracker_server.hpp"

namespace {

using namespace std::chrono_literals;
using namespace p2pdist::bt;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using ipv4_bytes = std::array<std::uint8_t, 4>;

/// How long any single wait of a test may take before the test fails.
constexpr std::chrono::milliseconds wait_limit = 5s;

/// Polls `condition` every millisecond until it holds or `limit` passes.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds limit = wait_limit) {
  const auto deadline = steady::now() + limit;
  while (!condition()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
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

http_reply parse_reply(const std::string& raw) {
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
http_reply http_exchange(std::uint16_t port, std::string_view request, ipv4_bytes from = {127, 0, 0, 1}) {
  test_client client(port, from);
  client.send_all(request);
  ending how{};
  const std::string raw = client.read_to_end(how);
  REQUIRE(how == ending::end_of_stream);
  return parse_reply(raw);
}

http_reply get(std::uint16_t port, std::string_view target, ipv4_bytes from = {127, 0, 0, 1}) {
  return http_exchange(port, "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", from);
}

sha1_digest hash_of(char c) {
  sha1_digest h{};
  h.fill(static_cast<std::byte>(c));
  return h;
}

peer_id id_of(int n) {
  const std::string text = "-PD0001-" + std::string(8, '0') + std::to_string(1000 + n);
  peer_id id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::byte>(text[i]);
  return id;
}

std::string id_string(const peer_id& id) {
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

std::string target_for(const announce_args& a) {
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
bvalue announce(std::uint16_t port, const announce_args& a) {
  const http_reply reply = get(port, target_for(a), a.from);
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.find("Content-Type: text/plain\r\n") != std::string::npos);
  auto body = bdecode(reply.body);
  REQUIRE(body.has_value());
  REQUIRE(body->is_dict());
  return std::move(body).value();
}

std::int64_t int_at(const bvalue& dict, std::string_view key) {
  const bvalue* v = dict.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_int());
  return *v->as_int();
}

std::string string_at(const bvalue& dict, std::string_view key) {
  const bvalue* v = dict.find(key);
  REQUIRE(v != nullptr);
  REQUIRE(v->is_string());
  return *v->as_string();
}

/// The compact entries of a response, 6 bytes each.
std::set<std::string> compact_peers(const bvalue& response) {
  const std::string peers = string_at(response, "peers");
  REQUIRE(peers.size() % 6 == 0);
  std::set<std::string> out;
  for (std::size_t i = 0; i < peers.size(); i += 6) out.insert(peers.substr(i, 6));
  REQUIRE(out.size() == peers.size() / 6);  // no peer twice
  return out;
}

/// A compact entry written by hand: 4 address bytes, then the port big-endian.
std::string entry(ipv4_bytes ip, std::uint16_t port) {
  return {static_cast<char>(ip[0]), static_cast<char>(ip[1]), static_cast<char>(ip[2]),
          static_cast<char>(ip[3]), static_cast<char>(port >> 8), static_cast<char>(port & 0xff)};
}

tracker_config test_config() { return tracker_config{.listen = {.ip = {127, 0, 0, 1}, .port = 0}}; }

}  // namespace

TEST_CASE("parse_endpoint reads strict ADDR:PORT", "[loopback][endpoint]") {
  static_assert(parse_endpoint("127.0.0.1:6969") == endpoint_v4{.ip = {127, 0, 0, 1}, .port = 6969});
  CHECK(parse_endpoint("10.20.30.40:0") == endpoint_v4{.ip = {10, 20, 30, 40}, .port = 0});
  CHECK(parse_endpoint("255.255.255.255:65535") == endpoint_v4{.ip = {255, 255, 255, 255}, .port = 65535});
  const char* bad[] = {"",           "127.0.0.1",       "127.0.0.1:",     ":6969",        "127.0.0:1",
                       "127.0.0.1.1:80", "127.0.0.256:80", "127.0.0.01:80", "127.0.0.1:65536", "127.0.0.1:-1",
                       "127.0.0.1:+80", "127.0.0.1:080", "localhost:80",  "[::1]:80",     " 127.0.0.1:80",
                       "127.0.0.1:80 ", "127..0.1:80",    "127.0.0.1:99999999999"};
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(parse_endpoint(text).has_value());
  }
  CHECK(to_string(endpoint_v4{.ip = {127, 0, 0, 12}, .port = 51413}) == "127.0.0.12:51413");
  const auto round = parse_endpoint(to_string(endpoint_v4{.ip = {127, 1, 2, 3}, .port = 1}));
  CHECK(round == endpoint_v4{.ip = {127, 1, 2, 3}, .port = 1});
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

TEST_CASE("announce: compact peers are exact 6-byte entries, requester excluded", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  REQUIRE(port != 0);

  const bvalue first = announce(port, {.peer = 1, .port = 6881, .left_bytes = 100});
  CHECK(int_at(first, "interval") == 5);
  CHECK(string_at(first, "peers").empty());
  CHECK(int_at(first, "complete") == 0);
  CHECK(int_at(first, "incomplete") == 1);

  // A seed from 127.0.0.7, port 51413 = 0xC8D5: sees the leecher at 127.0.0.1:6881 = 0x1AE1.
  const bvalue second = announce(port, {.peer = 2, .port = 51413, .left_bytes = 0, .from = {127, 0, 0, 7}});
  CHECK(string_at(second, "peers") == std::string("\x7f\x00\x00\x01\x1a\xe1", 6));
  CHECK(int_at(second, "complete") == 1);
  CHECK(int_at(second, "incomplete") == 1);

  const bvalue again = announce(port, {.peer = 1, .port = 6881, .left_bytes = 50, .event = announce_event::none});
  CHECK(string_at(again, "peers") == std::string("\x7f\x00\x00\x07\xc8\xd5", 6));
  CHECK(tracker.stats().peers_held == 2);
  CHECK(tracker.stats().torrents == 1);
  CHECK(tracker.stats().announces == 3);
}

TEST_CASE("announce: list form with compact=0 holds ip, port and peer id", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  announce(tracker.port(), {.peer = 1, .port = 7001, .from = {127, 0, 0, 21}});
  const bvalue r = announce(tracker.port(), {.peer = 2, .port = 7002, .compact = false});
  const bvalue* peers = r.find("peers");
  REQUIRE(peers != nullptr);
  REQUIRE(peers->is_list());
  REQUIRE(peers->as_list()->size() == 1);
  const bvalue& p = peers->as_list()->front();
  CHECK(string_at(p, "ip") == "127.0.0.21");
  CHECK(int_at(p, "port") == 7001);
  CHECK(string_at(p, "peer id") == id_string(id_of(1)));
}

TEST_CASE("announce: the address is the connection's, ip= is ignored", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  announce(tracker.port(), {.peer = 1, .port = 7001, .ip = "10.1.2.3", .from = {127, 0, 0, 9}});
  const bvalue r = announce(tracker.port(), {.peer = 2, .port = 7002});
  CHECK(compact_peers(r) == std::set<std::string>{entry({127, 0, 0, 9}, 7001)});
}

TEST_CASE("announce: peers are kept by (address, port)", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  announce(port, {.peer = 2, .port = 7001, .from = {127, 0, 0, 2}});  // same port, other address
  announce(port, {.peer = 3, .port = 7002});                          // same address, other port
  announce(port, {.peer = 4, .port = 7001});  // (127.0.0.1, 7001) again, with a new id: replaces
  CHECK(tracker.stats().peers_held == 3);
  const bvalue r = announce(port, {.peer = 9, .port = 7009, .compact = false});
  std::set<std::string> ids;
  for (const bvalue& p : *r.find("peers")->as_list()) ids.insert(string_at(p, "peer id"));
  CHECK(ids == std::set<std::string>{id_string(id_of(2)), id_string(id_of(3)), id_string(id_of(4))});
}

TEST_CASE("announce: numwant and max_peers_returned bound the peers, chosen at random",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_returned = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  std::set<std::string> everyone;
  for (int i = 0; i < 6; ++i) {
    const auto p = static_cast<std::uint16_t>(7001 + i);
    announce(port, {.peer = i, .port = p});
    everyone.insert(entry({127, 0, 0, 1}, p));
  }
  const announce_args me{.peer = 99, .port = 7099, .event = announce_event::none};
  const std::string self = entry({127, 0, 0, 1}, 7099);

  auto with_numwant = [&](std::optional<int> n) {
    announce_args a = me;
    a.numwant = n;
    return compact_peers(announce(port, a));
  };
  const auto two = with_numwant(2);
  CHECK(two.size() == 2);
  for (const auto& e : two) CHECK(everyone.count(e) == 1);
  CHECK(with_numwant(0).empty());
  CHECK(with_numwant(std::nullopt).size() == 3);  // default 50, capped at 3
  CHECK(with_numwant(100).size() == 3);

  // One peer out of six, 30 times: a fixed choice would give one peer every time.
  std::set<std::string> seen;
  for (int i = 0; i < 30; ++i) {
    const auto one = with_numwant(1);
    REQUIRE(one.size() == 1);
    CHECK(one.count(self) == 0);
    seen.insert(*one.begin());
  }
  CHECK(seen.size() >= 3);
}

TEST_CASE("announce: stopped removes the peer", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  announce(port, {.peer = 2, .port = 7002});
  REQUIRE(tracker.stats().peers_held == 2);
  const bvalue bye = announce(port, {.peer = 1, .port = 7001, .event = announce_event::stopped});
  CHECK(string_at(bye, "peers").empty());
  CHECK(tracker.stats().peers_held == 1);
  const bvalue r = announce(port, {.peer = 2, .port = 7002, .event = announce_event::none});
  CHECK(string_at(r, "peers").empty());
  CHECK(int_at(r, "incomplete") == 1);
  announce(port, {.peer = 2, .port = 7002, .event = announce_event::stopped});
  CHECK(tracker.stats().peers_held == 0);
  CHECK(tracker.stats().torrents == 0);
}

TEST_CASE("announce: two torrents are kept apart", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.info_hash = hash_of('a'), .peer = 1, .port = 7001});
  announce(port, {.info_hash = hash_of('b'), .peer = 2, .port = 7002});
  const bvalue a = announce(port, {.info_hash = hash_of('a'), .peer = 3, .port = 7003});
  const bvalue b = announce(port, {.info_hash = hash_of('b'), .peer = 4, .port = 7004});
  CHECK(compact_peers(a) == std::set<std::string>{entry({127, 0, 0, 1}, 7001)});
  CHECK(compact_peers(b) == std::set<std::string>{entry({127, 0, 0, 1}, 7002)});
  CHECK(tracker.stats().torrents == 2);
}

TEST_CASE("announce: a peer not heard from for peer_expiry is dropped", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.peer_expiry = 400ms;
  running_tracker tracker(config);
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001});
  const bvalue fresh = announce(port, {.peer = 2, .port = 7002});
  CHECK(compact_peers(fresh) == std::set<std::string>{entry({127, 0, 0, 1}, 7001)});

  // Peer 2 keeps announcing; peer 1 falls silent and must disappear from its answers.
  const announce_args refresh{.peer = 2, .port = 7002, .event = announce_event::none};
  CHECK(eventually([&] { return compact_peers(announce(port, refresh)).empty(); }));
  const bvalue third = announce(port, {.peer = 3, .port = 7003});
  CHECK(compact_peers(third) == std::set<std::string>{entry({127, 0, 0, 1}, 7002)});
  // With nobody announcing, the periodic sweep empties the tracker.
  CHECK(eventually([&] { return tracker.stats().peers_held == 0 && tracker.stats().torrents == 0; }));
}

TEST_CASE("announce: a malformed request gets a bencoded failure reason", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const std::string good = target_for({.peer = 1});

  auto failure_of = [&](const std::string& target) {
    const http_reply reply = get(port, target);
    REQUIRE(reply.status == 200);
    auto body = bdecode(reply.body);
    REQUIRE(body.has_value());
    CHECK(body->find("peers") == nullptr);
    return string_at(*body, "failure reason");
  };

  // Drop info_hash: the target without its first parameter.
  const std::size_t amp = good.find('&');
  REQUIRE(good.rfind("/announce?info_hash=", 0) == 0);
  CHECK_THAT(failure_of("/announce?" + good.substr(amp + 1)), Catch::Contains("missing info_hash"));
  CHECK_THAT(failure_of(good + "&port=%zz"), Catch::Contains("invalid percent escape"));
  CHECK_THAT(failure_of("/announce?info_hash=%zz"), Catch::Contains("invalid percent escape"));
  CHECK_THAT(failure_of("/announce"), Catch::Contains("missing info_hash"));
  std::string bad_compact = good;
  const std::size_t compact_at = bad_compact.find("compact=1");
  REQUIRE(compact_at != std::string::npos);
  bad_compact[compact_at + 8] = '2';
  CHECK_THAT(failure_of(bad_compact), Catch::Contains("compact is not 0 or 1"));
  CHECK_THAT(failure_of(good + "&port=1"), Catch::Contains("parameter given twice"));
  CHECK(tracker.stats().failures == 6);
  CHECK(tracker.stats().peers_held == 0);

  // Parameters the tracker does not know are ignored; key, ip and event are not required.
  const http_reply ok = get(port, good + "&supportcrypto=1&no_peer_id=1&corrupt=0");
  REQUIRE(ok.status == 200);
  auto body = bdecode(ok.body);
  REQUIRE(body.has_value());
  CHECK(body->find("failure reason") == nullptr);
  CHECK(int_at(*body, "interval") == 5);
  CHECK(tracker.stats().peers_held == 1);
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

TEST_CASE("scrape: complete, downloaded and incomplete per torrent", "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  announce(port, {.peer = 1, .port = 7001, .left_bytes = 10});
  announce(port, {.peer = 2, .port = 7002, .left_bytes = 0});  // a seed from the start
  announce(port, {.peer = 3, .port = 7003, .left_bytes = 10});
  announce(port, {.peer = 3, .port = 7003, .left_bytes = 0, .event = announce_event::completed});
  announce(port, {.info_hash = hash_of('b'), .peer = 4, .port = 7004});

  auto files_of = [&](const std::string& target) {
    const http_reply reply = get(port, target);
    REQUIRE(reply.status == 200);
    auto body = bdecode(reply.body);
    REQUIRE(body.has_value());
    const bvalue* files = body->find("files");
    REQUIRE(files != nullptr);
    REQUIRE(files->is_dict());
    return *files->as_dict();
  };
  const std::string a(20, 'a'), b(20, 'b'), z(20, 'z');
  const auto one = files_of("/scrape?info_hash=" + percent_encode(a) + "&info_hash=" + percent_encode(z));
  REQUIRE(one.size() == 2);
  CHECK(int_at(one.at(a), "complete") == 2);
  CHECK(int_at(one.at(a), "incomplete") == 1);
  CHECK(int_at(one.at(a), "downloaded") == 1);
  CHECK(int_at(one.at(z), "complete") == 0);
  CHECK(int_at(one.at(z), "incomplete") == 0);

  const auto all = files_of("/scrape");
  REQUIRE(all.size() == 2);
  CHECK(int_at(all.at(b), "incomplete") == 1);
  CHECK(int_at(all.at(b), "downloaded") == 0);
  CHECK(tracker.stats().scrapes == 2);

  const http_reply bad = get(port, "/scrape?info_hash=%zz");
  REQUIRE(bad.status == 200);
  CHECK(bad.body.find("failure reason") != std::string::npos);
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

TEST_CASE("stop closes the listener and open connections; twice is fine", "[loopback][tracker]") {
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

// ---- flood: announces from one address ---------------------------------------------------

TEST_CASE("flood: an address past max_peers_per_address replaces its own oldest peers", "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_address = 3;
  running_tracker tracker(config);
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66}, honest{127, 0, 0, 2};
  announce(port, {.peer = 50, .port = 7100, .from = honest});
  for (int i = 1; i <= 5; ++i) {
    announce(port, {.peer = i, .port = static_cast<std::uint16_t>(7000 + i), .from = flooder});
  }
  // 7001 and 7002 were the flooder's least recently announced when 7004 and 7005 came.
  CHECK(tracker.stats().peers_held == 4);
  CHECK(tracker.stats().peers_evicted == 2);
  const bvalue fresh = announce(port, {.peer = 60, .port = 7200, .from = {127, 0, 0, 3}});
  CHECK(compact_peers(fresh) == std::set<std::string>{entry(honest, 7100), entry(flooder, 7003),
                                                      entry(flooder, 7004), entry(flooder, 7005)});
  // A re-announce refreshes: 7003 is now the flooder's newest, so 7004 goes next.
  announce(port, {.peer = 3, .port = 7003, .event = announce_event::none, .from = flooder});
  announce(port, {.peer = 6, .port = 7006, .from = flooder});
  const bvalue after = announce(port, {.peer = 60, .port = 7200, .event = announce_event::none,
                                       .from = {127, 0, 0, 3}});
  CHECK(compact_peers(after) == std::set<std::string>{entry(honest, 7100), entry(flooder, 7003),
                                                      entry(flooder, 7005), entry(flooder, 7006)});
  // Other addresses are untouched by the cap.
  CHECK(tracker.stats().peers_held == 5);
}

TEST_CASE("flood: announces for random torrents from one address keep the tables bounded",
          "[loopback][tracker]") {
  tracker_config config = test_config();
  config.max_peers_per_address = 4;
  running_tracker tracker(config);
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66};
  announce(port, {.info_hash = hash_of('a'), .peer = 1, .port = 7001, .from = {127, 0, 0, 2}});
  for (int i = 0; i < 20; ++i) {
    announce(port, {.info_hash = hash_of(static_cast<char>('A' + i)), .peer = 2 + i, .port = 7002, .from = flooder});
  }
  // The honest torrent and the flooder's last four remain; each evicted peer took its
  // (otherwise empty) torrent with it.
  CHECK(tracker.stats().torrents == 5);
  CHECK(tracker.stats().peers_held == 5);
  CHECK(tracker.stats().peers_evicted == 16);
  const http_reply reply = get(port, "/scrape?info_hash=" + percent_encode(std::string(20, 'a')) +
                                         "&info_hash=" + percent_encode(std::string(20, 'A')) +
                                         "&info_hash=" + percent_encode(std::string(20, 'A' + 19)));
  REQUIRE(reply.status == 200);
  auto body = bdecode(reply.body);
  REQUIRE(body.has_value());
  const auto& files = *body->find("files")->as_dict();
  CHECK(int_at(files.at(std::string(20, 'a')), "incomplete") == 1);
  CHECK(int_at(files.at(std::string(20, 'A')), "incomplete") == 0);
  CHECK(int_at(files.at(std::string(20, 'A' + 19)), "incomplete") == 1);
}

TEST_CASE("flood: an answer spreads its peers over addresses, so fake ports cannot crowd others out",
          "[loopback][tracker]") {
  running_tracker tracker(test_config());
  const auto port = tracker.port();
  const ipv4_bytes flooder{127, 0, 0, 66}, seed{127, 0, 0, 2}, leecher{127, 0, 0, 3};
  announce(port, {.peer = 1, .port = 7100, .left_bytes = 0, .from = seed});
  announce(port, {.peer = 2, .port = 7200, .from = leecher});
  std::set<std::string> fakes;
  for (int i = 0; i < 200; ++i) {
    const auto p = static_cast<std::uint16_t>(20000 + i);
    announce(port, {.peer = 100 + i, .port = p, .from = flooder});
    fakes.insert(entry(flooder, p));
  }
  REQUIRE(tracker.stats().peers_held == 202);
  // Three addresses besides the asker's: a round gives one peer of each, so five peers are
  // the seed, the leecher and three fakes (drawn uniformly, one of 202 would hold the
  // seed and the leecher together with probability 5 * 4 / (202 * 201), about 0.05 %).
  for (int round = 0; round < 5; ++round) {
    const bvalue r = announce(port, {.peer = 9, .port = 7300, .numwant = 5, .from = {127, 0, 0, 4}});
    const auto got = compact_peers(r);
    CHECK(got.size() == 5);
    CHECK(got.count(entry(seed, 7100)) == 1);
    CHECK(got.count(entry(leecher, 7200)) == 1);
    std::size_t fake = 0;
    for (const auto& e : got) fake += fakes.count(e);
    CHECK(fake == 3);
  }
}
