#include "loopback/harness/harness.hpp"

#include "loopback/harness/instances.hpp"

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

#include <sys/resource.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "loopback/protocol/metainfo.hpp"
#include "loopback/storage/generated_storage.hpp"
#include "loopback/storage/storage.hpp"
#include "loopback/net/tracker_server.hpp"

namespace p2pdist::loopback {

namespace {

using clock = std::chrono::steady_clock;

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
  if (!into.first_block_at) into.first_block_at = s.first_block_at;
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

// Runs `count` io_contexts, one thread each, until stopped; joins on destruction. io()
// hands them out in turn, so the instances spread evenly over the threads. One context per
// thread, not one shared by all: a shared context's threads take its scheduler lock for
// every handler and wake each other through futexes for every post, which at hundreds of
// instances cost more CPU than the sockets; apart, an instance's handlers run on one thread
// and the threads meet only in the kernel's sockets.
class io_runner {
 public:
  explicit io_runner(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      auto& c = contexts_.emplace_back(std::make_unique<context>());
      threads_.emplace_back([&io = c->io] { io.run(); });
    }
  }
  ~io_runner() { shutdown(); }
  io_runner(const io_runner&) = delete;
  io_runner& operator=(const io_runner&) = delete;
  asio::io_context& io() { return contexts_[next_++ % contexts_.size()]->io; }
  void shutdown() {
    for (auto& c : contexts_) {
      c->guard.reset();
      c->io.stop();
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  struct context {
    asio::io_context io{1};  // concurrency hint: one thread runs it
    asio::executor_work_guard<asio::io_context::executor_type> guard{asio::make_work_guard(io)};
  };
  std::vector<std::unique_ptr<context>> contexts_;
  std::vector<std::thread> threads_;
  std::size_t next_ = 0;
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
  // An emulated path's round trips come on top: a handshake, a request's answer and a
  // silent peer's first message each wait that long more, however short the time scale.
  const bt::duration longest_leecher = c.leecher_rtt.empty() ? bt::duration::zero()
                                                               : *std::max_element(c.leecher_rtt.begin(), c.leecher_rtt.end());
  const bt::duration path = 2 * (std::max(c.rtt_max, 2 * longest_leecher) + c.jitter);
  return {.request = scaled(c.request_timeout, c.time_scale, 1s) + path,
          .handshake = scaled(c.handshake_timeout, c.time_scale, 500ms) + path,
          .tracker_idle = scaled(bt::tracker_config{}.idle_timeout, c.time_scale, 500ms),
          .evict_silent = scaled(5s, c.time_scale, 500ms) + path};
}

std::optional<double> time_lost_seconds(const swarm_result& r) {
  if (!r.faults.baseline_seconds || !r.distribution_seconds) return std::nullopt;
  return *r.distribution_seconds - *r.faults.baseline_seconds;
}

void validate(const swarm_config& c) { validate(c, max_leechers); }

void validate(const swarm_config& c, std::size_t most_leechers) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (c.leechers < 1) fail("the swarm needs at least one leecher");
  if (c.leechers > most_leechers) fail("at most " + std::to_string(most_leechers) + " leechers");
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
  if (c.content == swarm_content::generated && c.file)
    fail("generated content is made by the harness: it cannot come from a file");
  if (c.max_peers && *c.max_peers < 1) fail("the connection limit must be at least 1");
  if (c.rtt_min < bt::duration::zero() || c.rtt_min > c.rtt_max || c.jitter < bt::duration::zero())
    fail("the round trips must run from a minimum to a maximum at or above it, and jitter must not be negative");
  if (!c.leecher_rtt.empty()) {
    if (c.leecher_rtt.size() != c.leechers)
      fail("the leechers' round trips: " + std::to_string(c.leecher_rtt.size()) + " values given, but there are " +
           std::to_string(c.leechers) + " leechers (give one round trip per leecher)");
    for (const auto r : c.leecher_rtt)
      if (r < bt::duration::zero()) fail("the leechers' round trips must not be negative");
    if (c.rtt_max > bt::duration::zero()) fail("give either a round-trip range or one round trip per leecher");
  }
  if (!c.faults.empty() && c.leechers > max_leechers_with_faults)
    fail("with faults, at most " + std::to_string(max_leechers_with_faults) + " leechers (the address plan)");
}

connection_budget connection_limit(const swarm_config& c) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  const std::uint64_t instances = c.leechers + c.seeds;
  const std::uint64_t fixed = 64 + 16 * static_cast<std::uint64_t>(fault_peer_count(c.faults));
  const std::uint64_t available = lim.rlim_cur == RLIM_INFINITY ? ~std::uint64_t{0} : lim.rlim_cur;
  auto needed = [&](std::uint64_t peers) { return instances * (peers + 1) + fixed; };
  // Nobody needs more connections than there are other instances and adversaries, and a
  // margin for the moments two peers dial each other at once.
  const std::size_t everyone = c.leechers + c.seeds - 1 + fault_peer_count(c.faults) + 8;
  std::size_t peers = std::min<std::size_t>(c.max_peers.value_or(default_max_peers), everyone);
  if (!c.max_peers)
    while (peers > 4 && needed(peers) > available) --peers;
  if (needed(peers) > available) {
    throw std::invalid_argument(
        "this swarm needs about " + std::to_string(needed(peers)) + " open files (" + std::to_string(instances) +
        " instances x " + std::to_string(peers + 1) + " sockets each, and a margin) but this process may have " +
        std::to_string(available) + " (RLIMIT_NOFILE" + (c.max_peers ? "; lower --max-peers, or N" : "; lower N") +
        ", or raise the hard limit)");
  }
  return {.max_peers = peers, .descriptors_needed = needed(peers), .descriptors_available = available};
}

namespace {

// One run of run_swarm: the tracker, the seeds, the adversaries, the leechers (and their
// churn), the sampling loop, the results and the stop, one method each.
class swarm_run {
 public:
  swarm_run(const swarm_config& config, const std::function<void(const swarm_progress&)>& on_progress)
      : config_(config),
        on_progress_(on_progress),
        generated_(config.content == swarm_content::generated),
        data_(generated_       ? std::vector<std::byte>{}
              : config.file    ? read_file(*config.file)
                               : random_bytes(config.file_bytes, config.data_seed)),
        file_bytes_(generated_ ? config.file_bytes : data_.size()),
        budget_(connection_limit(config)),
        timeouts_(scaled_timeouts_for(config)),
        runner_(config.io_threads) {
    if (file_bytes_ == 0) throw std::invalid_argument("the file to share is empty");
  }

