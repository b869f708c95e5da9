// The client instance on loopback sockets: seeds and leechers on their own 127.0.0.x,
// port 0, every wait bounded by a deadline (no fixed sleeps: waits are woken by the
// instances' events). Data comes from a seeded generator.
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

namespace {

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

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xff);
  return out;
}

std::shared_ptr<const metainfo> make_torrent(const std::vector<std::byte>& data, std::uint32_t piece_bytes,
                                             std::string announce = {}) {
  auto parsed = parse_metainfo(
      create_torrent(data, {.announce = std::move(announce), .name = "data.bin", .piece_bytes = piece_bytes}));
  REQUIRE(parsed.has_value());
  return std::make_shared<const metainfo>(std::move(parsed).value());
}

std::array<std::uint8_t, 4> addr(std::uint8_t last) { return {127, 0, 0, last}; }

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

endpoint_v4 where(const client& c) { return {.ip = c.address(), .port = c.port()}; }

bool same_bytes(const memory_storage& a, const std::vector<std::byte>& b) {
  return a.bytes().size() == b.size() && std::equal(b.begin(), b.end(), a.bytes().begin());
}

double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

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

std::vector<std::byte> read_file(const fs::path& p) {
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

asio::awaitable<void> run_raw_peer(tcp::socket socket, tcp::endpoint target, std::shared_ptr<const metainfo> t,
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

std::shared_ptr<raw_peer_state> spawn_raw_peer(swarm& s, std::uint8_t last, const client& target,
                                               std::shared_ptr<const metainfo> t, raw_behaviour behaviour) {
  auto st = std::make_shared<raw_peer_state>();
  // On a strand of its own, as every instance runs: a coroutine is then never resumed on
  // two threads' handlers at once.
  auto strand = asio::make_strand(s.runner.io);
  tcp::socket socket(strand);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0." + std::to_string(last)), 0));
  const tcp::endpoint ep(asio::ip::make_address_v4(format_ipv4(target.address())), target.port());
  asio::co_spawn(strand, run_raw_peer(std::move(socket), ep, std::move(t), behaviour, st, s.note),
                 asio::detached);
  return st;
}

constexpr std::uint32_t k64 = 64 * 1024;

}  // namespace

TEST_CASE("one seed to one leecher: complete and identical", "[loopback]") {
  const auto data = random_bytes(3 * 1024 * 1024 + 12345, 11);  // short last piece
  const auto t = make_torrent(data, k64);
  swarm s;
  auto seed_store = make_memory_storage(data);
  auto leech_store = make_memory_storage(data.size());
  auto& seed = s.add({.torrent = t, .store = seed_store, .address = addr(2), .initial = initial_data::verify});
  auto& leech = s.add({.torrent = t, .store = leech_store, .address = addr(10), .initial = initial_data::verify});
  seed.start();
  leech.start();
  CHECK(seed.port() != 0);
  CHECK(seed.is_complete());
  CHECK_FALSE(leech.is_complete());
  CHECK(leech.stats().pieces_held == 0);
  CHECK(seed.id() != leech.id());
  CHECK(std::equal(seed.id().begin(), seed.id().begin() + 8, reinterpret_cast<const std::byte*>("-PD0001-")));

  leech.connect_to(where(seed));
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*leech_store, data));
  const auto ls = leech.stats();
  CHECK(ls.pieces_held == t->piece_count());
  CHECK(ls.payload_down_bytes >= data.size());
  CHECK(ls.wire_down_bytes > ls.payload_down_bytes);  // headers count on the wire
  REQUIRE(ls.completed_at.has_value());
  REQUIRE(ls.started_at.has_value());
  CHECK(*ls.completed_at >= *ls.started_at);
  CHECK(ls.hash_failures == 0);
  // Everything the leecher got came from the seed.
  REQUIRE(s.wait([&] { return seed.stats().payload_up_bytes >= data.size(); }));
  CHECK(seed.stats().payload_up_bytes == ls.payload_down_bytes);
}

