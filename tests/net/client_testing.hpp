#pragma once
// Helpers for the client tests (test_client.cpp, test_client_peers.cpp): seeds and leechers
// on their own 127.0.0.x, port 0, every wait bounded by a deadline; a raw peer that speaks
// the wire by hand.

// Clang 14 implements C++20 coroutines, but Asio 1.22 only recognises them in GCC and
// MSVC (for Clang it looks for the Coroutines TS); enable Asio's awaitable support here
// before any Asio header (the macro affects Asio's coroutine headers only).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <catch2/catch.hpp>

#include "loopback/net/client.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "loopback/policy/rate_limiter.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/net/tracker_server.hpp"
#include "loopback/protocol/wire.hpp"


namespace fs = std::filesystem;
using namespace p2pdist::bt;
using namespace std::chrono_literals;
using asio::ip::tcp;


namespace client_testing {

constexpr auto deadline_span = 90s;  // generous: a loaded 2-core machine

/// Wakes waiters whenever an instance reports an event (or a test peer changes state).
struct notifier {
  std::mutex m;
  std::condition_variable cv;
  void notify() {
    { std::lock_guard lock(m); }
    cv.notify_all();
  }
  /// Waits until pred() holds or the deadline passes; returns pred().
  bool wait_until(const std::function<bool()>& pred, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(m);
    while (!pred()) {
      // Re-check now and then too: a predicate may change without an event (e.g. stats).
      if (cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + 50ms)) ==
              std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= deadline)
        return pred();
    }
    return true;
  }
};

/// An io_context run by two threads (as the harness may), stopped and joined at the end.
struct io_runner {
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  explicit io_runner(int n = 2) {
    work.emplace(io.get_executor());
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
  }
  void halt() {
    work.reset();
    io.stop();
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
  ~io_runner() { halt(); }
};

inline std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

inline std::shared_ptr<const metainfo> make_torrent(const std::vector<std::byte>& data, std::uint32_t piece_bytes,
                                             std::string announce = {}) {
  auto parsed = parse_metainfo(
      create_torrent(data, {.announce = std::move(announce), .name = "data.bin", .piece_bytes = piece_bytes}));
  REQUIRE(parsed.has_value());
  return std::make_shared<const metainfo>(std::move(parsed).value());
}

inline std::array<std::uint8_t, 4> addr(std::uint8_t last) { return {127, 0, 0, last}; }

/// A swarm of clients on one io_context. Clients are stopped (bounded) and destroyed
/// before the io_context.
struct swarm {
  std::shared_ptr<notifier> note = std::make_shared<notifier>();
  io_runner runner;
  std::vector<std::unique_ptr<client>> clients;

  /// Two threads by default, as the harness may run them. Tests with hand-written raw
  /// peers use one: with two threads on one io_context, a raw peer's pending operation on
  /// a socket reset by the client was seen, rarely, never to complete (Asio 1.22.1's
  /// epoll reactor; the client side had closed correctly), which would hang such a test.
  explicit swarm(int threads = 2) : runner(threads) {}

  std::chrono::steady_clock::time_point deadline() const { return std::chrono::steady_clock::now() + deadline_span; }

  client& add(client_config cfg) {
    auto n = note;
    auto user = std::move(cfg.on_event);
    cfg.on_event = [n, user](const client_event& e) {
      if (user) user(e);
      n->notify();
    };
    clients.push_back(std::make_unique<client>(runner.io, std::move(cfg)));
    return *clients.back();
  }

  bool wait(const std::function<bool()>& pred) { return note->wait_until(pred, deadline()); }

  /// Stops one client and waits (bounded) for the end.
  bool stop(client& c) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    c.stop([done] { done->set_value(); });
    return fut.wait_until(deadline()) == std::future_status::ready;
  }

  ~swarm() {
    for (auto& c : clients) (void)stop(*c);
    clients.clear();
    runner.halt();
  }
};

inline endpoint where(const client& c) { return {.ip = c.address(), .port = c.port()}; }

inline bool same_bytes(const memory_storage& a, const std::vector<std::byte>& b) {
  return a.bytes().size() == b.size() && std::equal(b.begin(), b.end(), a.bytes().begin());
}

inline double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

/// A fresh directory under the system temp dir, removed at scope exit.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("p2pdist-client-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline std::vector<std::byte> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::transform(raw.begin(), raw.end(), out.begin(), [](char ch) { return static_cast<std::byte>(ch); });
  return out;
}