  swarm_result run() {
    start_tracker();
    start_seeds();
    start_adversaries();
    make_leechers();
    // t0: every seed listens and holds the file; release the leechers together.
    t0_ = clock::now();
    const double cpu_at_t0 = process_cpu_seconds();
    for (auto& l : leechers_) start_leecher(*l);
    sample_until_done();
    // The distribution's cost: not the set-up before t0, nor the data check that follows.
    result_.cpu_seconds = process_cpu_seconds() - cpu_at_t0;
    collect();
    stop();
    result_.peak_rss_bytes = peak_rss_bytes();
    return std::move(result_);
  }

 private:
  std::size_t n() const { return config_.leechers; }
  bool p2p() const { return config_.mode == swarm_mode::p2p; }

  // The tracker, then the torrent that names it.
  void start_tracker() {
    tracker_ = std::make_unique<bt::tracker_server>(
        runner_.io(), bt::tracker_config{.listen = {.ip = {127, 0, 0, 1}, .port = 0},
                                         .interval = std::chrono::seconds(1),
                                         .idle_timeout = timeouts_.tracker_idle});
    tracker_->start();
    const std::string announce = "http://127.0.0.1:" + std::to_string(tracker_->port()) + "/announce";
    torrent_ = swarm_torrent(config_, data_, file_bytes_, announce);
    plan_.emplace(config_, torrent_, budget_.max_peers);
    max_peers_ = budget_.max_peers;
  }