TEST_CASE("one seed and three leechers that know each other: all complete and leechers share", "[loopback]") {
  const auto data = random_bytes(4 * 1024 * 1024, 12);
  const auto t = make_torrent(data, k64);
  swarm s;
  // The seed is throttled, so the leechers must get much of the file from each other.
  auto& seed = s.add({.torrent = t,
                      .store = make_memory_storage(data),
                      .address = addr(2),
                      .initial = initial_data::assume_complete,
                      .upload_bytes_per_s = 4e6});
  seed.start();
  std::vector<std::shared_ptr<memory_storage>> stores;
  std::vector<client*> leechers;
  for (std::uint8_t i = 0; i < 3; ++i) {
    stores.push_back(make_memory_storage(data.size()));
    leechers.push_back(&s.add({.torrent = t,
                               .store = stores.back(),
                               .address = addr(static_cast<std::uint8_t>(10 + i)),
                               .initial = initial_data::assume_empty,
                               .rng_seed = 100 + i}));
    leechers.back()->start();
  }
  for (std::size_t i = 0; i < leechers.size(); ++i) {
    leechers[i]->connect_to(where(seed));
    for (std::size_t j = 0; j < i; ++j) leechers[i]->connect_to(where(*leechers[j]));
  }
  REQUIRE(s.wait([&] { return std::all_of(leechers.begin(), leechers.end(), [](client* c) { return c->is_complete(); }); }));
  std::uint64_t leecher_up = 0, leecher_down = 0;
  for (std::size_t i = 0; i < leechers.size(); ++i) {
    CHECK(same_bytes(*stores[i], data));
    leecher_up += leechers[i]->stats().payload_up_bytes;
    leecher_down += leechers[i]->stats().payload_down_bytes;
  }
  CHECK(leecher_up > 0);
  // Every byte a leecher received came from the seed or another leecher.
  REQUIRE(s.wait([&] { return seed.stats().payload_up_bytes + leecher_up >= leecher_down; }));
  CHECK(leecher_down >= 3 * data.size());
}

TEST_CASE("a throttled transfer takes no less than the limit allows", "[loopback]") {
  const auto data = random_bytes(4 * 1024 * 1024, 13);
  const auto t = make_torrent(data, k64);
  constexpr double rate = 2e6;  // bytes per second on the wire
  const bool throttle_seed = GENERATE(true, false);
  INFO((throttle_seed ? "seed upload limited" : "leecher download limited"));
  swarm s;
  auto store = make_memory_storage(data.size());
  auto& seed = s.add({.torrent = t,
                      .store = make_memory_storage(data),
                      .address = addr(2),
                      .initial = initial_data::assume_complete,
                      .upload_bytes_per_s = throttle_seed ? rate : 0});
  auto& leech = s.add({.torrent = t,
                       .store = store,
                       .address = addr(10),
                       .initial = initial_data::assume_empty,
                       .download_bytes_per_s = throttle_seed ? 0 : rate});
  seed.start();
  leech.start();
  const auto t0 = std::chrono::steady_clock::now();
  leech.connect_to(where(seed));
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*store, data));
  // The limiter grants at most burst + rate × time from the moment the transfer starts
  // (its bucket holds at most one burst then); every block crossed the limited side as a
  // piece message of 13 + 16384 bytes, so the transfer cannot finish sooner than this.
  const std::uint64_t blocks = (data.size() + block_bytes - 1) / block_bytes;
  const double message_bytes = static_cast<double>(blocks * block_message_bytes);
  const double burst = static_cast<double>(default_burst_bytes(static_cast<std::uint64_t>(rate)));
  const double min_seconds = (message_bytes - burst) / rate;
  const double took = seconds(*leech.stats().completed_at - time_point(t0.time_since_epoch()));
  INFO("took " << took << " s, the limit allows no less than " << min_seconds << " s");
  CHECK(took >= min_seconds);
}

