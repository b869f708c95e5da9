// The metadata fetch of a magnet link (BEP 9 over BEP 10) on real loopback sockets: from
// our own seed through our tracker, and past hostile peers (a fake on the test's side that
// sends metadata that does not hash to the info-hash, or says nothing, or offers no
// extension protocol). Every wait is bounded (the fetch's own timeout, run_for).

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>
#include <catch2/catch.hpp>

#include "loopback/net/client.hpp"
#include "loopback/net/metadata_fetch.hpp"
#include "loopback/net/tracker_client.hpp"
#include "loopback/net/tracker_server.hpp"
#include "loopback/protocol/extension.hpp"
#include "loopback/protocol/wire.hpp"
#include "loopback/storage/storage.hpp"

#include "client_testing.hpp"
#include "tracker_testing.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio's coroutine frames.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

using namespace std::chrono_literals;
using namespace p2pdist::bt;
using namespace p2pdist::bt::test;
using namespace client_testing;
using asio::ip::tcp;

namespace {

enum class fake_kind { wrong_metadata, silent, no_extension };

/// A peer on 127.0.0.`last` (the test's own thread) that misbehaves as `kind` says with
/// every connection, until destroyed.
class fake_metadata_peer {
 public:
  fake_metadata_peer(std::uint8_t last, const metainfo& torrent, fake_kind kind)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address_v4("127.0.0." + std::to_string(last)), 0)),
        torrent_(torrent), kind_(kind) {
    acceptor_.non_blocking(true);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_metadata_peer() {
    stop_ = true;
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }

 private:
  static bool readable(int fd, int ms) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, ms) > 0;
  }

  void serve() {
    while (!stop_) {
      if (!readable(acceptor_.native_handle(), 20)) continue;
      std::error_code ec;
      tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec) continue;
      ++connections_;
      talk(s);
    }
  }

  void send(tcp::socket& s, const wire_event& e) {
    std::vector<std::byte> out;
    wire_append(e, out);
    std::error_code ec;
    asio::write(s, asio::buffer(out), ec);
  }

  void talk(tcp::socket& s) {
    // Its handshake first (it need not wait for ours), then what `kind` says.
    handshake hs{.info_hash = torrent_.info_hash};
    hs.id.fill(std::byte{0x66});
    if (kind_ != fake_kind::no_extension) hs.reserved[extension_protocol_byte] |= extension_protocol_bit;
    send(s, hs);
    if (kind_ == fake_kind::wrong_metadata) {
      // The right size, the wrong bytes: every piece of it, unasked.
      const auto size = torrent_.info_bytes.size();
      send(s, msg::extended{.id = extended_handshake_id,
                            .payload = encode_extension_handshake({.messages = {{"ut_metadata", 3}}, .metadata_size = size})});
      std::string wrong = torrent_.info_bytes;
      wrong[wrong.size() / 2] ^= 0x01;
      for (std::uint32_t i = 0; i < metadata_piece_count(size); ++i) {
        const auto at = std::size_t{i} * metadata_piece_bytes;
        const auto n = std::min<std::size_t>(metadata_piece_bytes, size - at);
        const metadata_message m{.type = metadata_type::data,
                                 .piece = i,
                                 .total_size = size,
                                 .data = std::as_bytes(std::span<const char>(wrong.data() + at, n))};
        send(s, msg::extended{.id = our_ut_metadata_id, .payload = encode_metadata_message(m)});
      }
    }
    // Then read (and ignore) until the other side closes or 5 s pass.
    std::array<char, 4096> sink{};
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      if (!readable(s.native_handle(), 20)) continue;
      std::error_code ec;
      if (s.read_some(asio::buffer(sink), ec) == 0 || ec) break;
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  const metainfo& torrent_;
  fake_kind kind_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

/// Announces a peer at 127.0.0.`last`:`port` to the tracker (as started, a seed).
void announce_peer(std::uint16_t tracker_port, std::uint8_t last, std::uint16_t port, const metainfo& t) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  announce_request r{.info_hash = t.info_hash, .port = port, .event = announce_event::started};
  r.id.fill(std::byte{last});
  const tracker_url url{.host = "127.0.0.1", .address = {127, 0, 0, 1}, .port = tracker_port, .target = "/announce"};
  announce_outcome outcome;
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        const auto socket = std::make_shared<tcp::socket>(strand);
        outcome = co_await http_announce(strand, socket, addr(last), url, r, 5s);
      },
      asio::detached);
  io.run_for(10s);
  REQUIRE(outcome.response.has_value());
}