  void start_seeds() {
    for (std::size_t s = 0; s < config_.seeds; ++s) {
      auto c = plan_->seed(s, rng_seed_++);
      c.store = content_for_seed();
      seeds_.push_back(std::make_unique<bt::client>(runner_.io(), std::move(c)));
      seeds_.back()->start();
    }
  }

  // The adversaries join before t0, so that the leechers' first announce lists them.
  void start_adversaries() {
    using namespace std::chrono_literals;
    if (fault_peer_count(config_.faults) == 0) return;
    adversaries_ = std::make_unique<fault_swarm>(
        runner_.io(),
        fault_swarm_config{.torrent = torrent_,
                           .tracker = {.ip = {127, 0, 0, 1}, .port = tracker_->port()},
                           .faults = config_.faults,
                           .reconnect_pause = scaled(500ms, config_.time_scale, 50ms),
                           // About three bytes before an honest handshake timeout or the tracker's idle one.
                           .drip_interval = std::min(timeouts_.handshake, timeouts_.tracker_idle) * 3 / 10,
                           .keepalive_interval = scaled(5s, config_.time_scale, 100ms),
                           .rng_seed = config_.rng_seed});
    adversaries_->start();
    const auto until = clock::now() + 5s;
    while (!adversaries_->announced() && clock::now() < until) std::this_thread::sleep_for(5ms);
  }

  std::shared_ptr<bt::storage> content_for_seed() const {
    if (generated_) return bt::make_generated_storage(file_bytes_, config_.data_seed);
    return bt::make_memory_storage(data_);
  }

  std::unique_ptr<bt::client> make_leecher(std::size_t i, bt::initial_data initial) {
    const std::uint64_t seed = leecher_seeds_[i];
    leecher_seeds_[i] = seed * 6364136223846793005ULL + 1442695040888963407ULL;  // a churner's next one
    auto c = plan_->leecher(i, seed, initial);
    c.store = stores_[i];
    return std::make_unique<bt::client>(runner_.io(), std::move(c));
  }

  // Client-server: a client knows its server, as an HTTP client does; it dials every seed at
  // once rather than wait for the seeds to come up among the tracker's random subset (with
  // N + 1 peers above numwant, some leechers would not hear of the seed until the next
  // announce).
  void start_leecher(bt::client& l) {
    l.start();
    if (p2p()) return;
    for (std::size_t s = 0; s < seeds_.size(); ++s) l.connect_to({.ip = seed_address(s), .port = seeds_[s]->port()});
  }

  void make_leechers() {
    for (std::size_t i = 0; i < n(); ++i) {
      if (generated_) {
        stores_.push_back(bt::make_generated_storage(file_bytes_, config_.data_seed));
      } else {
        memory_stores_.push_back(bt::make_memory_storage(file_bytes_));
        stores_.push_back(memory_stores_.back());
      }
      leecher_seeds_.push_back(rng_seed_++);
      leechers_.push_back(make_leecher(i, bt::initial_data::assume_empty));
    }
    // Churn: the first K leechers leave once, mid-download, and come back after a pause.
    for (const auto& e : plan_churn(n(), churn_count(config_.faults), config_.rng_seed ^ 0x636875726eULL)) {
      churners_.emplace_back();
      churners_.back().plan = e;
      churners_.back().record.address = to_string(leecher_address(e.leecher));
      churners_.back().record.leave_at_fraction = e.leave_at_fraction;
    }
    retired_stats_.assign(n(), {});
  }

  void sample_until_done() {
    result_.file_bytes = file_bytes_;
    result_.max_peers = max_peers_;
    result_.piece_bytes = config_.piece_bytes;
    result_.timeline_bytes.assign(n(), {});
    const auto deadline = t0_ + config_.timeout;
    auto next_sample = t0_;
    held_.assign(n(), 0);
    while (true) {
      next_sample += config_.sample_interval;
      std::this_thread::sleep_until(next_sample);
      const auto now = clock::now();
      const auto progress = sample(now);
      step_churn(now);
      if (on_progress_) on_progress_(progress);
      if (progress.leechers_complete == n()) break;
      if (now >= deadline) {
        result_.timed_out = true;
        break;
      }
    }
  }

