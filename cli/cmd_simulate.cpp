// `p2pdist simulate`: the swarm of `swarm`, in simulated time (loopback/harness/simulate.hpp):
// the same options, the same JSON document, with the simulation's own figures.

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/swarm_common.hpp"
#include "loopback/harness/harness_json.hpp"
#include "loopback/harness/simulate.hpp"

namespace p2pdist::cli {

namespace {

// The JSON of K simulated runs (swarms[k] and stats[k] from run k): the swarm document (of
// the median run for K > 1) with the simulation's figures merged in, and each run's beside
// its figures under "runs".
nlohmann::json simulate_document(const loopback::swarm_config& c, const std::vector<loopback::swarm_result>& swarms,
                                 const std::vector<loopback::simulation_stats>& stats) {
  if (swarms.size() == 1) {
    auto j = loopback::swarm_document(c, swarms.front());
    j.update(loopback::simulation_fields(stats.front()));
    return j;
  }
  auto j = loopback::repeat_document(c, swarms);
  j.update(loopback::simulation_fields(stats[loopback::median_run(swarms)]));
  for (std::size_t k = 0; k < swarms.size(); ++k) {
    auto fields = loopback::simulation_fields(stats[k]);
    fields.erase("engine");
    fields.erase("content");
    j["runs"][k].update(fields);
    j["runs"][k]["seed"] = c.rng_seed + k;
  }
  return j;
}

}  // namespace

int run_simulate(const swarm_options& o) {
  const loopback::swarm_config c = config_of(o, engine::simulated);
  const bool to_stdout = o.json_path == "-";
  const auto progress = progress_of(o);
  if (!to_stdout) print_header(o, c, engine::simulated);
  loopback::simulation_options options;
  // The simulator's links: a mean one-way delay and a spread around it, the --rtt range's.
  const double mean_rtt = (o.rtt_min_seconds + o.rtt_max_seconds) / 2;
  options.latency = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(mean_rtt / 2));
  options.latency_jitter = mean_rtt > 0 ? (o.rtt_max_seconds - o.rtt_min_seconds) / (2 * mean_rtt) : 0;
  std::vector<loopback::swarm_result> swarms;
  std::vector<loopback::simulation_stats> stats;
  int status = 0;
  for (std::size_t k = 0; k < o.repeat; ++k) {
    auto cfg = c;
    cfg.rng_seed = c.rng_seed + k;  // run k of --seed S is exactly `--seed S+k`
    auto run = loopback::run_simulation(cfg, options, progress.on_sample);
    swarms.push_back(std::move(run.swarm));
    stats.push_back(std::move(run.stats));
    if (progress.bar) std::fprintf(stderr, "\n");
    if (!to_stdout) print_table(cfg, swarms.back(), k, o.repeat, &stats.back());
    if (!swarms.back().failure.empty()) {
      std::cerr << "p2pdist: simulate: " << swarms.back().failure << '\n';
      status = 1;
    }
  }
  if (!to_stdout && o.repeat > 1)
    std::printf("\nmedian of %zu runs: run %zu\n", o.repeat, loopback::median_run(swarms) + 1);
  if (!o.json_path.empty()) write_json(o.json_path, simulate_document(c, swarms, stats));
  return status;
}

command add_simulate_command(CLI::App& parent) {
  auto in = std::make_shared<swarm_input>();
  auto* app = parent.add_subcommand(
      "simulate", "run the swarm of `swarm` in simulated time: the engine's own sessions on a discrete-event clock");
  in->add_options(*app, engine::simulated);
  return {app, [in, app] { return run_simulate(in->parsed(app->count("--file") > 0)); }};
}

}  // namespace p2pdist::cli