TEST_CASE("file storage: OUT.part renamed at the end; a stopped download resumes", "[loopback]") {
  temp_dir dir;
  const auto data = random_bytes(3 * 1024 * 1024 + 4321, 14);
  const auto t = make_torrent(data, k64);
  const auto seed_path = dir.path / "seed.bin";
  {
    std::ofstream f(seed_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
  const auto out = dir.path / "out.bin";
  const auto part = part_path_for(out);

  swarm s;
  // Throttled, so the first leecher can be stopped halfway.
  auto& seed = s.add({.torrent = t,
                      .store = open_seed_file(seed_path, *t),
                      .address = addr(2),
                      .initial = initial_data::verify,
                      .upload_bytes_per_s = 3e6});
  seed.start();
  REQUIRE(seed.is_complete());

  std::uint32_t held_at_stop = 0;
  {
    auto& first = s.add({.torrent = t, .store = open_download_file(out, *t), .address = addr(10)});
    first.start();
    first.connect_to(where(seed));
    REQUIRE(s.wait([&] { return first.stats().pieces_held >= t->piece_count() / 3; }));
    REQUIRE(s.stop(first));
    held_at_stop = first.stats().pieces_held;
    CHECK_FALSE(first.is_complete());
  }
  CHECK(fs::exists(part));
  CHECK_FALSE(fs::exists(out));

  // What the .part holds now, checked independently of the client.
  auto reopened = open_download_file(out, *t);
  const auto good = verify_pieces(*reopened, *t);
  CHECK(good.count() == held_at_stop);
  std::uint64_t missing_bytes = 0;
  for (std::uint32_t i = 0; i < t->piece_count(); ++i)
    if (!good.test(i)) missing_bytes += t->piece_size(i);

  auto& second = s.add({.torrent = t, .store = reopened, .address = addr(11), .initial = initial_data::verify});
  second.start();
  CHECK(second.stats().pieces_held == good.count());
  second.connect_to(where(seed));
  REQUIRE(s.wait([&] { return second.is_complete(); }));
  // Verified pieces were kept, not fetched again: exactly the missing bytes came (one seed,
  // so no block is received twice).
  CHECK(second.stats().payload_down_bytes == missing_bytes);
  CHECK(fs::exists(out));
  CHECK_FALSE(fs::exists(part));
  CHECK(read_file(out) == data);
}

TEST_CASE("a peer sending corrupt pieces is banned; the piece comes again from the seed", "[loopback]") {
  const auto data = random_bytes(2 * 1024 * 1024, 15);
  const auto t = make_torrent(data, k64);
  swarm s{1};
  auto store = make_memory_storage(data.size());
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty,
                       .max_hash_failures = 2});
  seed.start();
  leech.start();

  // The bad peer alone first: every piece it sends fails, and it alone sent them.
  auto bad = spawn_raw_peer(s, 66, leech, t, raw_behaviour::corrupt_pieces);
  REQUIRE(s.wait([&] { return leech.stats().peers_banned == 1; }));
  INFO("raw peer phase " << bad->phase.load());
  REQUIRE(s.wait([&] { return bad->closed_by_remote.load(); }));
  CHECK(leech.stats().hash_failures >= 2);
  CHECK(bad->requests.load() > 0);
  CHECK(leech.stats().pieces_held == 0);

  // A banned address may not come back.
  auto again = spawn_raw_peer(s, 66, leech, t, raw_behaviour::corrupt_pieces);
  REQUIRE(s.wait([&] { return again->closed_by_remote.load(); }));
  CHECK(again->requests.load() == 0);

  leech.connect_to(where(seed));
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*store, data));
  CHECK(leech.stats().peers_banned == 1);
}

TEST_CASE("a corrupting peer beside an honest seed: only the culprit is banned", "[loopback]") {
  const auto data = random_bytes(4 * 1024 * 1024, 16);
  const auto t = make_torrent(data, k64);
  swarm s{1};
  auto store = make_memory_storage(data.size());
  // A slow seed, so the fast bad peer contributes blocks to many pieces, mixed with honest ones.
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete, .upload_bytes_per_s = 2e6});
  auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty});
  seed.start();
  leech.start();
  leech.connect_to(where(seed));
  auto bad = spawn_raw_peer(s, 67, leech, t, raw_behaviour::corrupt_pieces);
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*store, data));
  const auto st = leech.stats();
  CHECK(st.hash_failures >= 1);
  CHECK(st.peers_banned == 1);  // the bad peer, never the seed
  INFO("raw peer phase " << bad->phase.load());
  REQUIRE(s.wait([&] { return bad->closed_by_remote.load(); }));
}