  swarm_progress sample(clock::time_point now) {
    swarm_progress progress;
    progress.elapsed_seconds = seconds_between(t0_, now);
    progress.leechers = n();
    progress.bytes_total = file_bytes_ * n();
    result_.timeline_seconds.push_back(progress.elapsed_seconds);
    for (std::size_t i = 0; i < n(); ++i) {
      const auto st = leechers_[i]->stats();
      held_[i] = st.complete ? file_bytes_
                             : std::min<std::uint64_t>(std::uint64_t{st.pieces_held} * config_.piece_bytes, file_bytes_);
      result_.timeline_bytes[i].push_back(held_[i]);
      progress.bytes_held += held_[i];
      progress.leechers_complete += st.complete ? 1 : 0;
      progress.leecher_held.push_back(held_[i]);
      progress.leecher_up.push_back(st.payload_up_bytes);
      progress.leecher_down.push_back(st.payload_down_bytes);
    }
    for (const auto& s : seeds_) progress.seed_up += s->stats().payload_up_bytes;
    result_.timeline_total_bytes.push_back(progress.bytes_held);
    return progress;
  }

  void step_churn(clock::time_point now) {
    const auto pause = scaled(std::chrono::seconds(2), config_.time_scale, std::chrono::milliseconds(100));
    for (auto& ch : churners_) {
      const std::size_t i = ch.plan.leecher;
      if (ch.now == churner::phase::waiting && held_[i] < file_bytes_ &&
          static_cast<double>(held_[i]) >= ch.plan.leave_at_fraction * static_cast<double>(file_bytes_)) {
        ch.now = churner::phase::stopping;
        ch.record.left_seconds = seconds_between(t0_, now);
        ch.back_at = now + pause;
        leechers_[i]->stop([flag = ch.stopped] { flag->store(true); });
      } else if (ch.now == churner::phase::stopping && ch.stopped->load() && now >= ch.back_at) {
        // Back from what it holds: a new instance on the same storage re-checks every piece.
        add_counters(retired_stats_[i], leechers_[i]->stats());
        retired_.push_back(std::move(leechers_[i]));
        leechers_[i] = make_leecher(i, bt::initial_data::verify);
        start_leecher(*leechers_[i]);
        ch.now = churner::phase::back;
        ch.record.back_seconds = seconds_between(t0_, clock::now());
        ch.record.pieces_kept = leechers_[i]->stats().pieces_held;
        ++ch.record.restarts;
      }
    }
  }

  leecher_result leecher_outcome(std::size_t i, double& last, bool& all_done) {
    const auto current = leechers_[i]->stats();
    auto st = retired_stats_[i];
    add_counters(st, current);
    leecher_result r;
    r.address = to_string(leecher_address(i));
    const auto& first = retired_stats_[i].first_block_at ? retired_stats_[i].first_block_at : current.first_block_at;
    if (first) {
      r.first_byte_seconds = seconds_between(t0_, *first);
      if (!result_.first_byte_seconds || *r.first_byte_seconds < *result_.first_byte_seconds)
        result_.first_byte_seconds = r.first_byte_seconds;
    }
    if (current.complete && current.completed_at) {
      r.completion_seconds = seconds_between(t0_, *current.completed_at);
      last = std::max(last, *r.completion_seconds);
      if (generated_) {
        r.data_matches = current.pieces_held == current.piece_count;  // each one SHA-1-checked on arrival
      } else {
        const auto got = memory_stores_[i]->bytes();
        r.data_matches = got.size() == file_bytes_ && std::equal(got.begin(), got.end(), data_.begin());
      }
    } else {
      all_done = false;
    }
    set_counters(r, st);
    add_to_report(result_.faults, st);
    return r;
  }

