// The client instance against misbehaving peers on loopback sockets: corrupt pieces, broken
// protocol, idle connections at max_peers. Every wait bounded (client_testing.hpp).

#include "client_testing.hpp"

using namespace client_testing;

TEST_CASE("a peer sending corrupt pieces is banned, the piece comes again from the seed", "[loopback]") {
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
    socket_.connect(tcp::endpoint(asio::ip::make_address(to_string(target.address())), target.port()));
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
                      .handshake_timeout = 600s, .evict_silent_after = 0s, .idle_timeout = 600s});
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