TEST_CASE("a peer that breaks the protocol is dropped and the instance keeps serving", "[loopback]") {
  const auto behaviour = GENERATE(raw_behaviour::garbage_after_handshake, raw_behaviour::garbage_instead_of_handshake,
                                  raw_behaviour::wrong_info_hash);
  const auto data = random_bytes(1024 * 1024, 17);
  const auto t = make_torrent(data, k64);
  swarm s{1};
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  seed.start();
  auto rogue = spawn_raw_peer(s, 70, seed, t, behaviour);
  REQUIRE(s.wait([&] { return rogue->closed_by_remote.load(); }));
  CHECK(rogue->connected.load());
  REQUIRE(s.wait([&] { return seed.stats().peers_connected == 0; }));

  auto store = make_memory_storage(data.size());
  auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty});
  leech.start();
  leech.connect_to(where(seed));
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*store, data));
}

TEST_CASE("stop() mid-transfer is clean and so is destroying the io_context afterwards", "[loopback]") {
  const auto data = random_bytes(4 * 1024 * 1024, 18);
  const auto t = make_torrent(data, k64);
  const bool explicit_stop = GENERATE(true, false);
  auto note = std::make_shared<notifier>();
  std::atomic<int> stopped_events{0};
  {
    auto io = std::make_unique<io_runner>();
    auto on_event = [&, note](const client_event& e) {
      if (e.kind == client_event_kind::stopped) ++stopped_events;
      note->notify();
    };
    auto store = make_memory_storage(data.size());
    auto seed = std::make_unique<client>(io->io, client_config{.torrent = t,
                                                               .store = make_memory_storage(data),
                                                               .address = addr(2),
                                                               .initial = initial_data::assume_complete,
                                                               .upload_bytes_per_s = 2e6,
                                                               .on_event = on_event});
    auto leech = std::make_unique<client>(io->io, client_config{.torrent = t,
                                                                .store = store,
                                                                .address = addr(10),
                                                                .initial = initial_data::assume_empty,
                                                                .on_event = on_event});
    seed->start();
    leech->start();
    leech->connect_to(where(*seed));
    const auto deadline = std::chrono::steady_clock::now() + deadline_span;
    REQUIRE(note->wait_until([&] { return leech->stats().pieces_held >= 4; }, deadline));
    CHECK_FALSE(leech->is_complete());
    if (explicit_stop) {
      std::promise<void> a, b;
      leech->stop([&] { a.set_value(); });
      seed->stop([&] { b.set_value(); });
      leech->stop();  // idempotent
      CHECK(a.get_future().wait_until(deadline) == std::future_status::ready);
      CHECK(b.get_future().wait_until(deadline) == std::future_status::ready);
      CHECK(leech->stats().stopped);
      CHECK(seed->stats().stopped);
      CHECK(leech->stats().peers_connected == 0);
      CHECK(stopped_events.load() == 2);
      // A stop after the end calls back at once.
      std::promise<void> c;
      seed->stop([&] { c.set_value(); });
      CHECK(c.get_future().wait_until(deadline) == std::future_status::ready);
    }
    // Without an explicit stop: the destructors begin stopping, and the io_context is then
    // halted and destroyed with whatever is still pending.
    leech.reset();
    seed.reset();
    io.reset();
  }
  CHECK(stopped_events.load() <= 2);
}

