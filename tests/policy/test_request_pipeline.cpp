// Tests of the adaptive request pipeline (loopback/policy/request_pipeline.hpp): the rate
// estimate from a peer and the number of requests kept in flight at it.

#include "loopback/policy/request_pipeline.hpp"

#include <chrono>
#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "loopback/protocol/time.hpp"

TEST_CASE("pipeline_depth_for keeps about queue_time of the peer's sending in flight", "[request_pipeline]") {
  using std::chrono::milliseconds;
  // 4 MB/s for 30 ms is 120000 bytes = 7.32 blocks of 16384: 8.
  CHECK(p2pdist::bt::pipeline_depth_for(4e6, milliseconds(30), 2, 16) == 8);
  // 1 MB/s: 30000 bytes = 1.83 blocks: 2; with a floor of 4, 4.
  CHECK(p2pdist::bt::pipeline_depth_for(1e6, milliseconds(30), 2, 16) == 2);
  CHECK(p2pdist::bt::pipeline_depth_for(1e6, milliseconds(30), 4, 16) == 4);
  // An unthrottled loopback peer (1 GB/s: 1831 blocks) is capped at the most.
  CHECK(p2pdist::bt::pipeline_depth_for(1e9, milliseconds(30), 2, 16) == 16);
  // No rate known yet, a nonsense rate, or no queue time: the floor.
  CHECK(p2pdist::bt::pipeline_depth_for(0, milliseconds(30), 2, 16) == 2);
  CHECK(p2pdist::bt::pipeline_depth_for(std::nan(""), milliseconds(30), 2, 16) == 2);
  CHECK(p2pdist::bt::pipeline_depth_for(-5e6, milliseconds(30), 3, 16) == 3);
  CHECK(p2pdist::bt::pipeline_depth_for(4e6, milliseconds(0), 2, 16) == 2);
  CHECK(p2pdist::bt::pipeline_depth_for(std::numeric_limits<double>::infinity(), milliseconds(30), 2, 16) == 16);
}

TEST_CASE("decayed_rate follows a steady rate and forgets a stopped one", "[request_pipeline]") {
  using std::chrono::milliseconds;
  p2pdist::bt::decayed_rate r(milliseconds(100));
  const p2pdist::bt::time_point t0{};
  CHECK(r.rate(t0) == 0);
  // One 16384-byte block every 4 ms: 4.096 MB/s. With tau = 100 ms the decayed sum right
  // after a block is b / (1 - e^(-0.04)) = 25.5 b, i.e. b/dt + b/(2 tau) = 4.096e6 + 81920
  // bytes/s within 0.1 %: the estimate reads at most 2 % high and never low.
  p2pdist::bt::time_point t = t0;
  for (int i = 0; i < 500; ++i) {  // 2 s
    t += milliseconds(4);
    r.add(t, 16384);
  }
  CHECK(r.rate(t) >= 4.096e6);
  CHECK(r.rate(t) <= 4.096e6 * 1.025);
  // Halfway to the next block the estimate has decayed by e^(-0.02): still within 2 %.
  CHECK(r.rate(t + milliseconds(2)) == Approx(4.096e6).epsilon(0.02));
  // Half a second of silence (5 tau): below e^-5 < 0.7 % of the rate.
  CHECK(r.rate(t + milliseconds(500)) < 0.007 * 4.2e6);
}
