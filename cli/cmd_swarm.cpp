// `p2pdist swarm`: runs a swarm on loopback (tracker, seeds, leechers in this process) and
// holds its distribution time against the bound.

#include <cmath>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "loopback/harness.hpp"
#include "loopback/harness_json.hpp"
#include "model/units.hpp"

namespace p2pdist::cli {

namespace {

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Bytes per second with an SI prefix, as the flags take them: "4 MB/s", "500 kB/s".
std::string rate_text(double bytes_per_s) {
  if (bytes_per_s == 0) return "unlimited";
  std::string bits = model::format_bps(8 * bytes_per_s);  // "32 Mbps": reuse its prefix logic
  char buf[48];
  const double v = bytes_per_s >= 1e9 ? bytes_per_s / 1e9 : bytes_per_s >= 1e6 ? bytes_per_s / 1e6
                 : bytes_per_s >= 1e3 ? bytes_per_s / 1e3 : bytes_per_s;
  const char* unit = bytes_per_s >= 1e9 ? "GB/s" : bytes_per_s >= 1e6 ? "MB/s" : bytes_per_s >= 1e3 ? "kB/s" : "B/s";
  std::snprintf(buf, sizeof buf, "%.3g %s (%s)", v, unit, bits.c_str());
  return buf;
}

std::string rates_text(const std::vector<double>& v) {
  if (v.size() == 1) return rate_text(v.front());
  return std::to_string(v.size()) + " rates";
}

std::vector<double> bytes_per_s(const std::vector<double>& bps) {
  std::vector<double> out;
  for (double r : bps) out.push_back(std::isinf(r) ? 0.0 : r / 8.0);
  return out;
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

// A one-line progress bar on stderr, redrawn in place (only on a terminal).
void draw_progress(const loopback::swarm_progress& p) {
  const double frac = p.bytes_total ? static_cast<double>(p.bytes_held) / static_cast<double>(p.bytes_total) : 0.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r  [%s] %3.0f%%  %zu/%zu leechers done  %6.1f s ", bar.c_str(), frac * 100,
               p.leechers_complete, p.leechers, p.elapsed_seconds);
  std::fflush(stderr);
}

void print_table(const loopback::swarm_config& c, const loopback::swarm_result& r, std::size_t run,
                 std::size_t runs) {
  const auto bound = loopback::swarm_bound(c, r.file_bytes);
  if (runs > 1) std::printf("\nrun %zu of %zu\n", run + 1, runs);
  std::printf("%-16s %-14s %-14s %s\n", "leecher", "completion", "uploaded", "downloaded");
  for (const auto& l : r.leechers) {
    char done[32] = "-";
    if (l.completion_seconds) std::snprintf(done, sizeof done, "%.2f s", *l.completion_seconds);
    std::printf("%-16s %-14s %-14s %s%s\n", l.address.c_str(), done, mib(l.bytes_up).c_str(),
                mib(l.bytes_down).c_str(), l.completion_seconds && !l.data_matches ? "  DATA DIFFERS" : "");
  }
  std::printf("%-16s %-14s %s\n", "seed(s)", "", mib(r.seed_bytes_up).c_str());
  if (r.distribution_seconds) {
    std::printf("distribution time   %.3f s\n", *r.distribution_seconds);
  } else {
    std::printf("distribution time   - (not every leecher finished)\n");
  }
  if (bound) {
    std::printf("bound               %.3f s (%s)\n", bound->seconds, std::string(model::to_string(bound->binding)).c_str());
    if (r.distribution_seconds) std::printf("measured / bound    %.3f\n", *r.distribution_seconds / bound->seconds);
  } else {
    std::printf("bound               - (the server's upload is unlimited)\n");
  }
}

}  // namespace

int run_swarm(const swarm_options& o) {
  loopback::swarm_config c;
  c.leechers = o.leechers;
  c.seeds = o.seeds;
  if (!o.file.empty()) {
    c.file = o.file;
  } else {
    const double bytes = o.file_bits / 8;
    if (bytes < 1 || bytes != std::floor(bytes)) throw usage_error("--file-size: must be a whole number of bytes, at least 1");
    c.file_bytes = static_cast<std::uint64_t>(bytes);
  }
  c.data_seed = o.data_seed;
  c.piece_bytes = o.piece_bytes;
  c.server_up_bytes_per_s = std::isinf(o.server_up_bps) ? 0 : o.server_up_bps / 8;
  c.peer_up_bytes_per_s = bytes_per_s(o.peer_up_bps);
  c.peer_down_bytes_per_s = bytes_per_s(o.peer_down_bps);
  if (o.mode == "p2p") c.mode = loopback::swarm_mode::p2p;
  else if (o.mode == "cs") c.mode = loopback::swarm_mode::cs;
  else throw usage_error("--mode: '" + o.mode + "' is not a mode (use p2p or cs)");
  if (o.after_complete == "stay") c.after = loopback::after_complete::stay;
  else if (o.after_complete == "leave") c.after = loopback::after_complete::leave;
  else throw usage_error("--after-complete: '" + o.after_complete + "' (use stay or leave)");
  if (o.seed_policy == "once-first") c.seed_policy = bt::initial_seeding::each_piece_once_first;
  else if (o.seed_policy == "standard") c.seed_policy = bt::initial_seeding::standard;
  else throw usage_error("--seed-policy: '" + o.seed_policy + "' (use once-first or standard)");
  if (o.slots < 0) throw usage_error("--slots: must be zero or more");
  if (!(o.rechoke_seconds > 0)) throw usage_error("--rechoke: must be above zero");
  if (!(o.optimistic_seconds > 0)) throw usage_error("--optimistic: must be above zero");
  if (!(o.timeout_seconds > 0)) throw usage_error("--timeout: must be above zero");
  if (o.repeat < 1) throw usage_error("--repeat: must be at least 1");
  c.choker.regular_slots = o.slots;
  c.choker.rechoke_interval = std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.rechoke_seconds));
  c.choker.optimistic_interval =
      std::chrono::duration_cast<bt::duration>(std::chrono::duration<double>(o.optimistic_seconds));
  c.time_scale = o.time_scale;
  c.timeout = millis(o.timeout_seconds);
  try {
    loopback::validate(c);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }

  const bool to_stdout = o.json_path == "-";
  const bool progress = stderr_is_terminal();
  if (!to_stdout) {
    std::printf("swarm: %s, %zu leecher%s, %zu seed%s, F = %s, u_s = %s, u_i = %s, d_i = %s\n", o.mode.c_str(),
                c.leechers, c.leechers == 1 ? "" : "s", c.seeds, c.seeds == 1 ? "" : "s",
                c.file ? c.file->c_str() : mib(c.file_bytes).c_str(), rate_text(c.server_up_bytes_per_s).c_str(),
                rates_text(c.peer_up_bytes_per_s).c_str(), rates_text(c.peer_down_bytes_per_s).c_str());
    std::fflush(stdout);
  }
  std::vector<loopback::swarm_result> runs;
  for (std::size_t k = 0; k < o.repeat; ++k) {
    auto cfg = c;
    cfg.rng_seed = c.rng_seed + 1000 * k;
    runs.push_back(loopback::run_swarm(cfg, progress ? draw_progress : std::function<void(const loopback::swarm_progress&)>{}));
    if (progress) std::fprintf(stderr, "\n");
    if (!to_stdout) print_table(cfg, runs.back(), k, o.repeat);
  }
  const std::size_t mid = loopback::median_run(runs);
  if (!to_stdout && o.repeat > 1) {
    std::printf("\nmedian of %zu runs: run %zu\n", o.repeat, mid + 1);
  }
  if (!o.json_path.empty()) {
    write_json(o.json_path, o.repeat == 1 ? loopback::swarm_document(c, runs.front()) : loopback::repeat_document(c, runs));
  }
  int status = 0;
  for (const auto& r : runs) {
    if (!r.failure.empty()) {
      std::cerr << "p2pdist: swarm: " << r.failure << '\n';
      status = 1;
    }
  }
  return status;
}

}  // namespace p2pdist::cli