TEST_CASE("client config is checked at construction", "[loopback]") {
  const auto data = random_bytes(100 * 1024, 19);
  const auto t = make_torrent(data, k64);
  asio::io_context io;
  CHECK_THROWS_AS(client(io, client_config{.torrent = t, .store = make_memory_storage(data), .address = {10, 0, 0, 1}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(client(io, client_config{.torrent = t, .store = make_memory_storage(data.size() + 1)}),
                  std::invalid_argument);
  CHECK_THROWS_AS(client(io, client_config{.torrent = t}), std::invalid_argument);
  CHECK_THROWS_AS(client(io, client_config{.torrent = t, .store = make_memory_storage(data),
                                           .announce_url = "udp://127.0.0.1:1/announce"}),
                  std::invalid_argument);
  // Two clients on one address and port: the second cannot listen.
  client a(io, {.torrent = t, .store = make_memory_storage(data), .address = addr(3)});
  a.start();
  client b(io, {.torrent = t, .store = make_memory_storage(data), .address = addr(3), .port = a.port()});
  CHECK_THROWS_AS(b.start(), std::system_error);
  CHECK_THROWS_AS(a.start(), std::logic_error);
}

TEST_CASE("a leecher that leaves when complete stops by itself", "[loopback]") {
  const auto data = random_bytes(512 * 1024, 20);
  const auto t = make_torrent(data, k64);
  swarm s;
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  auto store = make_memory_storage(data.size());
  auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty,
                       .seed_when_complete = false});
  seed.start();
  leech.start();
  leech.connect_to(where(seed));
  REQUIRE(s.wait([&] { return leech.stats().stopped; }));
  CHECK(leech.is_complete());
  CHECK(same_bytes(*store, data));
  REQUIRE(s.wait([&] { return seed.stats().peers_connected == 0; }));
}

TEST_CASE("client-server leechers: no uploads and no leecher-to-leecher connections", "[loopback]") {
  const auto data = random_bytes(1024 * 1024, 21);
  const auto t = make_torrent(data, k64);
  swarm s;
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  seed.start();
  std::vector<std::shared_ptr<memory_storage>> stores;
  std::vector<client*> ls;
  for (std::uint8_t i = 0; i < 2; ++i) {
    stores.push_back(make_memory_storage(data.size()));
    ls.push_back(&s.add({.torrent = t, .store = stores.back(), .address = addr(static_cast<std::uint8_t>(20 + i)),
                         .initial = initial_data::assume_empty, .upload = false, .connect_to_leechers = false}));
    ls.back()->start();
  }
  ls[1]->connect_to(where(*ls[0]));  // dropped: neither is a seed
  ls[0]->connect_to(where(seed));
  ls[1]->connect_to(where(seed));
  REQUIRE(s.wait([&] { return ls[0]->is_complete() && ls[1]->is_complete(); }));
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(same_bytes(*stores[i], data));
    CHECK(ls[i]->stats().payload_up_bytes == 0);
  }
  REQUIRE(s.wait([&] { return seed.stats().payload_up_bytes >= 2 * data.size(); }));
}

TEST_CASE("with the tracker server: a seed and two leechers find each other", "[loopback]") {
  const auto data = random_bytes(2 * 1024 * 1024, 22);
  swarm s;
  tracker_server tracker(s.runner.io, {.listen = {.ip = {127, 0, 0, 1}, .port = 0}, .interval = std::chrono::seconds(1)});
  tracker.start();
  const auto url = "http://127.0.0.1:" + std::to_string(tracker.port()) + "/announce";
  const auto t = make_torrent(data, k64, url);
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete});
  seed.start();
  REQUIRE(s.wait([&] { return seed.stats().announces >= 1; }));
  std::vector<std::shared_ptr<memory_storage>> stores;
  std::vector<client*> ls;
  for (std::uint8_t i = 0; i < 2; ++i) {
    stores.push_back(make_memory_storage(data.size()));
    ls.push_back(&s.add({.torrent = t, .store = stores.back(), .address = addr(static_cast<std::uint8_t>(30 + i)),
                         .initial = initial_data::assume_empty}));
    ls.back()->start();
  }
  REQUIRE(s.wait([&] { return ls[0]->is_complete() && ls[1]->is_complete(); }));
  for (std::size_t i = 0; i < 2; ++i) CHECK(same_bytes(*stores[i], data));
  // Both learned the seed from the tracker; the leechers also meet each other through it.
  REQUIRE(s.wait([&] { return ls[0]->stats().announces >= 2 && ls[1]->stats().announces >= 2; }));
  // stop() announces `stopped` to the tracker: it forgets the peers.
  for (auto* c : ls) REQUIRE(s.stop(*c));
  REQUIRE(s.stop(seed));
  REQUIRE(s.wait([&] { return tracker.stats().peers_held == 0; }));
  tracker.stop();
}

