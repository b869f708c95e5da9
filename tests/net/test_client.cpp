// The client instance on loopback sockets: transfers, storage, stop, configuration,
// client-server mode, the tracker. Every wait bounded (client_testing.hpp).

#include "client_testing.hpp"

using namespace client_testing;

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
  // An honest seed never leaves a request unanswered until the request timeout: every block
  // the limiter granted went out (a lost wake-up of the writer shows here as a snub).
  CHECK(leech.stats().snubs == 0);
}

TEST_CASE("file storage: OUT.part renamed at the end, a stopped download resumes", "[loopback]") {
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
                                           .announce_url = "wss://127.0.0.1:1/announce"}),
                  std::invalid_argument);
  CHECK_THROWS_AS(client(io, client_config{.torrent = t, .store = make_memory_storage(data),
                                           .announce_url = "udp://127.0.0.1/announce"}),  // no port
                  std::invalid_argument);
  CHECK_NOTHROW(client(io, client_config{.torrent = t, .store = make_memory_storage(data),
                                         .announce_url = "udp://127.0.0.1:1/announce"}));
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
