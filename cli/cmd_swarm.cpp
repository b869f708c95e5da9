// `p2pdist swarm`: runs a swarm on loopback (tracker, seeds, leechers in this process) and
// holds its distribution time against the bound.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/output.hpp"
#include "cli/swarm_common.hpp"
#include "loopback/harness/faults.hpp"
#include "loopback/harness/harness.hpp"
#include "loopback/harness/harness_json.hpp"
#include "loopback/protocol/metainfo.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

std::string fault_list(const std::vector<loopback::fault_spec>& faults) {
  std::string out;
  for (const auto& f : faults)
    out += (out.empty() ? "" : " ") + std::string(loopback::to_string(f.kind)) + ":" + std::to_string(f.count);
  return out;
}

// What the faults did and cost, below the swarm's table.
void print_faults(const loopback::swarm_result& r) {
  const auto& f = r.faults;
  std::printf("\nfaults              %s\n", fault_list(f.faults).c_str());
  std::printf("hash failures       %llu (%s wasted in all, duplicates included)\n",
              static_cast<unsigned long long>(f.hash_failures), mib(f.wasted_bytes).c_str());
  std::printf("bans                %llu\n", static_cast<unsigned long long>(f.bans));
  std::printf("snubs               %llu (request timeouts)\n", static_cast<unsigned long long>(f.snubs));
  std::printf("protocol drops      %llu\n", static_cast<unsigned long long>(f.protocol_drops));
  std::printf("handshake timeouts  %llu (and %llu idle tracker connections cut)\n",
              static_cast<unsigned long long>(f.handshake_timeouts), static_cast<unsigned long long>(f.tracker_timeouts));
  if (const auto lost = loopback::time_lost_seconds(r)) {
    std::printf("time lost           %.3f s (%.3f s without faults)\n", *lost, *f.baseline_seconds);
  } else if (f.baseline_seconds) {
    std::printf("time lost           - (this run did not finish)\n");
  } else {
    std::printf("time lost           - (no baseline run)\n");
  }
  if (!f.peers.empty()) {
    std::printf("%-16s %-10s %8s %9s %11s %10s %12s\n", "adversary", "kind", "conns", "requests", "sent",
                "cut by it", "cut by peer");
    for (const auto& p : f.peers)
      std::printf("%-16s %-10s %8llu %9llu %11s %10llu %12llu\n", p.address.c_str(),
                  std::string(loopback::to_string(p.kind)).c_str(), static_cast<unsigned long long>(p.connections),
                  static_cast<unsigned long long>(p.requests), mib(p.bytes_sent).c_str(),
                  static_cast<unsigned long long>(p.cut_by_us), static_cast<unsigned long long>(p.cut_by_peer));
  }
  for (const auto& ch : f.churn) {
    if (ch.restarts == 0) {
      std::printf("churn %-10s planned to leave at %.0f%% of the file; it completed first\n", ch.address.c_str(),
                  100 * ch.leave_at_fraction);
    } else {
      std::printf("churn %-10s left at %.2f s (its moment: %.0f%% of the file held), back at %.2f s keeping %u pieces\n",
                  ch.address.c_str(), ch.left_seconds.value_or(0), 100 * ch.leave_at_fraction,
                  ch.back_seconds.value_or(0), ch.pieces_kept);
    }
  }
}

/// Runs `c` without its faults, for the time they cost; prints its time unless the JSON
/// goes to stdout.
loopback::swarm_result run_baseline(const loopback::swarm_config& c, const progress_reporter& progress, bool to_stdout) {
  auto cfg = c;
  cfg.faults.clear();
  if (!to_stdout) std::printf("baseline run, without faults: ");
  std::fflush(stdout);
  auto baseline = loopback::run_swarm(cfg, progress.on_sample);
  if (progress.bar) std::fprintf(stderr, "\n");
  if (!to_stdout) {
    if (baseline.distribution_seconds) std::printf("%.3f s\n", *baseline.distribution_seconds);
    else std::printf("did not finish (%s)\n", baseline.failure.c_str());
  }
  return baseline;
}

/// Says on stderr why a run failed, if one did; the exit code: 1 if any failed, else 0.
int report_failures(const std::optional<loopback::swarm_result>& baseline,
                    const std::vector<loopback::swarm_result>& runs) {
  int status = 0;
  if (baseline && !baseline->failure.empty()) {
    std::cerr << "p2pdist: swarm: the baseline run without faults: " << baseline->failure << '\n';
    status = 1;
  }
  for (const auto& r : runs) {
    if (!r.failure.empty()) {
      std::cerr << "p2pdist: swarm: " << r.failure << '\n';
      status = 1;
    }
  }
  return status;
}

}  // namespace

int run_swarm(const swarm_options& o) {
  const loopback::swarm_config c = config_of(o, engine::loopback);
  const bool to_stdout = o.json_path == "-";
  const auto progress = progress_of(o);
  if (!to_stdout) print_header(o, c, engine::loopback);
  // Time lost to faults is measured against the same swarm without them, run first.
  std::optional<loopback::swarm_result> baseline;
  if (!c.faults.empty() && !o.no_baseline) baseline = run_baseline(c, progress, to_stdout);
  std::vector<loopback::swarm_result> runs;
  for (std::size_t k = 0; k < o.repeat; ++k) {
    auto cfg = c;
    cfg.rng_seed = c.rng_seed + 1000 * k;
    runs.push_back(loopback::run_swarm(cfg, progress.on_sample));
    if (baseline) runs.back().faults.baseline_seconds = baseline->distribution_seconds;
    if (progress.bar) std::fprintf(stderr, "\n");
    if (!to_stdout) {
      print_table(cfg, runs.back(), k, o.repeat);
      if (!cfg.faults.empty()) print_faults(runs.back());
    }
  }
  const std::size_t mid = loopback::median_run(runs);
  if (!to_stdout && o.repeat > 1) {
    std::printf("\nmedian of %zu runs: run %zu\n", o.repeat, mid + 1);
  }
  if (!o.json_path.empty()) {
    write_json(o.json_path, o.repeat == 1 ? loopback::swarm_document(c, runs.front()) : loopback::repeat_document(c, runs));
  }
  return report_failures(baseline, runs);
}

command add_swarm_command(CLI::App& parent) {
  auto in = std::make_shared<swarm_input>();
  auto* app = parent.add_subcommand("swarm", "run a swarm on loopback and hold its time against the bound");
  in->add_options(*app, engine::loopback);
  return {app, [in, app] { return run_swarm(in->parsed(app->count("--file") > 0)); }};
}

}  // namespace p2pdist::cli
