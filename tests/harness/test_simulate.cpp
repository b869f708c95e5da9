// The simulated swarm (loopback/harness/simulate.hpp): reproducible, sharing a link as the
// real token buckets do, close to the real swarm's stored medians, refusing what it cannot
// run.

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "loopback/harness/harness_json.hpp"
#include "loopback/harness/simulate.hpp"

using namespace p2pdist;
using namespace p2pdist::loopback;
using namespace std::chrono_literals;

namespace {

constexpr double MB = 1e6;
constexpr std::uint64_t MiB = 1u << 20;

std::vector<double> sorted_completions(const swarm_result& r) {
  std::vector<double> out;
  for (const auto& l : r.leechers) out.push_back(l.completion_seconds.value_or(-1));
  std::sort(out.begin(), out.end());
  return out;
}

swarm_config small_p2p() {
  swarm_config c;
  c.leechers = 6;
  c.file_bytes = 2 * MiB;
  c.piece_bytes = 64 * 1024;
  c.server_up_bytes_per_s = 2 * MB;
  c.peer_up_bytes_per_s = {1 * MB};
  c.choker.rechoke_interval = 2s;
  c.choker.optimistic_interval = 6s;
  return c;
}

}  // namespace

TEST_CASE("a simulation is reproducible from its seed, and another seed makes another run", "[simulate]") {
  auto c = small_p2p();
  const auto a = run_simulation(c);
  const auto b = run_simulation(c);
  REQUIRE(a.swarm.distribution_seconds);
  CHECK(a.stats.events == b.stats.events);
  CHECK(a.stats.messages == b.stats.messages);
  CHECK(sorted_completions(a.swarm) == sorted_completions(b.swarm));
  for (std::size_t i = 0; i < c.leechers; ++i) CHECK(a.swarm.leechers[i].bytes_up == b.swarm.leechers[i].bytes_up);
  c.rng_seed = 2;
  const auto other = run_simulation(c);
  CHECK(other.stats.messages != a.stats.messages);
  // Every leecher holds every piece; the timeline ends with N·F held.
  CHECK(a.swarm.data_ok);
  CHECK(a.swarm.timeline_total_bytes.back() == c.leechers * c.file_bytes);
  CHECK(std::is_sorted(a.swarm.timeline_total_bytes.begin(), a.swarm.timeline_total_bytes.end()));
  CHECK(a.swarm.timeline_bytes.size() == c.leechers);
}

TEST_CASE("the simulated link is shared max-min fairly, as the real token bucket shares it", "[simulate]") {
  // Client-server, a 1 MB/s server, fair upload order, two clients: one downloads at most
  // 200 kB/s, the other without limit. Max-min fair: the first gets its 200 kB/s, the other
  // the remaining 800 kB/s (an equal split would give it 500 kB/s: 8.4 s, not 5.2 s).
  // F = 4 MiB in 64 KiB pieces = 256 blocks of 16 KiB, each 16 397 bytes on the wire (13 of
  // header): 4 197 632 wire bytes per client.
  //   slow client: 4 197 632 / 200 000 = 20.988 s
  //   fast client: 4 197 632 / 800 000 =  5.247 s
  swarm_config c;
  c.leechers = 2;
  c.mode = swarm_mode::cs;
  c.file_bytes = 4 * MiB;
  c.piece_bytes = 64 * 1024;
  c.server_up_bytes_per_s = 1 * MB;
  c.peer_up_bytes_per_s = {1 * MB};
  c.peer_down_bytes_per_s = {200e3, 0};
  c.upload_order = bt::upload_policy::fair;
  const auto r = run_simulation(c);
  REQUIRE(r.swarm.leechers.size() == 2);
  REQUIRE(r.swarm.leechers[0].completion_seconds);
  REQUIRE(r.swarm.leechers[1].completion_seconds);
  CHECK(*r.swarm.leechers[0].completion_seconds == Approx(20.988).epsilon(0.01));
  CHECK(*r.swarm.leechers[1].completion_seconds == Approx(5.247).epsilon(0.01));
}