/// Fetches the metadata of `t` through the tracker at `tracker_port`, from 127.0.0.50.
metadata_fetch_result fetch(std::uint16_t tracker_port, const metainfo& t, duration timeout,
                            std::vector<std::string>* log = nullptr) {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  metadata_fetch_config c{.info_hash = t.info_hash,
                          .trackers = {{.host = "127.0.0.1", .address = {127, 0, 0, 1}, .port = tracker_port,
                                        .target = "/announce"}},
                          .local_ip = addr(50),
                          .listen_port = 6881,
                          .timeout = timeout,
                          .peer_timeout = 2s,
                          .round_pause = 100ms};
  c.id.fill(std::byte{0x50});
  if (log != nullptr) c.log = [log](const std::string& line) { log->push_back(line); };
  metadata_fetch_result result;
  asio::co_spawn(
      strand, [&]() -> asio::awaitable<void> { result = co_await fetch_metadata(strand, c); }, asio::detached);
  io.run_for(timeout + 10s);
  return result;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

}  // namespace

TEST_CASE("metadata fetch: from our own seed, through our tracker", "[net][metadata]") {
  running_tracker tracker({});
  // 1200 pieces of 16 KiB: an info dictionary of about 24 KiB, two metadata pieces.
  const auto data = random_bytes(1200 * 16384 - 100, 3);
  const auto t = make_torrent(data, 16384, "http://127.0.0.1:" + std::to_string(tracker.port()) + "/announce");
  REQUIRE(metadata_piece_count(t->info_bytes.size()) == 2);
  swarm s;
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  seed.start();
  REQUIRE(s.wait([&] { return tracker.stats().announces >= 1; }));

  const auto got = fetch(tracker.port(), *t, 20s);
  INFO(got.error);
  REQUIRE(got.error.empty());
  CHECK(got.info_bytes == t->info_bytes);
  CHECK(got.from == "127.0.0.2:" + std::to_string(seed.port()));
}

TEST_CASE("metadata fetch: a peer whose metadata does not hash is passed over, and so is a silent one",
          "[net][metadata]") {
  running_tracker tracker({});
  const auto data = random_bytes(300 * 16384, 4);
  const auto t = make_torrent(data, 16384, "http://127.0.0.1:" + std::to_string(tracker.port()) + "/announce");

  SECTION("alone, each bad peer makes the fetch fail within its timeout, saying why") {
    for (const auto& [kind, why] : {std::pair{fake_kind::wrong_metadata, std::string("does not hash")},
                                    std::pair{fake_kind::silent, std::string("timeout")},
                                    std::pair{fake_kind::no_extension, std::string("no extension protocol")}}) {
      INFO(why);
      running_tracker own({});
      fake_metadata_peer bad(9, *t, kind);
      announce_peer(own.port(), 9, bad.port(), *t);
      std::vector<std::string> log;
      const auto started = std::chrono::steady_clock::now();
      const auto got = fetch(own.port(), *t, 3s, &log);
      CHECK(std::chrono::steady_clock::now() - started < 8s);
      CHECK(got.info_bytes.empty());
      CHECK_THAT(got.error, Catch::Contains("no metadata within the timeout"));
      CHECK(any_contains(log, why));
      CHECK(bad.connections() >= 1);
    }
  }
  SECTION("with an honest seed in the swarm too, the metadata comes from the seed") {
    fake_metadata_peer bad(9, *t, fake_kind::wrong_metadata);
    announce_peer(tracker.port(), 9, bad.port(), *t);
    swarm s;
    auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                        .initial = initial_data::assume_complete});
    seed.start();
    REQUIRE(s.wait([&] { return tracker.stats().announces >= 2; }));
    const auto got = fetch(tracker.port(), *t, 20s);
    INFO(got.error);
    REQUIRE(got.error.empty());
    CHECK(got.info_bytes == t->info_bytes);
    CHECK(got.from == "127.0.0.2:" + std::to_string(seed.port()));
  }
}