/// A hand-written peer for misbehaviour tests: a raw socket bound to its own address that
/// speaks the wire format through wire_append. Runs as a coroutine on the swarm's context.
struct raw_peer_state {
  std::atomic<bool> connected{false};
  std::atomic<bool> closed_by_remote{false};
  std::atomic<bool> got_handshake{false};
  std::atomic<int> requests{0};
  std::atomic<int> phase{0};  ///< for failure messages: 1 reading, 2 writing, 3 done
};

enum class raw_behaviour {
  corrupt_pieces,  ///< handshake, full bitfield, unchoke, then garbage for every request
  garbage_after_handshake,  ///< handshake, then bytes that are no valid message
  garbage_instead_of_handshake,
  wrong_info_hash,
};

inline asio::awaitable<void> run_raw_peer(tcp::socket socket, tcp::endpoint target, std::shared_ptr<const metainfo> t,
                                   raw_behaviour behaviour, std::shared_ptr<raw_peer_state> st,
                                   std::shared_ptr<notifier> note) {
  std::error_code ec;
  co_await socket.async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    st->closed_by_remote = true;
    note->notify();
    co_return;
  }
  st->connected = true;
  note->notify();
  std::vector<std::byte> out;
  handshake hs{.info_hash = t->info_hash};
  for (std::size_t i = 0; i < hs.id.size(); ++i) hs.id[i] = static_cast<std::byte>(0xB0 + i);
  if (behaviour == raw_behaviour::wrong_info_hash) hs.info_hash[0] ^= std::byte{0xff};
  if (behaviour == raw_behaviour::garbage_instead_of_handshake) {
    const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char ch : junk) out.push_back(static_cast<std::byte>(ch));
  } else {
    wire_append(hs, out);
  }
  if (behaviour == raw_behaviour::corrupt_pieces) {
    wire_append(msg::bitfield{bitfield(t->piece_count(), true)}, out);
    wire_append(msg::unchoke{}, out);
  }
  if (behaviour == raw_behaviour::garbage_after_handshake) {
    // A length prefix far above the limit, then noise.
    for (int v : {0xff, 0xff, 0xff, 0xf0, 7, 1, 2, 3}) out.push_back(static_cast<std::byte>(v));
  }
  co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
  wire_decoder dec({.piece_bytes = t->piece_bytes, .total_bytes = t->total_bytes});
  std::mt19937_64 rng(99);
  while (!ec) {
    const auto area = dec.prepare(64 * 1024);
    st->phase = 1;
    const std::size_t n = co_await socket.async_read_some(asio::buffer(area.data(), area.size()),
                                                          asio::redirect_error(asio::use_awaitable, ec));
    dec.commit(n);
    out.clear();
    for (;;) {
      auto next = dec.next();
      if (!next || !next->has_value()) break;
      if (std::holds_alternative<handshake>(**next)) st->got_handshake = true;
      if (const auto* r = std::get_if<msg::request>(&**next)) {
        ++st->requests;
        std::vector<std::byte> junk(r->length);
        for (auto& b : junk) b = static_cast<std::byte>(rng() & 0xff);
        wire_append(msg::piece{.index = r->index, .begin = r->begin, .data = junk}, out);
      }
    }
    if (!out.empty() && !ec) {
      std::error_code wec;
      st->phase = 2;
      co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, wec));
    }
  }
  st->phase = 3;
  st->closed_by_remote = true;
  note->notify();
}

inline std::shared_ptr<raw_peer_state> spawn_raw_peer(swarm& s, std::uint8_t last, const client& target,
                                               std::shared_ptr<const metainfo> t, raw_behaviour behaviour) {
  auto st = std::make_shared<raw_peer_state>();
  // On a strand of its own, as every instance runs: a coroutine is then never resumed on
  // two threads' handlers at once.
  auto strand = asio::make_strand(s.runner.io);
  tcp::socket socket(strand);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0." + std::to_string(last)), 0));
  const tcp::endpoint ep(asio::ip::make_address(to_string(target.address())), target.port());
  asio::co_spawn(strand, run_raw_peer(std::move(socket), ep, std::move(t), behaviour, st, s.note),
                 asio::detached);
  return st;
}

constexpr std::uint32_t k64 = 64 * 1024;

}  // namespace client_testing
