#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "loopback/policy/rate_limiter.hpp"

// The limiter is driven in simulated time: refill(elapsed) with chosen steps, never a sleep.
// Expected figures come from rate × time worked out by hand or by integer arithmetic in the
// test, never from the limiter's own output.

namespace {

using namespace std::chrono_literals;
using p2pdist::bt::block_message_bytes;
using p2pdist::bt::consumer_id;
using p2pdist::bt::duration;
using p2pdist::bt::grant;
using p2pdist::bt::rate_limiter;

constexpr std::int64_t ns_per_s = 1'000'000'000;

consumer_id cid(std::uint32_t v) { return consumer_id{v}; }

/// Exact bytes earned at `rate` over `t_ns` nanoseconds, rounded down: floor(rate·t / 1 s).
std::uint64_t earned_bytes(std::uint64_t rate_bytes_per_s, std::int64_t t_ns) {
  const auto t = static_cast<std::uint64_t>(t_ns);
  // Split to stay within 64 bits: whole seconds exactly, the rest through byte·ns.
  const auto whole = t / ns_per_s;
  const auto frac = t % ns_per_s;
  return rate_bytes_per_s * whole + rate_bytes_per_s * frac / ns_per_s;
}

/// Consumers that always want more: each keeps at least `keep_queued` bytes pending by
/// requesting `chunk_bytes` at a time, and requests again as soon as a grant arrives.
struct eager_driver {
  rate_limiter& lim;
  std::vector<consumer_id> ids;
  std::uint64_t chunk_bytes = block_message_bytes;
  std::uint64_t keep_queued_bytes = 1;
  std::map<consumer_id, std::uint64_t> granted{};

  void top_up() {
    for (auto id : ids) {
      while (lim.pending_bytes(id) < keep_queued_bytes) granted[id] += lim.request(id, chunk_bytes);
    }
  }
  void step(duration dt) {
    for (const grant& g : lim.refill(dt)) granted[g.consumer] += g.bytes;
    top_up();
  }
};

/// One step pattern of the refill timer.
enum class step_kind { ms1, ms7, ms20, jitter_5_to_20ms };

duration next_step(step_kind kind, std::mt19937_64& rng) {
  switch (kind) {
    case step_kind::ms1: return 1ms;
    case step_kind::ms7: return 7ms;
    case step_kind::ms20: return 20ms;
    case step_kind::jitter_5_to_20ms:
      return duration(std::uniform_int_distribution<std::int64_t>(5'000'000, 20'000'000)(rng));
  }
  return 1ms;
}

duration max_step(step_kind kind) {
  switch (kind) {
    case step_kind::ms1: return 1ms;
    case step_kind::ms7: return 7ms;
    case step_kind::ms20:
    case step_kind::jitter_5_to_20ms: return 20ms;
  }
  return 20ms;
}

struct sample {
  std::int64_t t_ns;
  std::uint64_t granted_bytes;  // cumulative
};

}  // namespace

TEST_CASE("default burst is one piece message or 20 ms of rate, whichever is larger", "[rate_limiter]") {
  using p2pdist::bt::default_burst_bytes;
  // A piece message: 4 length + 1 id + 4 index + 4 begin + 16384 data.
  CHECK(block_message_bytes == 16397);
  CHECK(default_burst_bytes(0) == 16397);
  CHECK(default_burst_bytes(1000) == 16397);          // 20 bytes < one message
  CHECK(default_burst_bytes(1'000'000) == 20000);     // 1 MB/s × 20 ms
  CHECK(default_burst_bytes(100'000'000) == 2'000'000);
  CHECK(default_burst_bytes(1'000'001) == 20001);     // 20000.02 rounds up
}