  // Results, then the data check.
  void collect() {
    double last = 0;
    bool all_done = true;
    result_.faults.faults = config_.faults;
    for (std::size_t i = 0; i < n(); ++i) result_.leechers.push_back(leecher_outcome(i, last, all_done));
    for (auto& s : seeds_) {
      const auto st = s->stats();
      result_.seed_bytes_up += st.payload_up_bytes;
      add_to_report(result_.faults, st);
    }
    result_.faults.tracker_timeouts = tracker_->stats().timeouts;
    if (adversaries_) result_.faults.peers = adversaries_->stats();
    for (const auto& ch : churners_) result_.faults.churn.push_back(ch.record);
    if (all_done) result_.distribution_seconds = last;
    result_.data_ok = std::all_of(result_.leechers.begin(), result_.leechers.end(),
                                  [](const leecher_result& r) { return !r.completion_seconds || r.data_matches; });
    describe_failure();
  }

  void describe_failure() {
    if (result_.timed_out) {
      const auto done = std::count_if(result_.leechers.begin(), result_.leechers.end(),
                                      [](const leecher_result& r) { return r.completion_seconds.has_value(); });
      char limit[32];
      std::snprintf(limit, sizeof limit, "%.1f", std::chrono::duration<double>(config_.timeout).count());
      result_.failure = "timed out after " + std::string(limit) + " s with " + std::to_string(done) + " of " +
                        std::to_string(n()) + " leechers complete";
    }
    if (!result_.data_ok) {
      std::string who;
      for (const auto& r : result_.leechers)
        if (r.completion_seconds && !r.data_matches) who += (who.empty() ? "" : ", ") + r.address;
      result_.failure += (result_.failure.empty() ? "" : "; ") + std::string("data differs from the seed's at ") + who;
    }
  }

  // The adversaries go first, so that no honest instance is dialed while it stops.
  void stop() {
    if (adversaries_) (void)adversaries_->stop(std::chrono::seconds(5));
    std::vector<std::unique_ptr<bt::client>> all;
    for (auto& l : leechers_) all.push_back(std::move(l));
    for (auto& l : retired_) all.push_back(std::move(l));
    for (auto& s : seeds_) all.push_back(std::move(s));
    stop_all(all, std::chrono::seconds(5));
    tracker_->stop();
    runner_.shutdown();
    all.clear();
    adversaries_.reset();
  }

  const swarm_config& config_;
  const std::function<void(const swarm_progress&)>& on_progress_;
  const bool generated_;
  const std::vector<std::byte> data_;  // memory content (empty when generated)
  const std::uint64_t file_bytes_;
  const connection_budget budget_;
  const scaled_timeouts timeouts_;
  io_runner runner_;
  std::unique_ptr<bt::tracker_server> tracker_;
  std::shared_ptr<const bt::metainfo> torrent_;
  std::optional<swarm_plan> plan_;
  std::size_t max_peers_ = 0;
  std::uint64_t rng_seed_ = config_.rng_seed;
  std::vector<std::unique_ptr<bt::client>> seeds_;
  std::unique_ptr<fault_swarm> adversaries_;
  std::vector<std::shared_ptr<bt::storage>> stores_;
  std::vector<std::shared_ptr<bt::memory_storage>> memory_stores_;  // memory content: for the final compare
  std::vector<std::uint64_t> leecher_seeds_;  // the next incarnation's seed, per leecher
  std::vector<std::unique_ptr<bt::client>> leechers_;
  std::vector<churner> churners_;
  std::vector<bt::client_stats> retired_stats_;          // earlier incarnations, added up
  std::vector<std::unique_ptr<bt::client>> retired_;    // stopped incarnations
  clock::time_point t0_{};
  std::vector<std::uint64_t> held_;
  swarm_result result_;
};

}  // namespace

swarm_result run_swarm(const swarm_config& config,
                       const std::function<void(const swarm_progress&)>& on_progress) {
  validate(config);
  return swarm_run(config, on_progress).run();
}

}  // namespace p2pdist::loopback
