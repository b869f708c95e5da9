// The pacer: a token bucket refilled exactly when the next item can leave. Driven in
// simulated time; expected times are rate arithmetic worked out by hand beside each check.
#include "loopback/policy/pacer.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

namespace {

using namespace std::chrono_literals;
using p2pdist::bt::consumer_id;
using p2pdist::bt::pacer;
using p2pdist::bt::time_point;

const time_point t0{std::chrono::hours(1)};
constexpr std::uint64_t block = 16384 + 13;  // one piece message on the wire
constexpr consumer_id a{1}, b{2}, c{3};

double seconds_after(time_point t) { return std::chrono::duration<double>(t - t0).count(); }

}  // namespace

TEST_CASE("pacer: one consumer's next block is due after block / rate", "[pacer]") {
  pacer p(1'000'000, t0);  // 1 MB/s
  // Created at t0, first asked at t0 + 5 s: nothing was saved up meanwhile.
  const auto asked = t0 + 5s;
  CHECK(p.sync(a, 2 * block, asked) == 0);
  const auto due = p.next_due([](consumer_id) { return block; });
  REQUIRE(due);
  CHECK(seconds_after(*due) == Approx(5.0 + 16397.0 / 1e6).epsilon(1e-9));  // 16.397 ms after the ask
  (void)p.refill_to(*due);
  CHECK(p.granted(a) >= block);
  CHECK(p.granted(a) <= block + 1);
  p.spend(a, block);
  // The second block: another 16.397 ms.
  const auto second = p.next_due([](consumer_id) { return block; });
  REQUIRE(second);
  CHECK(seconds_after(*second) == Approx(5.0 + 2 * 16397.0 / 1e6).epsilon(1e-6));
}

TEST_CASE("pacer: equal consumers share, a strict priority serves its group first", "[pacer]") {
  pacer p(1'000'000, t0);
  (void)p.sync(a, block, t0);
  (void)p.sync(b, block, t0);
  // Two consumers sharing 1 MB/s: each block after 2 × 16.397 ms.
  auto due = p.next_due([](consumer_id) { return block; });
  REQUIRE(due);
  CHECK(seconds_after(*due) == Approx(2 * 16397.0 / 1e6).epsilon(1e-6));

  pacer q(1'000'000, t0);
  q.set_priority(a, 5);
  q.set_priority(b, 1);  // b's piece was asked for first
  (void)q.sync(a, block, t0);
  (void)q.sync(b, block, t0);
  due = q.next_due([](consumer_id) { return block; });
  REQUIRE(due);
  CHECK(seconds_after(*due) == Approx(16397.0 / 1e6).epsilon(1e-6));  // b alone first
  (void)q.refill_to(*due);
  CHECK(q.granted(b) >= block);
  CHECK(q.granted(a) == 0);
}

TEST_CASE("pacer: nothing due when nobody waits for tokens, withdrawn demand is dropped", "[pacer]") {
  pacer p(1'000'000, t0);
  CHECK_FALSE(p.next_due([](consumer_id) { return block; }));
  (void)p.sync(c, 3 * block, t0);
  (void)p.sync(c, block, t0 + 1ms);  // two blocks cancelled
  const auto due = p.next_due([](consumer_id) { return block; });
  REQUIRE(due);
  (void)p.refill_to(*due);
  CHECK(p.granted(c) >= block);
  CHECK(p.granted(c) <= block + 1);
  p.spend(c, block);
  (void)p.sync(c, 0, *due);
  CHECK_FALSE(p.next_due([](consumer_id) { return block; }));
  p.remove(c);
  CHECK(p.granted(c) == 0);
}

TEST_CASE("pacer: unlimited grants at once and never wakes anyone", "[pacer]") {
  pacer p(0, t0);
  CHECK(p.unlimited());
  CHECK(p.sync(a, 10 * block, t0) == 10 * block);
  CHECK(p.granted(a) == 10 * block);
  CHECK_FALSE(p.next_due([](consumer_id) { return block; }));
}

TEST_CASE("pacer: every grant comes from refill_to, none hides in sync", "[pacer]") {
  // A driver wakes whom refill_to's grants let send. sync once refilled by itself and its
  // grants to other consumers reached nobody: a download-limited reader slept with its
  // bytes granted until its connection's handshake timed out.
  pacer p(2'000'000, t0);  // 2 MB/s: 2 bytes a microsecond
  CHECK(p.sync(a, 91, t0 + 50us) == 0);  // the first demand starts the clock at 50 µs
  auto g = p.refill_to(t0 + 60us);       // 10 µs: 20 bytes, all a's
  REQUIRE(g.size() == 1);
  CHECK(g[0].consumer == a);
  CHECK(g[0].bytes == 20);
  CHECK(p.sync(b, 68, t0 + 60us) == 0);
  CHECK(p.sync(c, 68, t0 + 300us) == 0);  // no refill here: a and b hold what they held
  CHECK(p.granted(a) == 20);
  CHECK(p.granted(b) == 0);
  // 60 -> 300 µs: 480 bytes for the 71 + 68 + 68 = 207 asked; each gets all it asked for.
  g = p.refill_to(t0 + 300us);
  std::uint64_t to_a = 0, to_b = 0, to_c = 0;
  for (const auto& x : g) (x.consumer == a ? to_a : x.consumer == b ? to_b : to_c) += x.bytes;
  CHECK(to_a == 71);
  CHECK(to_b == 68);
  CHECK(to_c == 68);
  CHECK(p.granted(a) == 91);
  CHECK(p.refill_to(t0 + 1ms).empty());  // nobody asks
}

TEST_CASE("pacer: a link that idles loses that time, nothing is saved for a burst", "[pacer]") {
  pacer p(1'000'000, t0);  // 1 MB/s: 1 byte a microsecond
  CHECK(p.sync(a, 100, t0) == 0);
  (void)p.refill_to(t0 + 100us);
  CHECK(p.granted(a) == 100);
  p.spend(a, 100);
  (void)p.refill_to(t0 + 20ms);           // 19.9 ms idle: 19 900 bytes earned, nobody asked
  CHECK(p.sync(a, block, t0 + 20ms) == 0);  // nothing was kept for it
  (void)p.refill_to(t0 + 20ms + 10us);
  CHECK(p.granted(a) == 10);               // 10 µs worth only
}