// Hidden (run with "[.bench]"): figures for the lead's benchmarks, not a timed test. An
// unthrottled transfer of 128 MiB from memory to memory, and a throttled one against its
// setting, both measured from the leecher's connect to its last verified piece.
TEST_CASE("bench: one seed to one leecher, unthrottled and throttled", "[.bench]") {
  struct run {
    std::size_t bytes;
    double rate;
  };
  for (const run r : {run{128u << 20, 0}, run{16u << 20, 2e6}, run{32u << 20, 8e6}}) {
    const auto data = random_bytes(r.bytes, 30);
    const auto t = make_torrent(data, 256 * 1024);
    swarm s{1};
    auto store = make_memory_storage(data.size());
    auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                        .initial = initial_data::assume_complete, .upload_bytes_per_s = r.rate});
    auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty});
    seed.start();
    leech.start();
    const auto t0 = std::chrono::steady_clock::now();
    leech.connect_to(where(seed));
    REQUIRE(s.wait([&] { return leech.is_complete(); }));
    const double took = seconds(*leech.stats().completed_at - time_point(t0.time_since_epoch()));
    CHECK(same_bytes(*store, data));
    const auto st = leech.stats();
    std::printf("%s %zu MiB: %.3f s, payload %.1f MB/s, wire %.1f MB/s", r.rate > 0 ? "throttled" : "unthrottled",
                r.bytes >> 20, took, static_cast<double>(st.payload_down_bytes) / took / 1e6,
                static_cast<double>(st.wire_down_bytes) / took / 1e6);
    if (r.rate > 0)
      std::printf(" (setting %.1f MB/s: wire rate / setting = %.4f)", r.rate / 1e6,
                  static_cast<double>(st.wire_down_bytes) / took / r.rate);
    std::printf("\n");
  }
}

// ---- flood: connection limits (max_peers) under idle connections ------------------------
// Hand-written idle peers on blocking-with-deadline sockets in the test thread; the seed
// runs on the swarm's context. What the seed sends is counted in bytes written out by hand:
// its handshake (68), then, after ours, its bitfield (4 + 1 + ceil(pieces / 8)), then an
// unchoke (5) once we say `interested` (it has free upload slots).

#include <poll.h>

namespace {

/// A loopback connection to a client that says as much as the test tells it to.
class idle_peer {
 public:
  idle_peer(std::uint8_t last, const client& target) : socket_(io_) {
    socket_.open(tcp::v4());
    socket_.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0." + std::to_string(last)), 0));
    socket_.connect(tcp::endpoint(asio::ip::make_address_v4(format_ipv4(target.address())), target.port()));
    socket_.non_blocking(true);
  }

  /// Sends our handshake for `t` (peer id from `last`), then `interested` if asked.
  void say_hello(const metainfo& t, std::uint8_t last, bool interested) {
    std::vector<std::byte> out;
    handshake hs{.info_hash = t.info_hash};
    for (std::size_t i = 0; i < hs.id.size(); ++i) hs.id[i] = static_cast<std::byte>(last + i);
    wire_append(hs, out);
    if (interested) wire_append(msg::interested{}, out);
    std::error_code ec;
    asio::write(socket_, asio::buffer(out), ec);  // small: fits the socket buffer at once
    REQUIRE_FALSE(ec);
  }

  /// Reads until `bytes` in all were received, the peer closed, or the deadline; returns
  /// whether `bytes` were reached.
  bool received_at_least(std::size_t bytes) {
    pump(std::chrono::steady_clock::now() + deadline_span, [&] { return received_ >= bytes; });
    return received_ >= bytes;
  }
  /// Reads until the other side closes (true) or the deadline (false).
  bool closed_by_remote() {
    pump(std::chrono::steady_clock::now() + deadline_span, [] { return false; });
    return closed_;
  }
  /// Reads what is there without waiting; true while the other side has not closed.
  bool open_now() {
    pump(std::chrono::steady_clock::now(), [] { return false; });
    return !closed_;
  }
  std::size_t received() const { return received_; }

 private:
  template <class Done>
  void pump(std::chrono::steady_clock::time_point deadline, Done done) {
    std::array<char, 4096> chunk{};
    while (!closed_ && !done()) {
      std::error_code ec;
      const std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
      received_ += n;
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{.fd = socket_.native_handle(), .events = POLLIN, .revents = 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
      } else if (ec) {
        closed_ = true;  // end of stream or reset
      }
    }
  }