TEST_CASE("the simulation lands where the real swarm's stored medians are", "[simulate]") {
  // tests/data/sim_reference.json: small swarms of every binding term and both modes, each
  // run 5 times by the real engine (written by bench/validate_sim.py --repeat 5 --reference
  // FILE, which says so in the file). The simulation, median of as many seeds as the file
  // has real runs (the script compares them so), must be within 2 % of the
  // real median distribution time, and its completion curve within 5 % (of the real time)
  // of the real one. So that the band cannot pass by accident, the file holds cases whose real
  // time is more than 2 % off the fluid bound: a simulator that merely returned the bound
  // would fail them.
  std::ifstream in(std::string(P2PDIST_TEST_DATA) + "/sim_reference.json");
  REQUIRE(in);
  const auto ref = nlohmann::json::parse(in);
  int far_from_bound = 0;
  for (const auto& k : ref["cases"]) {
    swarm_config c;
    c.leechers = k["N"];
    c.mode = k["mode"] == "cs" ? swarm_mode::cs : swarm_mode::p2p;
    c.file_bytes = k["file_bytes"];
    c.piece_bytes = k["piece_bytes"];
    c.server_up_bytes_per_s = k["server_up"];
    c.peer_up_bytes_per_s = k["peer_up"].get<std::vector<double>>();
    if (!k["peer_down"].is_null()) c.peer_down_bytes_per_s = k["peer_down"].get<std::vector<double>>();
    c.time_scale = ref["time_scale"];
    std::vector<swarm_result> runs;
    const std::uint64_t seeds = ref["repeat"].get<std::uint64_t>();
    REQUIRE(seeds % 2 == 1);  // an odd count: the median is one of them
    for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
      c.rng_seed = seed;
      runs.push_back(run_simulation(c).swarm);
    }
    const auto& mid = runs[median_run(runs)];
    const double real = k["real_seconds"];
    const double bound = k["bound_seconds"];
    INFO(k["family"].get<std::string>() << " N=" << c.leechers << ": real " << real << " s, bound " << bound << " s");
    REQUIRE(mid.distribution_seconds);
    CHECK(*mid.distribution_seconds == Approx(real).epsilon(0.02));
    // Completion curves: sorted completion times, the element-wise median over the runs
    // (over the real engine's runs in the file, the simulator's seeds here).
    std::vector<double> sim;
    for (std::size_t i = 0; i < c.leechers; ++i) {
      std::vector<double> column;
      for (const auto& r : runs) column.push_back(sorted_completions(r)[i]);
      std::sort(column.begin(), column.end());
      sim.push_back(column[column.size() / 2]);
    }
    const auto real_curve = k["real_completions"].get<std::vector<double>>();
    REQUIRE(sim.size() == real_curve.size());
    for (std::size_t i = 0; i < sim.size(); ++i) CHECK(std::abs(sim[i] - real_curve[i]) <= 0.05 * real);
    if (std::abs(real / bound - 1) > 0.02) ++far_from_bound;
  }
  CHECK(far_from_bound >= 1);
}

TEST_CASE("what the simulator cannot run is refused before it starts, saying why", "[simulate]") {
  auto c = small_p2p();
  c.faults = {fault_spec{.kind = fault_kind::corrupt, .count = 1}};
  CHECK_THROWS_WITH(run_simulation(c), Catch::Contains("not simulated"));
  c = small_p2p();
  c.leechers = max_simulated_leechers + 1;
  CHECK_THROWS_WITH(run_simulation(c), Catch::Contains("at most 2000000 leechers"));
  // 2·10^6 peers holding 4·10^6 pieces each: far beyond any machine's memory.
  c.leechers = max_simulated_leechers;
  c.file_bytes = 64ull << 30;
  c.piece_bytes = 16 * 1024;
  c.peer_up_bytes_per_s = {1 * MB};
  CHECK_THROWS_WITH(run_simulation(c), Catch::Contains("needs about") && Catch::Contains("available"));
}

TEST_CASE("beyond max_timeline_leechers the timeline keeps the total only", "[simulate]") {
  auto c = small_p2p();
  c.leechers = max_timeline_leechers + 1;
  c.file_bytes = 16 * 1024;  // one piece: quick even for a thousand peers
  c.piece_bytes = 16 * 1024;
  c.server_up_bytes_per_s = 100 * MB;
  const auto r = run_simulation(c);
  REQUIRE(r.swarm.distribution_seconds);
  CHECK(r.swarm.timeline_bytes.empty());
  CHECK(r.swarm.timeline_total_bytes.back() == c.leechers * c.file_bytes);
  const auto doc = swarm_document(c, r.swarm);
  CHECK(doc["timeline"]["bytes_held"].empty());
  CHECK(doc["leechers"].size() == c.leechers);
}