TEST_CASE("the bucket starts empty, saves up to the burst while idle, no more", "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 100'000});
  CHECK(lim.available_bytes() == 0);
  CHECK_FALSE(lim.try_acquire(cid(1), 1));

  (void)lim.refill(100ms);  // earns 10000 bytes, below the 16397-byte burst
  CHECK(lim.available_bytes() == 10'000);
  (void)lim.refill(10s);  // would earn 1 MB; capped
  CHECK(lim.available_bytes() == 16'397);
  CHECK(lim.try_acquire(cid(1), block_message_bytes));
  CHECK(lim.available_bytes() == 0);
  CHECK_FALSE(lim.try_acquire(cid(1), 1));
  CHECK(lim.granted_total_bytes() == block_message_bytes);

  SECTION("an explicit burst replaces the default") {
    rate_limiter small({.rate_bytes_per_s = 100'000, .burst_bytes = 3000});
    (void)small.refill(1s);
    CHECK(small.available_bytes() == 3000);
    CHECK_FALSE(small.try_acquire(cid(1), 3001));
    CHECK(small.try_acquire(cid(1), 3000));
  }
  SECTION("negative or huge elapsed times neither underflow nor overflow") {
    rate_limiter fast({.rate_bytes_per_s = p2pdist::bt::max_rate_bytes_per_s});
    (void)fast.refill(-5s);
    CHECK(fast.available_bytes() == 0);
    (void)fast.refill(std::chrono::hours(24 * 365 * 100));
    CHECK(fast.available_bytes() == fast.burst_bytes());
    CHECK(fast.burst_bytes() == 200'000'000);  // 10 GB/s × 20 ms
  }
}

TEST_CASE("request grants at once what the bucket holds and queues the rest", "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 10'000});
  (void)lim.refill(1s);  // 10000 bytes saved (burst 16397)
  CHECK(lim.request(cid(1), 16'000) == 10'000);
  CHECK(lim.pending_bytes(cid(1)) == 6'000);
  CHECK(lim.available_bytes() == 0);
  // Someone is queued, so a newcomer gets nothing at once even after tokens arrive...
  CHECK(lim.request(cid(2), 100) == 0);
  // ...and both are served by the next refill: 5000 bytes earned, max-min: 100 to the
  // small demand, 4900 to the other.
  const auto grants = lim.refill(500ms);
  REQUIRE(grants.size() == 2);
  CHECK(grants[0] == grant{.consumer = cid(1), .bytes = 4'900, .pending_bytes = 1'100});
  CHECK(grants[1] == grant{.consumer = cid(2), .bytes = 100, .pending_bytes = 0});
  CHECK(lim.total_pending_bytes() == 1'100);

  SECTION("cancel drops the demand; the tokens go to the others") {
    (void)lim.request(cid(3), 50'000);
    CHECK(lim.cancel(cid(1)) == 1'100);
    CHECK(lim.pending_bytes(cid(1)) == 0);
    const auto next = lim.refill(100ms);  // 1000 bytes, all to consumer 3
    REQUIRE(next.size() == 1);
    CHECK(next[0].consumer == cid(3));
    CHECK(next[0].bytes == 1'000);
  }
}

TEST_CASE("zero rate means unlimited", "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 0});
  CHECK(lim.unlimited());
  CHECK(lim.try_acquire(cid(1), 1'000'000'000));
  CHECK(lim.request(cid(2), 123'456'789) == 123'456'789);
  CHECK(lim.total_pending_bytes() == 0);
  CHECK(lim.refill(1ms).empty());
  CHECK(lim.granted_total_bytes() == 1'123'456'789);

  SECTION("switching between limited and unlimited at run time") {
    lim.set_rate(1'000);
    CHECK_FALSE(lim.unlimited());
    CHECK_FALSE(lim.try_acquire(cid(1), 1));  // nothing saved yet
    CHECK(lim.request(cid(1), 5'000) == 0);
    const auto limited = lim.refill(1s);
    REQUIRE(limited.size() == 1);
    CHECK(limited[0].bytes == 1'000);
    lim.set_rate(0);
    const auto flushed = lim.refill(duration::zero());
    REQUIRE(flushed.size() == 1);
    CHECK(flushed[0].bytes == 4'000);
    CHECK(flushed[0].pending_bytes == 0);
  }
}

TEST_CASE("accuracy: between refills at least 1 s apart, granted = rate x time within 1 byte",
          "[rate_limiter]") {
  const auto rate = GENERATE(as<std::uint64_t>{}, 1'000, 37'500, 1'000'000, 12'345'678, 100'000'000);
  const auto kind = GENERATE(step_kind::ms1, step_kind::ms7, step_kind::ms20, step_kind::jitter_5_to_20ms);
  CAPTURE(rate, static_cast<int>(kind));

  std::mt19937_64 rng(rate);
  rate_limiter lim({.rate_bytes_per_s = rate});
  // Demand always above supply: three consumers each keep 50 ms of the whole rate queued.
  eager_driver drv{.lim = lim,
                   .ids = {cid(1), cid(2), cid(3)},
                   .chunk_bytes = block_message_bytes,
                   .keep_queued_bytes = std::max<std::uint64_t>(block_message_bytes, rate / 20)};
  drv.top_up();

  std::vector<sample> samples{{0, lim.granted_total_bytes()}};
  std::int64_t t_ns = 0;
  while (t_ns < 5 * ns_per_s) {
    const auto dt = next_step(kind, rng);
    t_ns += dt.count();
    drv.step(dt);
    samples.push_back({t_ns, lim.granted_total_bytes()});
  }
  CHECK(samples.front().granted_bytes == 0);

  // Every window from one refill to the first refill at least 1 s later.
  double worst_rel = 0;
  std::int64_t worst_abs_error = 0;
  std::size_t m = 0;
  for (std::size_t j = 0; j < samples.size(); ++j) {
    while (m < samples.size() && samples[m].t_ns - samples[j].t_ns < ns_per_s) ++m;
    if (m == samples.size()) break;
    const auto got = static_cast<double>(samples[m].granted_bytes - samples[j].granted_bytes);
    const auto want = static_cast<double>(rate) * static_cast<double>(samples[m].t_ns - samples[j].t_ns) / 1e9;
    worst_rel = std::max(worst_rel, std::abs(got - want) / want);
    worst_abs_error = std::max(worst_abs_error, static_cast<std::int64_t>(std::ceil(std::abs(got - want))));
  }
  CHECK(worst_rel <= 0.01);
  CHECK(worst_abs_error <= 1);

  // Windows of exactly 1 s at wall-clock positions that do not line up with refills: the
  // bytes granted by refills inside [a, a + 1 s). Grants come in refill-sized steps, so the
  // error is at most rate × (longest step) + 1 byte; within 1 % when steps are ≤ 10 ms.
  const auto step_error = static_cast<double>(rate) * std::chrono::duration<double>(max_step(kind)).count() + 1;
  double worst_wall_error = 0;
  auto granted_by = [&](std::int64_t at_ns) {  // cumulative grants of refills before at_ns
    const auto it = std::partition_point(samples.begin(), samples.end(),
                                         [&](const sample& s) { return s.t_ns < at_ns; });
    return std::prev(it)->granted_bytes;
  };
  for (std::int64_t a = 333'333; a + ns_per_s <= t_ns; a += 3'141'593) {
    const auto got = static_cast<double>(granted_by(a + ns_per_s) - granted_by(a));
    worst_wall_error = std::max(worst_wall_error, std::abs(got - static_cast<double>(rate)));
  }
  CHECK(worst_wall_error <= step_error);
  if (max_step(kind) <= 10ms) CHECK(worst_wall_error <= 0.01 * static_cast<double>(rate));
}

TEST_CASE("no drift: the long-run total equals rate x time", "[rate_limiter]") {
  struct plan {
    std::uint64_t rate_bytes_per_s;
    duration step;
    int refills;
  };
  const auto p = GENERATE(plan{12'345, 7ms, 100'000},           // 700 s
                          plan{333, 1ms, 30'000},               // a third of a byte per refill
                          plan{1'000'003, duration(7'000'123), 20'000},
                          plan{99'999'989, duration(19'999'999), 5'000});
  CAPTURE(p.rate_bytes_per_s, p.step.count(), p.refills);

  rate_limiter lim({.rate_bytes_per_s = p.rate_bytes_per_s});
  eager_driver drv{.lim = lim, .ids = {cid(7)}, .keep_queued_bytes = p.rate_bytes_per_s + block_message_bytes};
  drv.top_up();
  for (int i = 0; i < p.refills; ++i) drv.step(p.step);

  const auto total_ns = p.step.count() * p.refills;
  CHECK(lim.granted_total_bytes() == earned_bytes(p.rate_bytes_per_s, total_ns));
  SECTION("a hand-checked case") {
    if (p.rate_bytes_per_s == 12'345) CHECK(lim.granted_total_bytes() == 8'641'500);  // 12345 × 700
    if (p.rate_bytes_per_s == 333) CHECK(lim.granted_total_bytes() == 9'990);          // 333 × 30
  }
}

TEST_CASE("never above the rate: any stretch between refills gets at most burst + rate x length",
          "[rate_limiter]") {
  const auto rate = GENERATE(as<std::uint64_t>{}, 5'000, 250'000, 20'000'000);
  const auto seed = GENERATE(as<std::uint64_t>{}, 1, 2, 3);
  CAPTURE(rate, seed);
  std::mt19937_64 rng(seed);
  rate_limiter lim({.rate_bytes_per_s = rate});
  const auto burst = lim.burst_bytes();

  // Bursty demand: long idle stretches, sudden bursts, immediate try_acquire()s between
  // refills, cancellations.
  std::vector<sample> samples{{0, 0}};
  std::int64_t t_ns = 0;
  std::uniform_int_distribution<int> action(0, 9);
  // Requests of up to 100 ms of rate (at least four blocks), so demand comes and goes
  // around the capacity at every rate.
  std::uniform_int_distribution<std::uint64_t> size(1, std::max(4 * block_message_bytes, rate / 10));
  std::uint64_t requested = 0;
  std::uint64_t acquired = 0;
  std::uint64_t cancelled = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto a = action(rng);
    const auto who = cid(static_cast<std::uint32_t>(a % 4));
    if (a < 3) {
      const auto n = size(rng);
      requested += n;
      (void)lim.request(who, n);
    }
    if (a == 3) {
      const auto n = size(rng);
      if (lim.try_acquire(who, n)) acquired += n;
    }
    if (a == 4 && i % 50 == 0) cancelled += lim.cancel(who);
    const auto dt = duration(std::uniform_int_distribution<std::int64_t>(100'000, 60'000'000)(rng));
    t_ns += dt.count();
    (void)lim.refill(dt);
    samples.push_back({t_ns, lim.granted_total_bytes()});
  }

  // From the start (empty bucket): never more than was earned.
  for (const auto& s : samples) REQUIRE(s.granted_bytes <= earned_bytes(rate, s.t_ns));
  // Any stretch: at most burst + rate × length + 1 byte of fractional carry.
  std::int64_t worst_excess = std::numeric_limits<std::int64_t>::min();
  for (std::size_t j = 0; j < samples.size(); ++j) {
    for (std::size_t m = j + 1; m < samples.size(); ++m) {
      const auto got = static_cast<std::int64_t>(samples[m].granted_bytes - samples[j].granted_bytes);
      const auto allowed = static_cast<std::int64_t>(
          burst + static_cast<std::uint64_t>(std::floor(static_cast<double>(rate) *
                                                        static_cast<double>(samples[m].t_ns - samples[j].t_ns) / 1e9)) + 1);
      worst_excess = std::max(worst_excess, got - allowed);
    }
  }
  CHECK(worst_excess <= 0);
  // Conservation: every byte asked for was granted, cancelled or is still pending, so the
  // bound above was not met by losing demand.
  CHECK(lim.granted_total_bytes() == requested + acquired - cancelled - lim.total_pending_bytes());
  CHECK(lim.granted_total_bytes() > 0);
}

TEST_CASE("fairness: eager consumers get equal shares whatever size they ask for", "[rate_limiter]") {
  const auto step = GENERATE(duration(1ms), duration(7ms), duration(20ms));
  CAPTURE(step.count());
  constexpr std::uint64_t rate = 200'000;
  rate_limiter lim({.rate_bytes_per_s = rate});

  // Five eager consumers (each keeps at least 20 ms of the whole rate queued, as a connection
  // with a pipeline of requests does), asking in different sizes: consumer 1 always a whole
  // piece message, the others 1000, 3000, 700 and 16397 bytes at a time.
  const std::vector<std::pair<consumer_id, std::uint64_t>> asks = {
      {cid(1), block_message_bytes}, {cid(2), 1'000}, {cid(3), 3'000}, {cid(4), 700}, {cid(5), 16'397}};
  std::map<consumer_id, std::uint64_t> granted;
  auto top_up = [&] {
    for (auto [id, n] : asks) {
      while (lim.pending_bytes(id) < 4'000) granted[id] += lim.request(id, n);
    }
  };
  top_up();
  const auto steps = 60s / step;
  for (std::int64_t i = 0; i < steps; ++i) {
    for (const grant& g : lim.refill(step)) granted[g.consumer] += g.bytes;
    top_up();
  }
  // 200 kB/s × 60 s = 12 MB (59.997 s and 11999400 bytes with 7 ms steps), a fifth each.
  const auto total = earned_bytes(rate, steps * step.count());
  CHECK(total == (step == 7ms ? 11'999'400 : 12'000'000));
  CHECK(lim.granted_total_bytes() == total);
  for (auto [id, n] : asks) {
    CAPTURE(static_cast<int>(id), n);
    CHECK(static_cast<double>(granted[id]) == Approx(static_cast<double>(total) / 5).epsilon(0.01));
  }
}

TEST_CASE("no starvation: a whole-block asker among many small askers gets its share every refill",
          "[rate_limiter]") {
  // 100 kB/s in 10 ms refills earns 1000 bytes per refill. One consumer asks for a whole
  // piece message at a time, twenty others for 100 bytes at a time; each asks again as soon
  // as its request is complete. Water filling gives every consumer with demand at least
  // floor(1000 / 21) = 47 bytes per refill, so a block completes within
  // ceil(16397 / 47) = 349 refills however the small askers behave.
  rate_limiter lim({.rate_bytes_per_s = 100'000});
  const auto big = cid(100);
  (void)lim.request(big, block_message_bytes);
  for (std::uint32_t i = 0; i < 20; ++i) (void)lim.request(cid(i), 100);
  int refills_this_block = 0;
  int worst_refills_per_block = 0;
  int blocks_done = 0;
  std::uint64_t small_total = 0;
  for (int i = 0; i < 6'000; ++i) {  // 60 s
    ++refills_this_block;
    for (const grant& g : lim.refill(10ms)) {
      if (g.consumer != big) small_total += g.bytes;
      if (g.pending_bytes > 0) continue;
      if (g.consumer == big) {
        ++blocks_done;
        worst_refills_per_block = std::max(worst_refills_per_block, refills_this_block);
        refills_this_block = 0;
        (void)lim.request(big, block_message_bytes);
      } else {
        (void)lim.request(g.consumer, 100);
      }
    }
  }
  CHECK(worst_refills_per_block <= 349);
  // 6 MB over 60 s, the big asker holds a 1/21 share at least: 285714 bytes, 17 blocks.
  CHECK(blocks_done >= 17);
  CHECK(small_total + static_cast<std::uint64_t>(blocks_done) * block_message_bytes +
            (block_message_bytes - lim.pending_bytes(big)) ==
        6'000'000);
}

TEST_CASE("fairness down to single bytes: the extra byte of an uneven split rotates", "[rate_limiter]") {
  // 1000 B/s in 1 ms refills earns one byte per refill; three eager consumers must still
  // each get a third.
  rate_limiter lim({.rate_bytes_per_s = 1'000});
  eager_driver drv{.lim = lim, .ids = {cid(1), cid(2), cid(3)}, .chunk_bytes = 100'000};
  drv.top_up();
  for (int i = 0; i < 3'000; ++i) drv.step(1ms);
  CHECK(drv.granted[cid(1)] == 1'000);
  CHECK(drv.granted[cid(2)] == 1'000);
  CHECK(drv.granted[cid(3)] == 1'000);
}

TEST_CASE("max-min: a small demand is met in full and the rest is shared by the others", "[rate_limiter]") {
  constexpr std::uint64_t rate = 100'000;
  rate_limiter lim({.rate_bytes_per_s = rate});
  eager_driver eager{.lim = lim, .ids = {cid(1), cid(2), cid(3), cid(4)}, .keep_queued_bytes = 50'000};
  std::uint64_t small_asked = 0;
  std::uint64_t small_got = 0;
  std::uint64_t small_worst_backlog = 0;
  eager.top_up();
  for (int i = 1; i <= 30'000; ++i) {  // 30 s in 1 ms steps
    if (i % 100 == 1) {  // 1000 bytes every 100 ms: 10 kB/s, under a fair fifth (20 kB/s)
      small_asked += 1'000;
      small_got += lim.request(cid(9), 1'000);
    }
    for (const grant& g : lim.refill(1ms)) {
      if (g.consumer == cid(9)) small_got += g.bytes;
      else eager.granted[g.consumer] += g.bytes;
    }
    small_worst_backlog = std::max(small_worst_backlog, lim.pending_bytes(cid(9)));
    eager.top_up();
  }
  CHECK(small_got == small_asked);
  CHECK(small_asked == 300'000);
  // Its share per 1 ms refill is 20 bytes at least, so 1000 bytes wait at most 50 refills,
  // well before the next 1000 arrive.
  CHECK(small_worst_backlog < 1'000);
  // The others share 100 kB/s − 10 kB/s: 22500 B/s each, 675000 bytes over 30 s.
  for (auto id : eager.ids) CHECK(static_cast<double>(eager.granted[id]) == Approx(675'000).epsilon(0.01));
}

TEST_CASE("consumers joining and leaving: shares follow the current set, the total stays exact",
          "[rate_limiter]") {
  constexpr std::uint64_t rate = 60'000;
  rate_limiter lim({.rate_bytes_per_s = rate});
  eager_driver drv{.lim = lim, .ids = {cid(1), cid(2)}, .keep_queued_bytes = 20'000};
  auto run = [&](int refills) {
    drv.top_up();
    for (int i = 0; i < refills; ++i) drv.step(5ms);
  };
  run(2'000);  // 10 s, two consumers: 300 kB each
  CHECK(static_cast<double>(drv.granted[cid(1)]) == Approx(300'000).epsilon(0.005));
  CHECK(static_cast<double>(drv.granted[cid(2)]) == Approx(300'000).epsilon(0.005));

  drv.ids.push_back(cid(3));
  lim.add_consumer(cid(3));
  CHECK(lim.consumers() == 3);
  auto before = drv.granted;
  run(2'000);  // 10 s, three consumers: 200 kB each
  for (auto id : drv.ids) CHECK(static_cast<double>(drv.granted[id] - before[id]) == Approx(200'000).epsilon(0.005));

  CHECK(lim.pending_bytes(cid(1)) > 0);
  lim.remove_consumer(cid(1));
  drv.ids.erase(drv.ids.begin());
  CHECK(lim.consumers() == 2);
  CHECK(lim.pending_bytes(cid(1)) == 0);
  const auto before_leave = drv.granted;
  run(2'000);  // 10 s, consumers 2 and 3: 300 kB each; 1 gets nothing more
  CHECK(drv.granted[cid(1)] == before_leave.at(cid(1)));
  CHECK(static_cast<double>(drv.granted[cid(2)] - before_leave.at(cid(2))) == Approx(300'000).epsilon(0.005));
  CHECK(static_cast<double>(drv.granted[cid(3)] - before_leave.at(cid(3))) == Approx(300'000).epsilon(0.005));

  // 60 kB/s × 30 s; the dropped demand of consumer 1 was never granted, nothing was lost.
  CHECK(lim.granted_total_bytes() == 1'800'000);
}

TEST_CASE("set_rate at run time: each stretch runs at its own rate", "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 50'000});
  eager_driver drv{.lim = lim, .ids = {cid(1), cid(2)}, .keep_queued_bytes = 40'000};
  drv.top_up();
  for (int i = 0; i < 300; ++i) drv.step(10ms);  // 3 s at 50 kB/s
  CHECK(lim.granted_total_bytes() == 150'000);
  lim.set_rate(20'000);
  CHECK(lim.burst_bytes() == 16'397);
  for (int i = 0; i < 200; ++i) drv.step(10ms);  // 2 s at 20 kB/s
  CHECK(lim.granted_total_bytes() == 190'000);
  lim.set_rate(3'000'000);
  CHECK(lim.burst_bytes() == 60'000);  // 3 MB/s × 20 ms
  for (int i = 0; i < 100; ++i) drv.step(10ms);  // 1 s at 3 MB/s
  CHECK(lim.granted_total_bytes() == 3'190'000);
}

TEST_CASE("a late refill wastes nothing when demand is waiting: the burst only caps idle savings",
          "[rate_limiter]") {
  // 10 MB/s has a 200 kB burst (20 ms). A timer that fires after 50 ms, or 1 s, with demand
  // queued must still hand out everything those 50 ms or 1 s earned.
  rate_limiter lim({.rate_bytes_per_s = 10'000'000});
  CHECK(lim.burst_bytes() == 200'000);
  (void)lim.request(cid(1), 5'000'000);
  (void)lim.request(cid(2), 5'000'000);
  auto total = [](std::span<const grant> gs) {
    std::uint64_t sum = 0;
    for (const auto& g : gs) sum += g.bytes;
    return sum;
  };
  CHECK(total(lim.refill(50ms)) == 500'000);
  CHECK(total(lim.refill(1s)) == 10'000'000 - 500'000);  // all that is left of the demand
  CHECK(lim.total_pending_bytes() == 0);
  // The surplus of that second (500 kB more than was asked) is not kept beyond the burst.
  CHECK(lim.available_bytes() == 200'000);
}

TEST_CASE("priority: a smaller priority is served in full before a larger one gets a byte", "[rate_limiter]") {
  // 100 kB/s in 10 ms refills earns 1000 bytes per refill.
  rate_limiter lim({.rate_bytes_per_s = 100'000});
  lim.set_priority(cid(1), 20);
  lim.set_priority(cid(2), 10);
  (void)lim.request(cid(1), 5'000);
  (void)lim.request(cid(2), 2'500);
  // Consumer 2 (priority 10) takes the first 2500 bytes: refills 1 and 2 whole, then 500 of
  // refill 3, whose other 500 go to consumer 1; consumer 1 then has the rest alone.
  auto g = lim.refill(10ms);
  REQUIRE(g.size() == 1);
  CHECK(g[0] == grant{.consumer = cid(2), .bytes = 1'000, .pending_bytes = 1'500});
  g = lim.refill(10ms);
  REQUIRE(g.size() == 1);
  CHECK(g[0] == grant{.consumer = cid(2), .bytes = 1'000, .pending_bytes = 500});
  g = lim.refill(10ms);
  REQUIRE(g.size() == 2);
  CHECK(g[0] == grant{.consumer = cid(1), .bytes = 500, .pending_bytes = 4'500});
  CHECK(g[1] == grant{.consumer = cid(2), .bytes = 500, .pending_bytes = 0});
  g = lim.refill(10ms);
  REQUIRE(g.size() == 1);
  CHECK(g[0] == grant{.consumer = cid(1), .bytes = 1'000, .pending_bytes = 3'500});
  // The total is still rate x time: 4 refills of 1000 bytes.
  CHECK(lim.granted_total_bytes() == 4'000);
}

TEST_CASE("priority: equal priorities share max-min fairly, and changing one reorders at once",
          "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 100'000});
  for (std::uint32_t k = 1; k <= 3; ++k) {
    lim.set_priority(cid(k), 7);
    (void)lim.request(cid(k), 10'000);
  }
  // Three equal priorities: 1000 bytes split 334 / 333 / 333 (the extra byte rotates).
  auto g = lim.refill(10ms);
  REQUIRE(g.size() == 3);
  std::uint64_t sum = 0;
  for (const auto& x : g) {
    CHECK(x.bytes >= 333);
    CHECK(x.bytes <= 334);
    sum += x.bytes;
  }
  CHECK(sum == 1'000);
  // Consumer 3 moves ahead (priority 1): the next refill is all its own.
  lim.set_priority(cid(3), 1);
  g = lim.refill(10ms);
  REQUIRE(g.size() == 1);
  CHECK(g[0].consumer == cid(3));
  CHECK(g[0].bytes == 1'000);
}

TEST_CASE("priority: what the first group leaves over goes to the next, the bucket keeps none",
          "[rate_limiter]") {
  rate_limiter lim({.rate_bytes_per_s = 100'000});
  lim.set_priority(cid(1), 1);
  lim.set_priority(cid(2), 2);
  lim.set_priority(cid(3), 2);
  (void)lim.request(cid(1), 400);
  (void)lim.request(cid(2), 5'000);
  (void)lim.request(cid(3), 5'000);
  // 1000 earned: 400 to consumer 1 in full, the other 600 split 300 / 300.
  const auto g = lim.refill(10ms);
  std::map<std::uint32_t, std::uint64_t> got;
  for (const auto& x : g) got[static_cast<std::uint32_t>(x.consumer)] = x.bytes;
  CHECK(got == std::map<std::uint32_t, std::uint64_t>{{1, 400}, {2, 300}, {3, 300}});
  CHECK(lim.available_bytes() == 0);
}