  asio::io_context io_;
  tcp::socket socket_;
  std::size_t received_ = 0;
  bool closed_ = false;
};

/// BEP 3: 1 + 19 ("BitTorrent protocol") + 8 reserved + 20 info-hash + 20 peer id.
constexpr std::size_t bep3_handshake_bytes = 68;

}  // namespace

TEST_CASE("max_peers: an idle connection gives way to a new one, a busy one never does", "[loopback][flood]") {
  const auto data = random_bytes(1024 * 1024, 41);
  const auto t = make_torrent(data, k64);  // 16 pieces: a bitfield message of 4 + 1 + 2 bytes
  const std::size_t hello_bytes = bep3_handshake_bytes + 7;  // handshake, bitfield
  const std::size_t busy_bytes = hello_bytes + 5;       // ..., unchoke
  swarm s{1};
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete, .max_peers = 3,
                      .handshake_timeout = 600s, .idle_timeout = 600s});
  seed.start();

  // Full: one connection without a handshake, one silent after its handshake, one busy.
  idle_peer no_hello(71, seed);
  REQUIRE(no_hello.received_at_least(bep3_handshake_bytes));  // accepted: the seed spoke first
  idle_peer silent(72, seed);
  silent.say_hello(*t, 72, false);
  REQUIRE(silent.received_at_least(hello_bytes));
  idle_peer busy(73, seed);
  busy.say_hello(*t, 73, true);
  REQUIRE(busy.received_at_least(busy_bytes));
  CHECK(seed.stats().peers_connected == 2);

  // A newcomer replaces the connection without a handshake first.
  idle_peer second(74, seed);
  REQUIRE(second.received_at_least(bep3_handshake_bytes));
  CHECK(no_hello.closed_by_remote());
  CHECK(silent.open_now());
  CHECK(busy.open_now());

  // With no handshake pending, the next newcomer replaces the one silent since its handshake.
  second.say_hello(*t, 74, true);
  REQUIRE(second.received_at_least(busy_bytes));
  idle_peer third(75, seed);
  REQUIRE(third.received_at_least(bep3_handshake_bytes));
  CHECK(silent.closed_by_remote());
  CHECK(busy.open_now());
  CHECK(second.open_now());

  // All busy: a newcomer is refused before a byte is sent; nobody is evicted.
  third.say_hello(*t, 75, true);
  REQUIRE(third.received_at_least(busy_bytes));
  idle_peer refused(76, seed);
  CHECK(refused.closed_by_remote());
  CHECK(refused.received() == 0);
  CHECK(busy.open_now());
  CHECK(second.open_now());
  CHECK(third.open_now());
  CHECK(seed.stats().peers_connected == 3);
}

TEST_CASE("max_peers: a seed full of idle connections still serves an honest leecher", "[loopback][flood]") {
  const auto data = random_bytes(1024 * 1024, 42);
  const auto t = make_torrent(data, k64);
  swarm s{1};
  auto& seed = s.add({.torrent = t, .store = make_memory_storage(data), .address = addr(2),
                      .initial = initial_data::assume_complete, .max_peers = 4,
                      .handshake_timeout = 600s, .idle_timeout = 600s});
  seed.start();
  std::vector<std::unique_ptr<idle_peer>> idle;
  for (std::uint8_t i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<idle_peer>(static_cast<std::uint8_t>(80 + i), seed));
    if (i % 2 == 1) idle.back()->say_hello(*t, static_cast<std::uint8_t>(80 + i), false);
    REQUIRE(idle.back()->received_at_least(bep3_handshake_bytes + (i % 2 == 1 ? 7 : 0)));
  }
  auto store = make_memory_storage(data.size());
  auto& leech = s.add({.torrent = t, .store = store, .address = addr(10), .initial = initial_data::assume_empty});
  leech.start();
  leech.connect_to(where(seed));  // once: no tracker to tell it again
  REQUIRE(s.wait([&] { return leech.is_complete(); }));
  CHECK(same_bytes(*store, data));
  std::size_t closed = 0;
  for (auto& p : idle) closed += p->open_now() ? 0 : 1;
  CHECK(closed == 1);  // one idle connection made room; the others were not needed
}
