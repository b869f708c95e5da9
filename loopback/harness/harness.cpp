#include "loopback/harness/harness.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/net/tracker_server.hpp"

namespace p2pdist::loopback {

namespace {

using clock = std::chrono::steady_clock;

double per_leecher(const std::vector<double>& values, std::size_t i) {
  return values.size() == 1 ? values.front() : values[i];
}

std::vector<std::byte> random_bytes(std::uint64_t size, std::uint64_t seed) {
  std::vector<std::byte> data(size);
  std::mt19937_64 rng(seed);
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(data.data() + i, &v, 8);
  }
  const std::uint64_t v = rng();
  std::memcpy(data.data() + i, &v, data.size() - i);
  return data;
}

std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::system_error(errno, std::generic_category(), path.string());
  std::vector<std::byte> data(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!in) throw std::system_error(EIO, std::generic_category(), path.string() + ": short read");
  return data;
}

double seconds_between(bt::time_point from, bt::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// d × scale, at least `floor`.
bt::duration scaled(bt::duration d, double scale, bt::duration floor) {
  const auto s = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(d) * scale);
  return std::max(s, floor);
}

// The counters of several incarnations of one instance, added up.
void add_counters(bt::client_stats& into, const bt::client_stats& s) {
  into.payload_up_bytes += s.payload_up_bytes;
  into.payload_down_bytes += s.payload_down_bytes;
  into.wire_up_bytes += s.wire_up_bytes;
  into.wire_down_bytes += s.wire_down_bytes;
  into.wasted_bytes += s.wasted_bytes;
  into.hash_failures += s.hash_failures;
  into.hash_failed_bytes += s.hash_failed_bytes;
  into.peers_banned += s.peers_banned;
  into.snubs += s.snubs;
  into.protocol_drops += s.protocol_drops;
  into.handshake_timeouts += s.handshake_timeouts;
}

void add_to_report(fault_report& r, const bt::client_stats& s) {
  r.hash_failures += s.hash_failures;
  r.bans += s.peers_banned;
  r.snubs += s.snubs;
  r.protocol_drops += s.protocol_drops;
  r.handshake_timeouts += s.handshake_timeouts;
  r.wasted_bytes += s.wasted_bytes + s.hash_failed_bytes;
}

// A churning leecher during the run (see plan_churn): waiting for its moment, stopping
// (then paused until `back_at`), or back.
struct churner {
  churn_entry plan;
  enum class phase { waiting, stopping, back } now = phase::waiting;
  std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
  clock::time_point back_at{};
  churn_record record;
};

// Runs an io_context on `count` threads until stopped; joins on destruction.
class io_runner {
 public:
  explicit io_runner(std::size_t count) : guard_(asio::make_work_guard(io_)) {
    for (std::size_t i = 0; i < count; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~io_runner() { shutdown(); }
  io_runner(const io_runner&) = delete;
  io_runner& operator=(const io_runner&) = delete;
  asio::io_context& io() { return io_; }
  void shutdown() {
    guard_.reset();
    io_.stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
};

// Stops every client and waits (bounded) until each reports it has stopped.
void stop_all(std::vector<std::unique_ptr<bt::client>>& clients, std::chrono::seconds limit) {
  std::vector<std::future<void>> done;
  for (auto& c : clients) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise->get_future());
    c->stop([promise] { promise->set_value(); });
  }
  const auto deadline = clock::now() + limit;
  for (auto& f : done) f.wait_until(deadline);
}

}  // namespace

std::array<std::uint8_t, 4> seed_address(std::size_t s) {
  return {127, 0, 0, static_cast<std::uint8_t>(2 + s)};
}

std::array<std::uint8_t, 4> leecher_address(std::size_t i) {
  const std::size_t k = 10 + i;
  return {127, static_cast<std::uint8_t>(k >> 16), static_cast<std::uint8_t>(k >> 8),
          static_cast<std::uint8_t>(k)};
}

std::string to_string(const std::array<std::uint8_t, 4>& ip) {
  return std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
         std::to_string(ip[3]);
}

scaled_timeouts scaled_timeouts_for(const swarm_config& c) {
  using namespace std::chrono_literals;
  return {.request = scaled(c.request_timeout, c.time_scale, 1s),
          .handshake = scaled(c.handshake_timeout, c.time_scale, 500ms),
          .tracker_idle = scaled(bt::tracker_config{}.idle_timeout, c.time_scale, 500ms)};
}

std::optional<double> time_lost_seconds(const swarm_result& r) {
  if (!r.faults.baseline_seconds || !r.distribution_seconds) return std::nullopt;
  return *r.distribution_seconds - *r.faults.baseline_seconds;
}

void validate(const swarm_config& c) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (c.leechers < 1) fail("the swarm needs at least one leecher");
  if (c.leechers > max_leechers) fail("at most " + std::to_string(max_leechers) + " leechers");
  if (c.seeds < 1 || c.seeds > max_seeds) fail("the number of seeds must be 1 to " + std::to_string(max_seeds));
  if (!c.file && c.file_bytes == 0) fail("the file size must be above zero");
  if (!bt::is_valid_piece_bytes(c.piece_bytes))
    fail("the piece size must be a multiple of 16 KiB from 16 KiB to 64 MiB");
  auto check_rate = [&](double r, const std::string& what) {
    if (!(r >= 0) || !std::isfinite(r)) fail(what + " must be zero (unlimited) or positive");
  };
  check_rate(c.server_up_bytes_per_s, "the server's upload rate");
  auto check_list = [&](const std::vector<double>& v, const std::string& what) {
    if (v.size() != 1 && v.size() != c.leechers)
      fail(what + ": " + std::to_string(v.size()) + " values given, but there are " +
           std::to_string(c.leechers) + " leechers (give one value or one per leecher)");
    for (double r : v) check_rate(r, what);
  };
  check_list(c.peer_up_bytes_per_s, "the peers' upload rates");
  check_list(c.peer_down_bytes_per_s, "the peers' download rates");
  if (!(c.time_scale > 0) || !std::isfinite(c.time_scale)) fail("the time scale must be above zero");
  if (c.timeout.count() <= 0) fail("the timeout must be above zero");
  if (c.sample_interval.count() <= 0) fail("the sample interval must be above zero");
  if (c.io_threads < 1) fail("at least one I/O thread");
  if (c.request_timeout.count() <= 0 || c.handshake_timeout.count() <= 0) fail("the timeouts must be above zero");
  for (const auto& f : c.faults)
    if (f.count < 1) fail("--fault " + std::string(to_string(f.kind)) + ": the count must be at least 1");
  if (churn_count(c.faults) > c.leechers)
    fail("--fault churn: " + std::to_string(churn_count(c.faults)) + " churning leechers, but there are only " +
         std::to_string(c.leechers) + " leechers");
  if (fault_peer_count(c.faults) > max_fault_peers)
    fail("--fault: at most " + std::to_string(max_fault_peers) + " adversarial peers in all (churn aside)");
  if (!c.faults.empty() && c.leechers > max_leechers_with_faults)
    fail("with faults, at most " + std::to_string(max_leechers_with_faults) + " leechers (the address plan)");
}

swarm_result run_swarm(const swarm_config& config,
                       const std::function<void(const swarm_progress&)>& on_progress) {
  validate(config);
  const std::vector<std::byte> data =
      config.file ? read_file(*config.file) : random_bytes(config.file_bytes, config.data_seed);
  if (data.empty()) throw std::invalid_argument("the file to share is empty");
  const std::size_t n = config.leechers;
  const auto timeouts = scaled_timeouts_for(config);
  const std::size_t adversaries_count = fault_peer_count(config.faults);

  io_runner runner(config.io_threads);
  auto& io = runner.io();

  // The tracker, then the torrent that names it.
  bt::tracker_server tracker(io, bt::tracker_config{.listen = {.ip = {127, 0, 0, 1}, .port = 0},
                                                    .interval = std::chrono::seconds(1),
                                                    .idle_timeout = timeouts.tracker_idle});
  tracker.start();
  const std::string announce = "http://127.0.0.1:" + std::to_string(tracker.port()) + "/announce";
  const std::string torrent_bytes =
      bt::create_torrent(data, {.announce = announce, .name = "swarm.bin", .piece_bytes = config.piece_bytes});
  auto parsed = bt::parse_metainfo(torrent_bytes);
  if (!parsed) throw std::logic_error("harness: the torrent it made does not parse");
  const auto torrent = std::make_shared<const bt::metainfo>(std::move(*parsed));

  bt::choker_config choker = bt::scaled(config.choker, config.time_scale);
  bt::choker_config seed_choker = choker;
  // Client-server: the server streams to every client at once (r = min(u_s/N, d_min)).
  if (config.mode == swarm_mode::cs) seed_choker.regular_slots = std::max<int>(choker.regular_slots, static_cast<int>(n));

  // Policy (config.seed_policy, by default): in p2p mode with several leechers the seeds super-seed (each piece leaves a
  // seed once before any leaves it twice, see bt::initial_seeding): the bound's schedule
  // has the server send every bit once, and with a full bitfield the leechers' random and
  // rarest-first picks fetch some pieces from the seed twice (about a third of the seed's
  // upload at N = 8). Client-server mode keeps the standard bitfield.
  bt::picker_knobs seed_picker = config.picker;
  if (config.mode == swarm_mode::p2p && n > 1) seed_picker.seeding = config.seed_policy;

  // Room for every honest peer, a margin, and one connection from each adversary.
  const std::size_t max_peers = n + config.seeds + 8 + adversaries_count;
  std::uint64_t rng_seed = config.rng_seed;
  std::vector<std::unique_ptr<bt::client>> seeds;
  for (std::size_t s = 0; s < config.seeds; ++s) {
    seeds.push_back(std::make_unique<bt::client>(
        io, bt::client_config{.torrent = torrent,
                              .store = bt::make_memory_storage(data),
                              .address = seed_address(s),
                              .initial = bt::initial_data::assume_complete,
                              .upload_bytes_per_s = config.server_up_bytes_per_s,
                              .upload_order = config.upload_order,
                              .choker = seed_choker,
                              .picker = seed_picker,
                              .max_peers = max_peers,
                              .rng_seed = rng_seed++,
                              .handshake_timeout = timeouts.handshake,
                              .request_timeout = timeouts.request}));
    seeds.back()->start();
  }

  // The adversaries join before t0, so that the leechers' first announce lists them.
  std::unique_ptr<fault_swarm> adversaries;
  if (adversaries_count > 0) {
    using namespace std::chrono_literals;
    adversaries = std::make_unique<fault_swarm>(
        io, fault_swarm_config{.torrent = torrent,
                               .tracker = {.ip = {127, 0, 0, 1}, .port = tracker.port()},
                               .faults = config.faults,
                               .reconnect_pause = scaled(500ms, config.time_scale, 50ms),
                               // About three bytes before an honest handshake timeout or the tracker's idle one.
                               .drip_interval = std::min(timeouts.handshake, timeouts.tracker_idle) * 3 / 10,
                               .keepalive_interval = scaled(5s, config.time_scale, 100ms),
                               .rng_seed = config.rng_seed});
    adversaries->start();
    const auto until = clock::now() + 5s;
    while (!adversaries->announced() && clock::now() < until) std::this_thread::sleep_for(5ms);
  }

  const bool p2p = config.mode == swarm_mode::p2p;
  std::vector<std::shared_ptr<bt::memory_storage>> stores;
  std::vector<std::uint64_t> leecher_seeds;  // the next incarnation's seed, per leecher
  auto make_leecher = [&](std::size_t i, bt::initial_data initial) {
    const std::uint64_t seed = leecher_seeds[i];
    leecher_seeds[i] = seed * 6364136223846793005ULL + 1442695040888963407ULL;  // a churner's next one
    return std::make_unique<bt::client>(
        io, bt::client_config{.torrent = torrent,
                              .store = stores[i],
                              .address = leecher_address(i),
                              .initial = initial,
                              .upload_bytes_per_s = per_leecher(config.peer_up_bytes_per_s, i),
                              .download_bytes_per_s = per_leecher(config.peer_down_bytes_per_s, i),
                              .upload = p2p,
                              .upload_order = config.upload_order,
                              .connect_to_leechers = p2p,
                              .seed_when_complete = config.after == after_complete::stay,
                              .choker = choker,
                              .picker = config.picker,
                              .max_peers = max_peers,
                              .rng_seed = seed,
                              .handshake_timeout = timeouts.handshake,
                              .request_timeout = timeouts.request});
  };
  std::vector<std::unique_ptr<bt::client>> leechers;
  for (std::size_t i = 0; i < n; ++i) {
    stores.push_back(bt::make_memory_storage(data.size()));
    leecher_seeds.push_back(rng_seed++);
    leechers.push_back(make_leecher(i, bt::initial_data::assume_empty));
  }

  // Churn: the first K leechers leave once, mid-download, and come back after a pause.
  std::vector<churner> churners;
  for (const auto& e : plan_churn(n, churn_count(config.faults), config.rng_seed ^ 0x636875726eULL)) {
    churners.emplace_back();
    churners.back().plan = e;
    churners.back().record.address = to_string(leecher_address(e.leecher));
    churners.back().record.leave_at_fraction = e.leave_at_fraction;
  }
  const auto churn_pause = scaled(std::chrono::seconds(2), config.time_scale, std::chrono::milliseconds(100));
  std::vector<bt::client_stats> retired_stats(n);              // earlier incarnations, added up
  std::vector<std::unique_ptr<bt::client>> retired;            // stopped incarnations

  // t0: every seed listens and holds the file; release the leechers together.
  const bt::time_point t0 = clock::now();
  for (auto& l : leechers) l->start();

  swarm_result result;
  result.file_bytes = data.size();
  result.piece_bytes = config.piece_bytes;
  result.timeline_bytes.assign(n, {});
  const auto deadline = t0 + config.timeout;
  auto next_sample = t0;
  std::vector<std::uint64_t> held(n, 0);
  while (true) {
    next_sample += config.sample_interval;
    std::this_thread::sleep_until(next_sample);
    const auto now = clock::now();
    swarm_progress progress{.elapsed_seconds = seconds_between(t0, now), .leechers = n,
                            .bytes_total = data.size() * n};
    result.timeline_seconds.push_back(progress.elapsed_seconds);
    for (std::size_t i = 0; i < n; ++i) {
      const auto st = leechers[i]->stats();
      held[i] = st.complete ? data.size()
                            : std::min<std::uint64_t>(std::uint64_t{st.pieces_held} * config.piece_bytes, data.size());
      result.timeline_bytes[i].push_back(held[i]);
      progress.bytes_held += held[i];
      progress.leechers_complete += st.complete ? 1 : 0;
    }
    for (auto& ch : churners) {
      const std::size_t i = ch.plan.leecher;
      if (ch.now == churner::phase::waiting && held[i] < data.size() &&
          static_cast<double>(held[i]) >= ch.plan.leave_at_fraction * static_cast<double>(data.size())) {
        ch.now = churner::phase::stopping;
        ch.record.left_seconds = seconds_between(t0, now);
        ch.back_at = now + churn_pause;
        leechers[i]->stop([flag = ch.stopped] { flag->store(true); });
      } else if (ch.now == churner::phase::stopping && ch.stopped->load() && now >= ch.back_at) {
        // Back from what it holds: a new instance on the same storage re-checks every piece.
        add_counters(retired_stats[i], leechers[i]->stats());
        retired.push_back(std::move(leechers[i]));
        leechers[i] = make_leecher(i, bt::initial_data::verify);
        leechers[i]->start();
        ch.now = churner::phase::back;
        ch.record.back_seconds = seconds_between(t0, clock::now());
        ch.record.pieces_kept = leechers[i]->stats().pieces_held;
        ++ch.record.restarts;
      }
    }
    if (on_progress) on_progress(progress);
    if (progress.leechers_complete == n) break;
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
  }

  // Results, then the data check, then a clean stop.
  std::vector<std::unique_ptr<bt::client>> all;
  double last = 0;
  bool all_done = true;
  result.faults.faults = config.faults;
  for (std::size_t i = 0; i < n; ++i) {
    const auto current = leechers[i]->stats();
    auto st = retired_stats[i];
    add_counters(st, current);
    leecher_result r;
    r.address = to_string(leecher_address(i));
    if (current.complete && current.completed_at) {
      r.completion_seconds = seconds_between(t0, *current.completed_at);
      last = std::max(last, *r.completion_seconds);
      const auto got = stores[i]->bytes();
      r.data_matches = got.size() == data.size() && std::equal(got.begin(), got.end(), data.begin());
    } else {
      all_done = false;
    }
    r.bytes_up = st.payload_up_bytes;
    r.bytes_down = st.payload_down_bytes;
    r.wire_bytes_up = st.wire_up_bytes;
    r.wire_bytes_down = st.wire_down_bytes;
    r.hash_failures = st.hash_failures;
    add_to_report(result.faults, st);
    result.leechers.push_back(std::move(r));
  }
  for (auto& s : seeds) {
    const auto st = s->stats();
    result.seed_bytes_up += st.payload_up_bytes;
    add_to_report(result.faults, st);
  }
  result.faults.tracker_timeouts = tracker.stats().timeouts;
  if (adversaries) result.faults.peers = adversaries->stats();
  for (const auto& ch : churners) result.faults.churn.push_back(ch.record);
  if (all_done) result.distribution_seconds = last;
  result.data_ok = std::all_of(result.leechers.begin(), result.leechers.end(), [](const leecher_result& r) {
    return !r.completion_seconds || r.data_matches;
  });
  if (result.timed_out) {
    const auto done = std::count_if(result.leechers.begin(), result.leechers.end(),
                                    [](const leecher_result& r) { return r.completion_seconds.has_value(); });
    char limit[32];
    std::snprintf(limit, sizeof limit, "%.1f", std::chrono::duration<double>(config.timeout).count());
    result.failure = "timed out after " + std::string(limit) + " s with " +
                     std::to_string(done) + " of " + std::to_string(n) + " leechers complete";
  }
  if (!result.data_ok) {
    std::string who;
    for (const auto& r : result.leechers)
      if (r.completion_seconds && !r.data_matches) who += (who.empty() ? "" : ", ") + r.address;
    result.failure += (result.failure.empty() ? "" : "; ") + std::string("data differs from the seed's at ") + who;
  }

  // The adversaries go first, so that no honest instance is dialed while it stops.
  if (adversaries) (void)adversaries->stop(std::chrono::seconds(5));
  for (auto& l : leechers) all.push_back(std::move(l));
  for (auto& l : retired) all.push_back(std::move(l));
  for (auto& s : seeds) all.push_back(std::move(s));
  stop_all(all, std::chrono::seconds(5));
  tracker.stop();
  runner.shutdown();
  all.clear();
  adversaries.reset();
  return result;
}

}  // namespace p2pdist::loopback
